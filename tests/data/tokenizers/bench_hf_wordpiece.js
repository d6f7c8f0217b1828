#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Prints Hugging Face tokenizers' single-threaded WordPiece throughput (bert-base-uncased, uncased) on the
// texts of wordpiece_fixtures.jsonl, to compare with the plugin's figure printed by
// `build/tests/plugins_test_wordpiece --gtest_filter='*Throughput*'` on the same texts.
//
//   RAYON_NUM_THREADS=1 NODE_PATH=/tmp/hfjs/node_modules node tests/data/tokenizers/bench_hf_wordpiece.js [seconds]
//
// encodeBatch runs the Rust library on a whole batch per call, so the Node binding's per-call cost is
// amortised; RAYON_NUM_THREADS=1 keeps that batch on one thread. What is timed includes building Hugging
// Face's Encoding objects (with character offsets), which the plugin's figure counterparts with its pieces.
'use strict';
const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');

(async () => {
  const seconds = Number(process.argv[2] || 3);
  if (process.env.RAYON_NUM_THREADS !== '1') console.warn('warning: RAYON_NUM_THREADS is not 1: timing is multi-threaded');
  const here = __dirname;
  const lines = fs.readFileSync(path.join(here, 'wordpiece_fixtures.jsonl'), 'utf8').split('\n').filter((l) => l);
  const texts = lines.slice(1).map((l) => JSON.parse(l).text);
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0);
  const model = await tk.WordPiece.fromFile(path.join(here, 'bert-base-uncased-vocab.txt'),
      {unkToken: '[UNK]', maxInputCharsPerWord: 100});
  const t = new tk.Tokenizer(model);
  t.addSpecialTokens(['[UNK]', '[SEP]', '[CLS]', '[PAD]', '[MASK]']);
  t.setNormalizer(tk.bertNormalizer({lowercase: true}));
  t.setPreTokenizer(tk.bertPreTokenizer());
  // Warm up, and count the tokens of one pass outside the timed loop.
  const perPass = (await t.encodeBatch(texts, {addSpecialTokens: false})).reduce((n, e) => n + e.getLength(), 0);
  let passes = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < seconds) {
    await t.encodeBatch(texts, {addSpecialTokens: false});
    passes++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  const tokens = perPass * passes;
  console.log(`HF tokenizers (uncased, 1 thread): ${texts.length} texts x ${passes} passes: ` +
      `${(tokens / elapsed / 1e6).toFixed(2)} M tokens/s, ${(bytes * passes / elapsed / 1e6).toFixed(1)} MB/s`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
