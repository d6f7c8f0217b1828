// SPDX-License-Identifier: Apache-2.0
// BioBERT and CoNLL tagging files (token_files.h).
#include "token_files.h"

#include <algorithm>
#include <cctype>

#include <stagehand/error.h>
#include <stagehand/files.h>
#include <stagehand/utf8.h>

namespace stagehand::token_files {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOwner = "token_classification";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_on(std::string_view s, char delim) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(delim, start);
    if (p == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, p - start));
    start = p + 1;
  }
}

std::vector<std::string_view> split_whitespace(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !is_space(s[j])) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}


Format format_of(const ReadSettings& s, const fs::path& file) {
  if (!s.auto_format) return s.format;
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".conll" ? Format::Conll : Format::BioBert;
}


// A malformed line (or label) of the sentence that holds it: an error naming file:line, or, with
// `on_bad_record: skip`, the first such problem is kept and the caller drops the whole sentence (the record a
// tagger trains on; a sentence with a word missing would teach wrong labels for its neighbours).
void bad_line(Skipped& skipped, const std::string& problem, bool& sentence_bad) {
  if (!skipped.enabled)
    throw Error(fmt::format("{}; or set on_bad_record: skip to leave its sentence out", problem));
  if (skipped.first.empty()) skipped.first = problem;
  sentence_bad = true;
}

}  // namespace

// Every sentence of one file, labels as written; sentences with a malformed line are dropped and counted when
// skipping.
std::vector<Sentence> read_sentences(const ReadSettings& s, const fs::path& file, Skipped& skipped) {
  const Format format = format_of(s, file);
  std::string data;
  // An ifstream opens a folder without complaint and reads nothing from it, which would pass for an empty file.
  if (fs::is_directory(file))
    throw Error(fmt::format("{}: cannot read {}: it is a folder; give the data file itself (e.g. train.tsv)", kOwner,
                            file.string()));
  try {
    data = read_file(file);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: cannot read {}: {}; check the path", kOwner, file.string(), e.what()));
  }
  sdk::strip_bom(data);
  std::vector<Sentence> out;
  Sentence current;
  bool current_bad = false;
  sdk::Lines lines(data);
  std::string_view line;
  int line_no = 0;
  auto where = [&]() { return fmt::format("{}:{}", file.string(), line_no); };
  auto end_sentence = [&]() {
    if (current_bad)
      ++skipped.count;
    else if (!current.empty())
      out.push_back(std::move(current));
    current.clear();
    current_bad = false;
  };
  while (lines.next(line, line_no)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (std::string p = utf8_problem(line); !p.empty()) {
      bad_line(skipped, fmt::format("{}: the line is {}", where(), p), current_bad);
      continue;
    }
    if (trim(line).empty()) {
      end_sentence();
      continue;
    }
    Word w;
    w.line = line_no;
    if (format == Format::BioBert) {
      auto fields = split_on(line, '\t');
      if (fields.size() == 1) {
        bad_line(skipped,
                 fmt::format("{}: found '{}' with no tab; expected word<TAB>label (BioBERT NER format), or set "
                             "format: conll for whitespace-separated columns",
                             where(), excerpt(line)),
                 current_bad);
        continue;
      }
      if (fields.size() > 2) {
        bad_line(skipped,
                 fmt::format("{}: found {} tab-separated fields in '{}'; expected word<TAB>label (BioBERT NER "
                             "format), or set format: conll with word_column and label_column for more columns",
                             where(), fields.size(), excerpt(line)),
                 current_bad);
        continue;
      }
      w.text = std::string(trim(fields[0]));
      w.label = std::string(trim(fields[1]));
      if (w.text == "-DOCSTART-") continue;
      if (w.text.empty()) {
        bad_line(skipped,
                 fmt::format("{}: empty word in '{}'; expected word<TAB>label with a non-blank word", where(),
                             excerpt(line)),
                 current_bad);
        continue;
      }
      if (w.label.empty()) {
        bad_line(skipped,
                 fmt::format("{}: empty label in '{}'; expected word<TAB>label with a tag such as O or B-X", where(),
                             excerpt(line)),
                 current_bad);
        continue;
      }
    } else {
      auto cols = split_whitespace(line);
      const int64_t n = static_cast<int64_t>(cols.size());
      if (cols.front() == "-DOCSTART-") continue;
      const int64_t wc = s.word_column < 0 ? n + s.word_column : s.word_column;
      const int64_t lc = s.label_column < 0 ? n + s.label_column : s.label_column;
      const int64_t need = std::max(s.word_column < 0 ? -s.word_column : s.word_column + 1,
                                    s.label_column < 0 ? -s.label_column : s.label_column + 1);
      if (wc < 0 || wc >= n || lc < 0 || lc >= n || (wc == lc)) {
        bad_line(skipped,
                 fmt::format("{}: found {} column(s) in '{}'; expected at least {} whitespace-separated columns "
                             "(word_column {}, label_column {}, distinct)",
                             where(), n, excerpt(line), std::max<int64_t>(need, 2), s.word_column, s.label_column),
                 current_bad);
        continue;
      }
      w.text = std::string(cols[static_cast<size_t>(wc)]);
      w.label = std::string(cols[static_cast<size_t>(lc)]);
    }
    current.push_back(std::move(w));
  }
  end_sentence();
  return out;
}

// Rewrites the labels of every sentence in `scheme` (see the header). Labels that are not tags are errors, or,
// when skipping, drop their sentence.
void convert(std::vector<Sentence>& sentences, const fs::path& file, ner::Scheme scheme, Skipped& skipped) {
  std::vector<ner::Tag> tags;
  std::vector<Sentence> kept;
  kept.reserve(sentences.size());
  for (auto& sentence : sentences) {
    tags.resize(sentence.size());
    bool bad = false;
    for (size_t i = 0; i < sentence.size() && !bad; ++i)
      if (!ner::parse_tag(sentence[i].label, tags[i]))
        bad_line(skipped,
                 fmt::format("{}:{}: label '{}' is not a chunk tag; expected O, B-<type>, I-<type> (BIO), E-<type> "
                             "or S-<type> (BIOES), or untyped B, I, E, S",
                             file.string(), sentence[i].line, excerpt(sentence[i].label)),
                 bad);
    if (bad) {
      ++skipped.count;
      continue;
    }
    auto labels = ner::encode_chunks(ner::chunks_of(tags), static_cast<int64_t>(sentence.size()), scheme);
    for (size_t i = 0; i < sentence.size(); ++i) sentence[i].label = std::move(labels[i]);
    kept.push_back(std::move(sentence));
  }
  sentences = std::move(kept);
}

}  // namespace stagehand::token_files
