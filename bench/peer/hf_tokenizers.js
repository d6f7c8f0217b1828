#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// The tokenizer peer: Hugging Face `tokenizers` (the Rust library, through its Node binding @anush008/tokenizers
// 0.6.0, tokenizers 0.22) encoding the same texts as `micro_bench tokenize`, on one thread. scripts/bench_tokenizers.py
// runs both in one run and prints the ratio; this file prints one JSON line:
//   {"side": "hf", "tokenizer", "texts", "bytes", "passes", "tokens_per_pass", "seconds", "tokens_per_s", "mb_per_s"}
//
//   RAYON_NUM_THREADS=1 NODE_PATH=/tmp/hfjs/node_modules node bench/peer/hf_tokenizers.js KIND TEXTS.jsonl SECONDS MODEL
//     KIND wordpiece  MODEL a vocab.txt: BertWordPieceTokenizer's pipeline (BERT normalizer with lower-casing and
//                     accent stripping, BERT pre-tokenizer, WordPiece with [UNK], 100 characters a word at most)
//     KIND bpe        MODEL a vocab.json with merges.txt beside it (GPT-2's): byte-level pre-tokenizer without a prefix
//                     space (GPT-2's regular expression), BPE over the vocabulary and merges
//     KIND unigram    MODEL a SentencePiece model (ALBERT's 30k-clean.model): transformers' AlbertConverter pipeline
//                     (`` and '' to ", NFKD and accent stripping, lower-casing, the model's own precompiled
//                     normalizer, Metaspace with a prefix space, Unigram over the model's pieces and scores); its
//                     last step, collapsing runs of spaces, is a regular expression the binding cannot take
// Install once: mkdir -p /tmp/hfjs && (cd /tmp/hfjs && npm install @anush008/tokenizers@0.6.0)
//
// encodeBatch runs the whole list of texts in one call, so the binding's per-call cost is amortised;
// RAYON_NUM_THREADS=1 keeps it on one thread. The timed work includes building the Encoding objects (ids, tokens,
// character offsets), as micro_bench's includes building its pieces (id, token, offsets).
'use strict';
const fs = require('fs');
const tk = require('@anush008/tokenizers');

// The pieces (string, score) and the precompiled normalizer of a SentencePiece ModelProto, read from its protobuf
// wire format: ModelProto.pieces = field 1 (SentencePiece: piece = 1, score = 2 float), normalizer_spec = field 3
// (precompiled_charsmap = field 2).
function readSentencePiece(file) {
  const buf = fs.readFileSync(file);
  function varint(b, at) {
    let v = 0, shift = 0, byte;
    do {
      byte = b[at.i++];
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return v;
  }
  function fields(b, each) {
    const at = {i: 0};
    while (at.i < b.length) {
      const key = varint(b, at), field = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) each(field, wire, varint(b, at));
      else if (wire === 1) { each(field, wire, b.subarray(at.i, at.i + 8)); at.i += 8; }
      else if (wire === 5) { each(field, wire, b.subarray(at.i, at.i + 4)); at.i += 4; }
      else if (wire === 2) { const n = varint(b, at); each(field, wire, b.subarray(at.i, at.i + n)); at.i += n; }
      else throw new Error(`${file}: unexpected protobuf wire type ${wire}`);
    }
  }
  const pieces = [];
  let charsmap = null;
  fields(buf, (field, wire, value) => {
    if (field === 1 && wire === 2) {
      let piece = '', score = 0;
      fields(value, (f, w, v) => {
        if (f === 1 && w === 2) piece = Buffer.from(v).toString('utf8');
        if (f === 2 && w === 5) score = Buffer.from(v).readFloatLE(0);
      });
      pieces.push([piece, score]);
    } else if (field === 3 && wire === 2) {
      fields(value, (f, w, v) => { if (f === 2 && w === 2) charsmap = Array.from(v); });
    }
  });
  return {pieces, charsmap};
}

async function build(kind, model) {
  if (kind === 'wordpiece') {
    const t = new tk.Tokenizer(await tk.WordPiece.fromFile(model, {unkToken: '[UNK]', maxInputCharsPerWord: 100}));
    t.addSpecialTokens(['[UNK]', '[SEP]', '[CLS]', '[PAD]', '[MASK]']);
    t.setNormalizer(tk.bertNormalizer({lowercase: true}));
    t.setPreTokenizer(tk.bertPreTokenizer());
    return t;
  }
  if (kind === 'bpe') {
    const merges = require('path').join(require('path').dirname(model), 'merges.txt');
    const t = new tk.Tokenizer(await tk.BPE.fromFile(model, merges, {}));
    t.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
    return t;
  }
  if (kind === 'unigram') {
    const sp = readSentencePiece(model);
    const unkId = sp.pieces.findIndex(([p]) => p === '<unk>');
    const t = new tk.Tokenizer(tk.Unigram.init(sp.pieces, {unkId: unkId < 0 ? 0 : unkId}));
    const steps = [tk.replace('``', '"'), tk.replace("''", '"'), tk.nfkdNormalizer(), tk.stripAccentsNormalizer(),
                   tk.lowercase()];
    if (sp.charsmap) steps.push(tk.precompiled(sp.charsmap));
    t.setNormalizer(tk.sequenceNormalizer(steps));
    t.setPreTokenizer(tk.metaspacePreTokenizer('\u2581', 'always', true));
    return t;
  }
  throw new Error(`unknown tokenizer kind '${kind}': expected wordpiece, bpe or unigram`);
}

(async () => {
  const [kind, textsFile, secondsArg, model] = process.argv.slice(2);
  if (!model) throw new Error('usage: hf_tokenizers.js wordpiece|bpe|unigram TEXTS.jsonl SECONDS MODEL');
  if (process.env.RAYON_NUM_THREADS !== '1') console.warn('warning: RAYON_NUM_THREADS is not 1: timing is multi-threaded');
  const texts = fs.readFileSync(textsFile, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l).text);
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0);
  const t = await build(kind, model);
  // One pass outside the timed loop: warm-up, and the tokens of a pass.
  const perPass = (await t.encodeBatch(texts, {addSpecialTokens: false})).reduce((n, e) => n + e.getLength(), 0);
  const seconds = Number(secondsArg);
  let passes = 0, elapsed = 0;
  const start = process.hrtime.bigint();
  while (elapsed < seconds || passes < 2) {
    await t.encodeBatch(texts, {addSpecialTokens: false});
    passes++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  console.log(JSON.stringify({side: 'hf', tokenizer: kind, texts: texts.length, bytes, passes,
                              tokens_per_pass: perPass, seconds: elapsed,
                              tokens_per_s: perPass * passes / elapsed, mb_per_s: bytes * passes / elapsed / 1e6}));
})().catch((e) => {
  console.error(`hf_tokenizers.js: ${e.message || e}`);
  process.exit(1);
});
