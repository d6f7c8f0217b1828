// SPDX-License-Identifier: Apache-2.0
// Words, vocabulary and TF-IDF of the `baseline` stage (text_features.h).
#include "text_features.h"

#include <algorithm>
#include <cmath>

#include <stagehand/error.h>

namespace stagehand::baseline {

namespace {

// The code point at text[i] and its length in bytes; an invalid byte reads as one non-word character.
std::pair<uint32_t, size_t> decode(std::string_view text, size_t i) {
  const auto b = static_cast<unsigned char>(text[i]);
  if (b < 0x80) return {b, 1};
  const size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
  if (len == 0 || i + len > text.size()) return {0xFFFFFFFFu, 1};
  uint32_t cp = b & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < len; ++k) {
    const auto c = static_cast<unsigned char>(text[i + k]);
    if ((c & 0xC0) != 0x80) return {0xFFFFFFFFu, 1};
    cp = (cp << 6) | (c & 0x3F);
  }
  return {cp, len};
}

bool word_char(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
  if (cp == 0xFFFFFFFFu) return false;
  if (cp <= 0xBF || cp == 0xD7 || cp == 0xF7) return false;
  if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) || cp == 0xFEFF) return false;
  return true;
}

void add_ngrams(const std::vector<std::string>& w, int64_t ngram_max, const std::string& prefix,
                std::map<std::string, int64_t>& out) {
  for (size_t i = 0; i < w.size(); ++i) {
    std::string term = prefix + w[i];
    ++out[term];
    for (int64_t n = 2; n <= ngram_max && i + static_cast<size_t>(n) <= w.size(); ++n) {
      term += " " + w[i + static_cast<size_t>(n) - 1];
      ++out[term];
    }
  }
}

}  // namespace

std::vector<std::string> words(std::string_view text, bool lowercase) {
  std::vector<std::string> out;
  std::string current;
  size_t chars = 0;
  auto flush = [&] {
    if (chars >= 2) out.push_back(current);
    current.clear();
    chars = 0;
  };
  for (size_t i = 0; i < text.size();) {
    const auto [cp, len] = decode(text, i);
    if (word_char(cp)) {
      if (lowercase && cp >= 'A' && cp <= 'Z')
        current += static_cast<char>(cp - 'A' + 'a');
      else
        current.append(text.substr(i, len));
      ++chars;
    } else {
      flush();
    }
    i += len;
  }
  flush();
  return out;
}

std::map<std::string, int64_t> Vectorizer::term_counts(std::string_view text, std::string_view pair) const {
  std::map<std::string, int64_t> counts;
  add_ngrams(words(text, o_.lowercase), o_.ngram_max, "", counts);
  if (!pair.empty()) add_ngrams(words(pair, o_.lowercase), o_.ngram_max, "pair:", counts);
  return counts;
}

void Vectorizer::fit(const std::vector<std::string>& texts, const std::vector<std::string>& pairs) {
  SH_CHECK(pairs.empty() || pairs.size() == texts.size(), "baseline: {} second texts for {} texts", pairs.size(),
           texts.size());
  std::map<std::string, std::pair<int64_t, int64_t>> stats;  // term -> (documents, total count)
  for (size_t i = 0; i < texts.size(); ++i)
    for (const auto& [term, count] : term_counts(texts[i], pairs.empty() ? std::string_view() : pairs[i])) {
      auto& s = stats[term];
      s.first += 1;
      s.second += count;
    }
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> kept;
  for (auto& [term, s] : stats)
    if (s.first >= o_.min_df) kept.emplace_back(term, s);
  if (o_.max_features > 0 && static_cast<int64_t>(kept.size()) > o_.max_features) {
    // The most frequent terms; stable_sort keeps the byte order among equal counts.
    std::stable_sort(kept.begin(), kept.end(),
                     [](const auto& a, const auto& b) { return a.second.second > b.second.second; });
    kept.resize(static_cast<size_t>(o_.max_features));
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  const double n = static_cast<double>(texts.size());
  terms_.clear();
  index_.clear();
  idf_.clear();
  for (const auto& [term, s] : kept) {
    index_[term] = static_cast<int32_t>(terms_.size());
    terms_.push_back(term);
    idf_.push_back(std::log((1.0 + n) / (1.0 + static_cast<double>(s.first))) + 1.0);
  }
}

SparseRow Vectorizer::transform(std::string_view text, std::string_view pair) const {
  SparseRow row;
  for (const auto& [term, count] : term_counts(text, pair)) {
    auto it = index_.find(term);
    if (it == index_.end()) continue;
    double v = o_.sublinear_tf ? 1.0 + std::log(static_cast<double>(count)) : static_cast<double>(count);
    if (o_.tfidf) v *= idf_[static_cast<size_t>(it->second)];
    row.emplace_back(it->second, v);
  }
  std::sort(row.begin(), row.end());
  if (o_.l2_norm) {
    double sq = 0.0;
    for (const auto& [j, v] : row) sq += v * v;
    if (sq > 0)
      for (auto& [j, v] : row) v /= std::sqrt(sq);
  }
  return row;
}

}  // namespace stagehand::baseline
