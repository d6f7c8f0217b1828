// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the WordPiece tokenizer (normalisation, pre-tokenisation, special-token matching, the
// longest-match-first search) on arbitrary bytes, invalid UTF-8 included, with BERT's uncased vocabulary (the
// path comes from STAGEHAND_FUZZ_VOCAB, set by scripts/fuzz.sh). Every token must be a vocabulary id whose offsets
// lie inside the text and do not go backwards, and decoding the ids must not fail.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "wordpiece_tokenizer.h"

using stagehand::wordpiece::TokenizerOptions;
using stagehand::wordpiece::Vocab;
using stagehand::wordpiece::WordPieceTokenizer;

namespace {

const WordPieceTokenizer& tokenizer(bool lowercase) {
  static std::unique_ptr<WordPieceTokenizer> t[2];
  if (!t[lowercase]) {
    const char* vocab = std::getenv("STAGEHAND_FUZZ_VOCAB");
    if (!vocab) __builtin_trap();
    TokenizerOptions o;
    o.normalizer.lowercase = lowercase;
    t[lowercase] = std::make_unique<WordPieceTokenizer>(Vocab::from_file(vocab), o);
  }
  return *t[lowercase];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool lowercase = data[0] & 1;  // the first byte picks the variant, the rest is the text
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const WordPieceTokenizer& tok = tokenizer(lowercase);
  const auto tokens = tok.tokenize(text);
  std::vector<int32_t> ids;
  int32_t last_begin = 0;
  for (const auto& t : tokens) {
    if (t.id < 0 || t.id >= tok.vocab().size()) __builtin_trap();
    if (t.begin < 0 || t.end < t.begin || static_cast<size_t>(t.end) > text.size()) __builtin_trap();
    if (t.begin < last_begin) __builtin_trap();
    last_begin = t.begin;
    ids.push_back(t.id);
  }
  (void)tok.decode(ids);
  return 0;
}
