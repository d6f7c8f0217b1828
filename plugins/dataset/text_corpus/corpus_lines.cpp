// SPDX-License-Identifier: Apache-2.0
// Plain-text corpora (corpus_lines.h).
#include "corpus_lines.h"

#include <fstream>

#include <stagehand/error.h>
#include <stagehand/utf8.h>

namespace stagehand::corpus_lines {

namespace fs = std::filesystem;

void read_corpus(const std::vector<fs::path>& files, Corpus& c) {
  auto end_document = [&c] {
    if (c.sentences.size() > c.doc_begin.back()) c.doc_begin.push_back(c.sentences.size());
  };
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    SH_CHECK(in.good(), "cannot read '{}'; check that the file exists and is readable", f.string());
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (std::string p = utf8_problem(line); !p.empty())
        throw Error(fmt::format("{}:{}: the line is {}", f.string(), line_no, p));
      // A line of nothing but white space ends the document; a stray CR counts as white space ("\r\r\n" made a
      // sentence of one CR, found by fuzz_corpus).
      if (line.find_first_not_of(" \t\f\v\r") == std::string::npos) {
        end_document();
        continue;
      }
      c.sentences.push_back(std::move(line));
    }
    // A file never continues the previous file's last document.
    end_document();
  }
}

// Ids of every sentence, tokenized on `threads` threads; the result does not depend on the thread count.
}  // namespace stagehand::corpus_lines
