// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The word features of the `baseline` stage: bag-of-words counts or TF-IDF, as scikit-learn's CountVectorizer /
/// TfidfVectorizer with their defaults unless an option says otherwise. Tensor-free.
///
/// Words: a text is read as UTF-8; a word is a maximal run of word characters, which are ASCII letters and digits,
/// '_', and every non-ASCII character except the Latin-1 punctuation and symbols U+0080-U+00BF (with U+00A0, the
/// no-break space), U+00D7 and U+00F7, the General Punctuation block U+2000-U+206F (dashes, curly quotes,
/// ellipsis, special spaces), the CJK symbols and punctuation U+3000-U+303F and U+FEFF; every other character
/// separates words. With `lowercase`, ASCII letters are lower-cased (other letters are kept as written). Words of one
/// character are dropped, as scikit-learn's default token_pattern \b\w\w+\b drops them (it also differs in that its
/// \w is Unicode's word class). Terms are the words and, with ngram_max > 1, runs of up to ngram_max consecutive
/// words joined by one space; the terms of a pair's second text are prefixed "pair:".
///
/// Vocabulary (fit on the training texts only): terms in at least min_df training documents; with max_features,
/// the max_features terms of highest total count over the training documents (ties: the alphabetically first);
/// feature indices follow the terms' byte order.
/// Values: tf = the term's count in the document (1 + ln(count) with sublinear_tf); counts: tf; tfidf: tf * idf with
/// the smoothed idf = ln((1 + n) / (1 + df)) + 1 (n training documents, df of them hold the term); then, with norm
/// l2, each row is divided by its Euclidean length (a row without any known term stays empty).
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stagehand::baseline {

/// The words of `text` (see above), in order.
std::vector<std::string> words(std::string_view text, bool lowercase);

struct FeatureOptions {
  bool tfidf = true;
  bool lowercase = true;
  int64_t min_df = 1;
  int64_t max_features = 0;  ///< 0: no limit
  int64_t ngram_max = 1;
  bool sublinear_tf = false;
  bool l2_norm = true;
};

/// One document's features: (feature index, value), indices ascending, zeros left out.
using SparseRow = std::vector<std::pair<int32_t, double>>;

class Vectorizer {
 public:
  explicit Vectorizer(FeatureOptions o) : o_(o) {}
  /// Learns the vocabulary and idf from the training documents (`pairs` empty, or one per text).
  void fit(const std::vector<std::string>& texts, const std::vector<std::string>& pairs);
  /// The features of one document (`pair` empty for single texts).
  SparseRow transform(std::string_view text, std::string_view pair = {}) const;
  size_t size() const { return terms_.size(); }
  const std::vector<std::string>& terms() const { return terms_; }
  const std::vector<double>& idf() const { return idf_; }

 private:
  /// Each term of the document with its count.
  std::map<std::string, int64_t> term_counts(std::string_view text, std::string_view pair) const;
  FeatureOptions o_;
  std::vector<std::string> terms_;
  std::map<std::string, int32_t> index_;
  std::vector<double> idf_;
};

}  // namespace stagehand::baseline
