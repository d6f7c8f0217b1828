// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading tagging files for the `token_classification` dataset: BioBERT's `word<TAB>label` lines and CoNLL
/// columns, a blank line between sentences, and the tags turned into a scheme. Tensor-free, so that
/// fuzz/fuzz_conll.cpp compiles it without LibTorch. The dataset (token_classification.cpp) documents the formats.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <stagehand/sdk/records.h>
#include <stagehand/sdk/tag_scheme.h>

namespace stagehand::token_files {

struct Word {
  std::string text, label;
  int line = 0;
};
using Sentence = std::vector<Word>;

enum class Format { BioBert, Conll };

struct ReadSettings {
  Format format = Format::BioBert;
  bool auto_format = true;
  int64_t word_column = 0;
  int64_t label_column = -1;
};

// Sentences left out under `on_bad_record: skip`: how many, and where the first was and why.
struct Skipped {
  bool enabled = false;
  int64_t count = 0;
  std::string first;
};

/// Every sentence of one file, labels as written. A malformed line is an Error naming file:line, or, when
/// `skipped.enabled`, its sentence is left out and counted.
std::vector<Sentence> read_sentences(const ReadSettings& s, const std::filesystem::path& file, Skipped& skipped);

/// Rewrites the labels of every sentence in `scheme`. A label that is not a chunk tag is an Error naming file:line,
/// or, when skipping, drops its sentence.
void convert(std::vector<Sentence>& sentences, const std::filesystem::path& file, ner::Scheme scheme,
             Skipped& skipped);

/// At most `n` bytes of `s` for a message (default 40), line breaks and tabs as spaces, "..." when cut.
using sdk::excerpt;

}  // namespace stagehand::token_files
