// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading the record files of the `text_classification` dataset: JSON lines, CSV and TSV (RFC 4180 quoting), and
/// BioBERT/BLURB relation TSV, with has_header auto/true/false and on_bad_record fail/skip. Tensor-free, so that
/// fuzz/fuzz_records.cpp compiles it without LibTorch. The dataset (text_classification.cpp) documents the formats.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace stagehand::text_records {

// A record as read from its file, before labels are mapped to ids.
struct Record {
  int line = 0;
  std::string id, text, pair, label;
  bool single = false;  ///< a pair file's record without a second text (its field absent or null, its cell empty)
};

enum class Format { Jsonl, Csv, Tsv };
enum class Header { Yes, No, Auto };

struct Settings {
  Format format = Format::Jsonl;
  bool auto_format = true;
  bool blurb = false;  // BioBERT/BLURB relation TSV: positional columns, layout and header decided per file
  std::string text_field, pair_field, label_field, id_field;
  bool has_pair = false, has_id = false;
  Header header = Header::Yes;
  bool lowercase_labels = false;
  bool skip_bad = false;
};

/// Every record of one file. A malformed record is an Error naming file:line, or, with `s.skip_bad`, counted in
/// `skipped` (and described in `first_skipped` when it is the first: `skipped` was 0).
std::vector<Record> read_records(const Settings& s, const std::filesystem::path& file, int64_t& skipped,
                                 std::string& first_skipped);

}  // namespace stagehand::text_records
