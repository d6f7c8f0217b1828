// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the tagging-file reader of the `token_classification` dataset (token_files.cpp): BioBERT
// `word<TAB>label` lines and CoNLL columns, with each setting the first input byte picks (format, word and label
// columns, scheme), in both on_bad_record modes. Any input must give sentences or a stagehand::Error; every word
// and label non-empty and valid UTF-8 with a line number inside the file; converted labels parse as tags of the
// scheme; and skipping must agree with the strict reader wherever that one succeeds.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz_input.h"
#include "stagehand/error.h"
#include "stagehand/utf8.h"
#include "token_files.h"

namespace tf = stagehand::token_files;
namespace ner = stagehand::ner;

namespace {

bool read(const tf::ReadSettings& rs, const std::string& file, bool plain, ner::Scheme scheme, bool skip,
          std::vector<tf::Sentence>& out, tf::Skipped& skipped) {
  skipped = {};
  skipped.enabled = skip;
  try {
    out = tf::read_sentences(rs, file, skipped);
    if (!plain) tf::convert(out, file, scheme, skipped);
    return true;
  } catch (const stagehand::Error&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Two knob bytes, then the file. Knob 0: bits 0-1 format (auto, biobert, conll, conll), 2-3 word column, 4-5
  // label column, 6 scheme bioes, 7 the file ends in .conll (what auto looks at). Knob 1: bit 0 scheme none.
  uint8_t knobs = 0, more = 0;
  if (!fuzz_input::take_knobs(data, size, knobs) || !fuzz_input::take_knobs(data, size, more)) return 0;
  static const int64_t kWord[] = {0, 1, -2, 0};
  static const int64_t kLabel[] = {-1, -1, 3, 0};
  tf::ReadSettings rs;
  rs.auto_format = (knobs & 3) == 0;
  rs.format = (knobs & 3) == 1 ? tf::Format::BioBert : tf::Format::Conll;
  rs.word_column = kWord[(knobs >> 2) & 3];
  rs.label_column = kLabel[(knobs >> 4) & 3];
  const ner::Scheme scheme = (knobs >> 6) & 1 ? ner::Scheme::Bioes : ner::Scheme::Bio;
  const std::string file = fuzz_input::write_file("conll", (knobs >> 7) ? ".conll" : ".tsv", data, size);
  const bool plain = more & 1;
  const int64_t lines = fuzz_input::lines_in(data, size);

  std::vector<tf::Sentence> lenient, strict;
  tf::Skipped lenient_skips, strict_skips;
  const bool lenient_ok = read(rs, file, plain, scheme, true, lenient, lenient_skips);
  const bool strict_ok = read(rs, file, plain, scheme, false, strict, strict_skips);
  // Skipping never fails on a file it can read at all; and where strict reading succeeds it skips nothing.
  if (!lenient_ok) __builtin_trap();
  if (strict_ok && (!lenient_ok || lenient_skips.count != 0 || lenient.size() != strict.size())) __builtin_trap();
  if (!strict_ok && lenient_ok && lenient_skips.count == 0) __builtin_trap();
  for (const auto& sentence : lenient) {
    if (sentence.empty()) __builtin_trap();
    for (const auto& w : sentence) {
      if (w.text.empty() || w.label.empty() || w.line < 1 || w.line > lines) __builtin_trap();
      if (!stagehand::utf8_problem(w.text).empty() || !stagehand::utf8_problem(w.label).empty()) __builtin_trap();
      ner::Tag t;
      if (!plain && !ner::parse_tag(w.label, t)) __builtin_trap();
      if (!plain && scheme == ner::Scheme::Bio && (t.prefix == 'E' || t.prefix == 'S')) __builtin_trap();
    }
  }
  return 0;
}
