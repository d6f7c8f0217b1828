// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the plain-text corpus reader of the `text_corpus` dataset (corpus_lines.cpp): one sentence a
// line, blank lines between documents, the input read as two files (split at its first NUL byte, or one file). Any
// input must give sentences or a stagehand::Error; sentences are non-blank valid UTF-8 without line feeds, and the
// document offsets are increasing and cover every sentence.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "corpus_lines.h"
#include "stagehand/error.h"
#include "stagehand/utf8.h"

namespace cl = stagehand::corpus_lines;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string base = "/tmp/stagehand-fuzz-corpus-" + std::to_string(::getpid());
  const std::string text(reinterpret_cast<const char*>(data), size);
  const size_t cut = text.find('\0');
  const std::vector<std::string> parts =
      cut == std::string::npos ? std::vector<std::string>{text} : std::vector<std::string>{text.substr(0, cut), text.substr(cut + 1)};
  std::vector<std::filesystem::path> files;
  for (size_t i = 0; i < parts.size(); ++i) {
    files.emplace_back(base + "-" + std::to_string(i) + ".txt");
    std::ofstream out(files.back(), std::ios::binary | std::ios::trunc);
    out.write(parts[i].data(), static_cast<std::streamsize>(parts[i].size()));
  }
  cl::Corpus c;
  try {
    cl::read_corpus(files, c);
  } catch (const stagehand::Error&) {
    return 0;
  }
  for (const auto& s : c.sentences) {
    if (s.find_first_not_of(" \t\f\v\r") == std::string::npos) __builtin_trap();
    if (s.find('\n') != std::string::npos) __builtin_trap();
    if (!stagehand::utf8_problem(s).empty()) __builtin_trap();
  }
  if (c.doc_begin.empty() || c.doc_begin.front() != 0 || c.doc_begin.back() != c.sentences.size()) __builtin_trap();
  for (size_t d = 1; d < c.doc_begin.size(); ++d)
    if (c.doc_begin[d] <= c.doc_begin[d - 1]) __builtin_trap();
  return 0;
}
