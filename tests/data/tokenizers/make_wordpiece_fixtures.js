#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Writes the Hugging Face parity fixtures of the wordpiece tokenizer plugin (tests/plugins/test_wordpiece.cpp):
//
//   wordpiece_fixtures.jsonl    varied texts and what Hugging Face `tokenizers` (the Rust library, through its
//                               Node binding) makes of them with bert-base-uncased-vocab.txt, in 4 variants
//   wordpiece_codepoints.tsv    every Unicode code point c, as "a" + c + "b", tokenized in 5 variants with a
//                               vocabulary of every single character: the exhaustive check of cleaning,
//                               whitespace, punctuation, CJK, accent stripping and lower-casing tables
//   wordpiece_hf_trained_vocab.txt  the vocabulary tokenizers' WordPieceTrainer (its defaults: vocab_size
//                               30000, min_frequency 0, no alphabet limit, no special tokens) learns from
//   ../corpora/web_bible_excerpt.txt  the first ~150 kB of the World English Bible (whole lines), also written
//
// Usage (needs Node >= 18 and the npm package @anush008/tokenizers, Node binding of tokenizers 0.22):
//   mkdir -p /tmp/hfjs && (cd /tmp/hfjs && npm install @anush008/tokenizers@0.6.0)
//   NODE_PATH=/tmp/hfjs/node_modules node tests/data/tokenizers/make_wordpiece_fixtures.js DATA_DIR
// DATA_DIR (required: the public data folder holding corpora/ and classification/) provides the corpora and e-mails the
// sample is drawn from; the selection is deterministic, so a rerun reproduces the files byte for byte.
'use strict';
const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');

const here = __dirname;
const repo = path.resolve(here, '..', '..', '..');
if (!process.argv[2]) {
  console.error('usage: make_wordpiece_fixtures.js DATA_DIR (the folder holding corpora/ and classification/)');
  process.exit(1);
}
const shared = path.resolve(process.argv[2]);
const vocabPath = path.join(here, 'bert-base-uncased-vocab.txt');
const specials = ['[UNK]', '[SEP]', '[CLS]', '[PAD]', '[MASK]'];

// The four tokenizer variants of the text fixtures: option names as in the plugin's YAML.
const VARIANTS = {
  uncased: {lowercase: true},
  cased: {lowercase: false},
  uncased_keep_accents: {lowercase: true, strip_accents: false},
  cased_strip_no_cjk: {lowercase: false, strip_accents: true, tokenize_chinese_chars: false},
};
// To keep the file small, a variant leaves out the arrays that equal those of its reference variant.
const REFERENCE = {cased: 'uncased', uncased_keep_accents: 'uncased', cased_strip_no_cjk: 'cased'};

function normalizer(v) {
  const o = {cleanText: true, lowercase: v.lowercase, handleChineseChars: v.tokenize_chinese_chars !== false};
  if (v.strip_accents !== undefined) o.stripAccents = v.strip_accents;  // absent: follows lowercase
  return tk.bertNormalizer(o);
}

// Like Hugging Face's BertWordPieceTokenizer: special tokens present in the vocabulary are added tokens.
function build(model, v, vocabHas) {
  const t = new tk.Tokenizer(model);
  t.addSpecialTokens(specials.filter(vocabHas));
  t.setNormalizer(normalizer(v));
  t.setPreTokenizer(tk.bertPreTokenizer());
  t.setDecoder(tk.wordPieceDecoder('##'));
  return t;
}

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

function sampleTexts() {
  const texts = [];
  const rand = rng(20240611);
  for (const name of ['moby_dick', 'jane_austen', 'web_bible', 'sotu']) {
    const lines = fs.readFileSync(path.join(shared, 'corpora', name + '.txt'), 'utf8').split('\n');
    const nonEmpty = lines.filter((l) => l.trim().length > 0);
    for (let i = 0; i < 150; i++) {
      const l = nonEmpty[Math.floor(rand() * nonEmpty.length)];
      texts.push(window(l, 80 + Math.floor(rand() * 400), rand));
    }
  }
  const mails = fs.readFileSync(path.join(shared, 'classification', 'spamassassin.jsonl'), 'utf8')
      .split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l).text);
  for (let i = 0; i < 450; i++) {
    const lines = mails[Math.floor(rand() * mails.length)].split('\n');
    const at = Math.floor(rand() * lines.length);
    const n = 1 + Math.floor(rand() * 5);
    texts.push(window(lines.slice(at, at + n).join('\n'), 600, rand));
  }
  for (let i = 0; i < 10; i++) texts.push(mails[Math.floor(rand() * mails.length)].slice(0, 3000));
  return texts;
}

const HARD_CASES = [
  '', ' ', '\t\n\r ', '\u3000\u00a0\u2009\u202f', 'a\u000bb\u000cc\u0085d\u2028e\u2029f',
  'Café, déjà vu, naïve résumé; Ångström Øresund Łódź Straße İstanbul ΟΔΟΣ ΣΊΣΥΦΟΣ',
  'e\u0301 a\u0300\u0316 x\u0316\u0301 o\u0308\u0304 \u0301lone mark',
  'Z̷̢͉a̸̛l̶g̴o̵ t̸e̴x̷t̶ ǘ ǚ ṩ ḉ ệ', 'a\u0301\u{1D16D}b x\u{1D16D}\u0301y \u0915\u093C\u094D',
  '北京欢迎你 東京 中文English混合 ㄅㄆ 日本語のテキスト カタカナ ｶﾀｶﾅ', '𠀀𪜀 \u{2B820}\u{2B91F}\u{2B920} 豈 \uFA0E \u{2F800}',
  '한국어 텍스트 안녕하세요 \u1100\u1161\u11A8 ㄱㄴㄷ', 'a\u0000b \u0001\u0002 text \u007f', 'a\uFFFDb\uFFFD',
  '\u200Bzero\u200Cwidth\u200Djoiner\u2060word \uFEFFbom co\u00ADoperate', 'I ❤️ NY 👍🏽 👨‍👩‍👧‍👦 🇺🇸 😀😃 ☃ ✓',
  'مرحبا بالعالم، كيف حالك؟ مُحَمَّد', 'नमस्ते दुनिया हिन्दी क्‍ष', 'สวัสดีครับ ภาษาไทย', 'שָׁלוֹם עולם',
  'Ἀθῆναι ᾅδης ΆΈΉ', 'Привет, мир! ЁЖИК ёжик', 'Tiếng Việt có dấu', 'Ελληνικά ΟΔΥΣΣΕΥΣ',
  'a'.repeat(100), 'a'.repeat(101), 'supercalifragilistic'.repeat(6), 'é'.repeat(100), 'e\u0301'.repeat(60),
  'İ'.repeat(60), 'Ⅻ ⅻ ① ＡＢＣ１２３！ ﬁ ﬂ ẞ ß \u2126 \u212A \u212B',
  'Hello,world!!! ...--- (a)[b]{c} «quotes» „German“ ¿Qué? ¡Hola! 1,000.50 $5 50% a/b\\c @user #tag ~tilde^ `tick`',
  '[CLS] hello [SEP] world [MASK] [PAD] [UNK] [cls] [Sep]', 'x[SEP]y[MASK][MASK]z [SEP', '3.14159 2,718 1e-10 0x1F',
  '∑∫√∞ ≠ ≤ ± €£¥₹ § ¶ † ‡ • … ‰ ′ ″', '\u2E43\u166D\u{111C9}\u1734\u061D\u0890\u{11938}',
  '<html><body><a href="http://example.com/path?q=1&x=2">link</a></body></html>',
  'John Doe <john.doe+spam@example.co.uk> wrote: http://www.example.com/~user/index.html#frag',
  'line1\r\nline2\ttab\tseparated', '!!!???...', '\'\'quoted\'\' "double" don\'t it\'s', '   leading and trailing   ',
  'ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ', 'Ǆ ǅ ǆ ǈ Ǌ', 'ⓐⓑⓒ ⒜ ㏂', 'ℌ ℑ ℜ 𝔄 𝔅 𝐀𝐁𝐂', '\u0345\u0399', 'ﷺ ﷻ',
];

function byteOffsets(text) {
  // HF's Node binding reports offsets in characters (Unicode scalar values); the plugin uses bytes.
  const starts = [0];
  for (const ch of text) starts.push(starts[starts.length - 1] + Buffer.byteLength(ch, 'utf8'));
  return starts;
}

async function textFixtures(vocabTokens) {
  // Lone surrogates (a few e-mails have them) cannot cross into Rust or C++ as they are.
  const texts = [...HARD_CASES, ...sampleTexts()].map((t) => t.toWellFormed());
  const vocabHas = (t) => vocabTokens.has(t);
  const tokenizers = {};
  for (const [name, v] of Object.entries(VARIANTS)) {
    const model = await tk.WordPiece.fromFile(vocabPath, {unkToken: '[UNK]', maxInputCharsPerWord: 100});
    tokenizers[name] = build(model, v, vocabHas);
  }
  const lines = [JSON.stringify({
    about: 'Hugging Face tokenizers 0.22 (Node binding @anush008/tokenizers 0.6.0) BertNormalizer + ' +
        'BertPreTokenizer + WordPiece on bert-base-uncased-vocab.txt; offsets are UTF-8 byte spans',
    variants: VARIANTS, reference: REFERENCE, cases: texts.length,
    encoding: 'per variant: ids; offsets as deltas (begin of the first token minus 0, its length, next begin ' +
        'minus previous end, ...); words as deltas; an array left out equals that of the reference variant; ' +
        'decoded: decode(ids) with special tokens skipped'})];
  let tokens = 0;
  for (const text of texts) {
    const starts = byteOffsets(text);
    const rec = {text};
    const full = {};
    for (const [name, t] of Object.entries(tokenizers)) {
      const e = await t.encode(text, null, {addSpecialTokens: false});
      const ids = e.getIds();
      tokens += ids.length;
      // offsets as deltas: begin of the first token, then its length, the gap to the next begin, ...
      const offsets = [];
      let last = 0;
      for (const [b, en] of e.getOffsets()) {
        offsets.push(starts[b] - last, starts[en] - starts[b]);
        last = starts[en];
      }
      const words = e.getWordIds().map((w, i, all) => (i === 0 ? w : w - all[i - 1]));
      full[name] = {ids, offsets, words};
      const out = {};
      const ref = full[REFERENCE[name]];
      for (const key of ['ids', 'offsets', 'words']) {
        if (!ref || JSON.stringify(ref[key]) !== JSON.stringify(full[name][key])) out[key] = full[name][key];
      }
      if (name === 'uncased' || name === 'cased') out.decoded = await t.decode(ids, true);
      rec[name] = out;
    }
    lines.push(JSON.stringify(rec));
  }
  fs.writeFileSync(path.join(here, 'wordpiece_fixtures.jsonl'), lines.join('\n') + '\n');
  console.log(`wordpiece_fixtures.jsonl: ${texts.length} texts, ${tokens} tokens over all variants`);
}

// ---- the code point sweep
const SWEEP_VARIANTS = {
  plain: {lowercase: false, strip_accents: false, tokenize_chinese_chars: false},
  lowercase: {lowercase: true, strip_accents: false, tokenize_chinese_chars: false},
  strip_accents: {lowercase: false, strip_accents: true, tokenize_chinese_chars: false},
  chinese: {lowercase: false, strip_accents: false, tokenize_chinese_chars: true},
  uncased: {lowercase: true},
};

function isSurrogate(cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

// The sweep vocabulary: [UNK], then every code point that can be a vocabulary line, alone and with "##".
function sweepVocab() {
  const vocab = {'[UNK]': 0};
  let id = 1;
  for (let cp = 0; cp <= 0x10FFFF; cp++) {
    if (isSurrogate(cp) || sweepExcluded(cp)) continue;
    const c = String.fromCodePoint(cp);
    vocab[c] = id++;
    vocab['##' + c] = id++;
  }
  return vocab;
}
// Characters a vocab.txt line cannot end with (line breaks and what tokenizers trims) and NUL, which the Node
// binding refuses in a vocabulary: none of them is ever part of a word.
function sweepExcluded(cp) {
  return cp === 0 || (cp >= 0x9 && cp <= 0xD) || cp === 0x20 || cp === 0x85 || cp === 0xA0 || cp === 0x1680 ||
      (cp >= 0x2000 && cp <= 0x200A) || cp === 0x2028 || cp === 0x2029 || cp === 0x202F || cp === 0x205F ||
      cp === 0x3000;
}

// The tokens of "a" + c + "b" in one variant: a list of words, each a list of tokens, each "[UNK]" or a list
// of code points.
function structure(enc) {
  const toks = enc.getTokens();
  const words = enc.getWordIds();
  const out = [];
  for (let i = 0; i < toks.length; i++) {
    if (i === 0 || words[i] !== words[i - 1]) out.push([]);
    out[out.length - 1].push(toks[i] === '[UNK]' ? '[UNK]' : [...toks[i]].map((ch) => ch.codePointAt(0)));
  }
  return out;
}

// A pattern describes the tokens of a run of code points: each character is either fixed (a number) or
// relative to the code point (an object {rel: d}). It is derived from the first two code points of the run.
function relPattern(st, cp) {
  const lit = new Set(['a', 'b', '#'].map((c) => c.codePointAt(0)));
  return st.map((w) => w.map((t) => t === '[UNK]' ? t : t.map((c) => lit.has(c) ? c : {rel: c - cp})));
}
function fitPattern(st0, cp0, st1, cp1) {
  if (st0.length !== st1.length) return null;
  const out = [];
  for (let w = 0; w < st0.length; w++) {
    if (st0[w].length !== st1[w].length) return null;
    const word = [];
    for (let t = 0; t < st0[w].length; t++) {
      const a = st0[w][t], b = st1[w][t];
      if (a === '[UNK]' || b === '[UNK]') {
        if (a !== b) return null;
        word.push(a);
        continue;
      }
      if (a.length !== b.length) return null;
      const tok = [];
      for (let k = 0; k < a.length; k++) {
        if (a[k] === b[k]) tok.push(a[k]);
        else if (a[k] - cp0 === b[k] - cp1) tok.push({rel: a[k] - cp0});
        else return null;
      }
      word.push(tok);
    }
    out.push(word);
  }
  return out;
}
function apply(pattern, cp) {
  return pattern.map((w) => w.map((t) => t === '[UNK]' ? t : t.map((c) => typeof c === 'number' ? c : c.rel + cp)));
}
const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);
// Words separated by " | ", tokens by " "; a, b and # as themselves, {d} for c + d, {=HEX} for a fixed
// character.
function serialize(pattern) {
  const lit = new Set(['a', 'b', '#'].map((c) => c.codePointAt(0)));
  return pattern.map((w) => w.map((t) => t === '[UNK]' ? t : t.map((c) => typeof c === 'number' ?
      (lit.has(c) ? String.fromCodePoint(c) : `{=${c.toString(16).toUpperCase()}}`) : `{${c.rel}}`).join(''))
      .join(' ')).join(' | ');
}

async function codepointSweep() {
  const vocab = sweepVocab();
  const names = Object.keys(SWEEP_VARIANTS);
  const tokenizers = names.map((n) => {
    const t = new tk.Tokenizer(tk.WordPiece.init(vocab, {unkToken: '[UNK]', maxInputCharsPerWord: 100}));
    t.setNormalizer(normalizer(SWEEP_VARIANTS[n]));
    t.setPreTokenizer(tk.bertPreTokenizer());
    return t;
  });
  const identity = names.map(() => 'a ##{0} ##b').join('\t');
  const rows = [];
  let run = null;  // {start, end, patterns (null while only one code point), first: structures of start}
  const close = () => {
    if (!run) return;
    const patterns = run.patterns || run.first.map((st) => relPattern(st, run.start));
    rows.push({start: run.start, end: run.end, key: patterns.map(serialize).join('\t')});
    run = null;
  };
  const chunk = 8192;
  for (let base = 0; base <= 0x10FFFF; base += chunk) {
    const cps = [];
    for (let cp = base; cp < Math.min(base + chunk, 0x110000); cp++) if (!isSurrogate(cp)) cps.push(cp);
    if (cps.length === 0) continue;
    const inputs = cps.map((cp) => 'a' + String.fromCodePoint(cp) + 'b');
    const encs = [];
    for (const t of tokenizers) encs.push(await t.encodeBatch(inputs, {addSpecialTokens: false}));
    for (let k = 0; k < cps.length; k++) {
      const cp = cps[k];
      const sts = encs.map((batch) => structure(batch[k]));
      if (run && run.end === cp - 1) {
        if (run.patterns && run.patterns.every((p, v) => same(apply(p, cp), sts[v]))) {
          run.end = cp;
          continue;
        }
        if (!run.patterns) {
          const fit = run.first.map((st, v) => fitPattern(st, run.start, sts[v], cp));
          if (fit.every((p) => p !== null)) {
            run.patterns = fit;
            run.end = cp;
            continue;
          }
        }
      }
      close();
      run = {start: cp, end: cp, patterns: null, first: sts};
    }
  }
  close();
  const header = [
    '# Hugging Face tokenizers 0.22 on "a" + chr(c) + "b" for every code point c (surrogates excluded), with a',
    '# vocabulary of [UNK] and every character alone and with "##". Columns: first and last code point (hex)',
    '# of a run, then the tokens in each variant: ' + names.map((n) => `${n} ${JSON.stringify(SWEEP_VARIANTS[n])}`)
        .join(', '),
    '# Words are separated by " | ", tokens by " "; {d} is the character c + d, {=HEX} that character. Runs',
    '# equal to "a ##{0} ##b" in every variant are left out.',
  ];
  const body = rows.filter((r) => r.key !== identity)
      .map((r) => `${r.start.toString(16).toUpperCase()}\t${r.end.toString(16).toUpperCase()}\t${r.key}`);
  fs.writeFileSync(path.join(here, 'wordpiece_codepoints.tsv'), header.concat(body).join('\n') + '\n');
  console.log(`wordpiece_codepoints.tsv: ${body.length} runs`);
}

// tokenizers' own trainer on a small public-domain corpus. Its result varies a little from run to run (ties
// between equally frequent pairs follow hash-map order), so the test compares with a tolerance.
function trainerFixture() {
  const text = fs.readFileSync(path.join(shared, 'corpora', 'web_bible.txt'), 'utf8');
  const cut = Buffer.from(text, 'utf8').subarray(0, 150000).toString('utf8');
  const excerpt = cut.slice(0, cut.lastIndexOf('\n') + 1);
  const corpus = path.join(repo, 'tests', 'data', 'corpora', 'web_bible_excerpt.txt');
  fs.writeFileSync(corpus, excerpt);
  const t = new tk.Tokenizer(tk.WordPiece.init({}, {unkToken: '[UNK]'}));
  t.setNormalizer(normalizer({lowercase: true}));
  t.setPreTokenizer(tk.bertPreTokenizer());
  t.train([corpus]);
  const vocab = Object.entries(t.getVocab(false)).sort((x, y) => x[1] - y[1]).map((x) => x[0]);
  fs.writeFileSync(path.join(here, 'wordpiece_hf_trained_vocab.txt'), vocab.join('\n') + '\n');
  console.log(`wordpiece_hf_trained_vocab.txt: ${vocab.length} tokens learned from ${excerpt.length} characters`);
}

(async () => {
  trainerFixture();
  const vocabTokens = new Set(fs.readFileSync(vocabPath, 'utf8').split('\n').map((l) => l.trimEnd()));
  await textFixtures(vocabTokens);
  await codepointSweep();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
