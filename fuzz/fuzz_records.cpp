// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the record reader of the `text_classification` dataset (text_records.cpp): JSON lines, CSV and
// TSV with RFC 4180 quoting, and BioBERT/BLURB relation TSV, with each setting the first input byte picks (format,
// header mode, named or numbered columns, a text pair, an id column, lower-cased labels), in both on_bad_record
// modes. Any input must give records or a stagehand::Error; every record's text and label non-blank, its line
// inside the file; skipping never fails on content and agrees with the strict reader wherever that one succeeds.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz_input.h"
#include "stagehand/error.h"
#include "text_records.h"

namespace tr = stagehand::text_records;

namespace {

bool read(tr::Settings s, const std::string& file, bool skip, std::vector<tr::Record>& out, int64_t& skipped) {
  s.skip_bad = skip;
  skipped = 0;
  std::string first;
  try {
    out = tr::read_records(s, file, skipped, first);
    return true;
  } catch (const stagehand::Error&) {
    return false;
  }
}

bool blank(const std::string& t) { return t.find_first_not_of(" \t\r\n\f\v") == std::string::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Knob byte: bits 0-1 format (jsonl, csv, tsv, blurb), 2-3 header (yes, no, auto), 4 numbered columns, 5 a
  // text pair, 6 an id column, 7 lower-cased labels.
  uint8_t knobs = 0;
  if (!fuzz_input::take_knobs(data, size, knobs)) return 0;
  tr::Settings s;
  s.auto_format = false;
  const int format = knobs & 3;
  s.blurb = format == 3;
  s.format = format == 0 ? tr::Format::Jsonl : format == 1 ? tr::Format::Csv : tr::Format::Tsv;
  const int header = (knobs >> 2) & 3;
  s.header = header == 1 ? tr::Header::No : header == 2 ? tr::Header::Auto : tr::Header::Yes;
  const bool numbered = (knobs >> 4) & 1;
  if (!s.blurb) {
    s.text_field = numbered && format != 0 ? "0" : "text";
    s.label_field = numbered && format != 0 ? "1" : "label";
    s.has_pair = (knobs >> 5) & 1;
    if (s.has_pair) s.pair_field = numbered && format != 0 ? "2" : "text_b";
    s.has_id = (knobs >> 6) & 1;
    if (s.has_id) s.id_field = numbered && format != 0 ? "3" : "id";
  } else {
    s.text_field = "text";
    s.label_field = "label";
  }
  s.lowercase_labels = (knobs >> 7) & 1;

  const std::string file = fuzz_input::write_file("records", ".txt", data, size);
  const int64_t lines = fuzz_input::lines_in(data, size);

  std::vector<tr::Record> lenient, strict;
  int64_t lenient_skips = 0, strict_skips = 0;
  const bool lenient_ok = read(s, file, true, lenient, lenient_skips);
  const bool strict_ok = read(s, file, false, strict, strict_skips);
  // What fails in skip mode is the file as a whole (a header without the named columns), which strict mode
  // refuses too.
  if (!lenient_ok && strict_ok) __builtin_trap();
  if (strict_ok && (lenient_skips != 0 || lenient.size() != strict.size())) __builtin_trap();
  if (!strict_ok && lenient_ok && lenient_skips == 0) __builtin_trap();
  for (const auto& r : lenient) {
    if (r.line < 1 || r.line > lines) __builtin_trap();
    if (blank(r.text) || blank(r.label)) __builtin_trap();
    if (s.has_pair && blank(r.pair)) __builtin_trap();
  }
  return 0;
}
