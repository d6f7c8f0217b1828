// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading plain-text corpora for the `text_corpus` dataset: one sentence a line, a blank line between documents.
/// Tensor-free, so that fuzz/fuzz_corpus.cpp compiles it without LibTorch.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace stagehand::corpus_lines {

// Sentences of every document, in file order; document d is sentences [doc_begin[d], doc_begin[d+1]).
struct Corpus {
  std::vector<std::string> sentences;
  std::vector<size_t> doc_begin{0};
  size_t documents() const { return doc_begin.size() - 1; }
};

/// Appends every sentence of `files` to `c`, in order; a file never continues the previous file's last document. A
/// line that is not valid UTF-8 is an Error naming file:line; CR line ends are dropped.
void read_corpus(const std::vector<std::filesystem::path>& files, Corpus& c);

}  // namespace stagehand::corpus_lines
