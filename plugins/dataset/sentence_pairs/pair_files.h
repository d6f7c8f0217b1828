// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading the files of the `glue` and `sentence_pairs` datasets: GLUE's TSV files (columns found by header name,
/// no quoting) and sentence-pair JSON lines. Tensor-free, so that fuzz/fuzz_pairs.cpp compiles it without
/// LibTorch. The datasets (sentence_pairs.cpp) document the formats.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <stagehand/sdk/records.h>

namespace stagehand::pair_files {

namespace fs = std::filesystem;

// Malformed records: fail at the first, or count them.
using BadRecords = sdk::BadRecords;

// One example as read: texts, id and label (text; empty with has_label false when the file has no labels).
struct Example {
  int file = 0;  // index into ReadSplit::files
  int line = 0;
  std::string id, a, b, label;
};

struct ReadSplit {
  std::string name;
  std::vector<fs::path> files;
  std::vector<Example> examples;
  bool labelled = true;
};

struct GlueTask {
  std::string a, b, label, id;  // header names of the columns
  std::vector<std::string> classes;
  bool regression = false;
  bool nli = false;  // gold label "-" means no consensus: skipped
};

/// The columns, classes and kind (regression, NLI) of a GLUE task; every NLI task (mnli, mnli-mm, snli, allnli)
/// for a name that is none of the others.
GlueTask glue_task(const std::string& task);

/// Appends the records of one GLUE TSV `file` (index `file_index` of its split) to `out`; returns whether its header
/// has a label column. NLI records with gold label "-" are counted in `no_gold`; malformed ones go to `bad`.
bool read_glue(const std::string& task, const GlueTask& t, const fs::path& file, int file_index,
               const std::string& split, const std::string& source, BadRecords& bad, int64_t& no_gold,
               std::vector<Example>& out);

/// Reads one sentence-pair JSONL file into `r` (r.labelled: whether its records carry labels; a file must be all
/// one way).
void read_jsonl(const fs::path& file, const std::string& split, bool regression, BadRecords& bad, ReadSplit& r);

/// At most `n` bytes of `s` for a message, line breaks and tabs as spaces, "..." when cut.
inline std::string excerpt(std::string_view s, size_t n = 30) { return sdk::excerpt(s, n); }
/// The strings joined with `sep`.
std::string join(const std::vector<std::string>& v, const char* sep = ", ");
/// A whole string as a finite number into `v`; false otherwise.
bool parse_float(const std::string& s, double& v);

}  // namespace stagehand::pair_files
