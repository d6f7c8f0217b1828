#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Cross-checks the token ids of tests/data/hf-tiny/*/cases.json, which transformers 4.30's slow (Python)
// tokenizers produced, against Hugging Face `tokenizers` 0.22 (the Rust library behind the fast tokenizers,
// through its Node binding), with each folder's own vocabulary files:
//   electra-discriminator, electra-generator, distilbert: BertNormalizer (lower-casing, accents stripped, CJK
//     split), BertPreTokenizer, WordPiece over vocab.txt, [CLS] A [SEP] (B [SEP]) with token types 0 / 1;
//   roberta: tests/data/tokenizers/roberta-tiny/tokenizer.json, whose vocabulary must equal roberta/vocab.json.
// ALBERT is not checked here: transformers' AlbertTokenizer runs the SentencePiece library itself.
// Writes nothing; exits non-zero on the first difference.
//
// Usage: NODE_PATH=/tmp/hfjs/node_modules node tests/data/hf-tiny/check_tokenizers.js
//   (after `npm install @anush008/tokenizers@0.6.0` in /tmp/hfjs, as for tests/data/tokenizers/*.js)
'use strict';
const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');

const here = __dirname;
const read = (...p) => JSON.parse(fs.readFileSync(path.join(here, ...p), 'utf8'));

async function wordPiece(dir) {
  const vocabFile = path.join(here, dir, 'vocab.txt');
  const vocab = fs.readFileSync(vocabFile, 'utf8').split('\n').filter((l) => l.length > 0);
  const id = (t) => vocab.indexOf(t);
  const t = new tk.Tokenizer(await tk.WordPiece.fromFile(vocabFile, {unkToken: '[UNK]', maxInputCharsPerWord: 100}));
  t.addSpecialTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  t.setNormalizer(tk.bertNormalizer({cleanText: true, handleChineseChars: true, lowercase: true}));
  t.setPreTokenizer(tk.bertPreTokenizer());
  t.setPostProcessor(tk.bertProcessing(['[SEP]', id('[SEP]')], ['[CLS]', id('[CLS]')]));
  return t;
}

function roberta() {
  const file = path.join(here, '..', 'tokenizers', 'roberta-tiny', 'tokenizer.json');
  const t = tk.Tokenizer.fromFile(file);
  const vocab = read('roberta', 'vocab.json');
  const ours = t.getVocab(true);
  if (Object.keys(vocab).length !== Object.keys(ours).length ||
      Object.entries(vocab).some(([k, v]) => ours[k] !== v)) {
    throw new Error('roberta/vocab.json differs from tokenizers/roberta-tiny/tokenizer.json\'s vocabulary');
  }
  return t;
}

async function check(dir, t) {
  const cases = read(dir, 'cases.json');
  for (let i = 0; i < cases.cases.length; i++) {
    const c = cases.cases[i];
    const e = await t.encode(c.text_a, c.text_b, {addSpecialTokens: true});
    const n = cases.lengths[i];
    const want = {ids: cases.input_ids[i].slice(0, n)};
    const got = {ids: e.getIds()};
    if (cases.token_type_ids) {
      want.types = cases.token_type_ids[i].slice(0, n);
      got.types = e.getTypeIds();
    }
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`${dir} case ${i}: tokenizers ${JSON.stringify(got)} vs transformers ${JSON.stringify(want)}`);
    }
  }
  console.log(`${dir}: tokenizers 0.22 and transformers' slow tokenizer agree on all ${cases.cases.length} cases`);
}

(async () => {
  for (const dir of ['electra-discriminator', 'electra-generator', 'distilbert']) await check(dir, await wordPiece(dir));
  await check('roberta', roberta());
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
