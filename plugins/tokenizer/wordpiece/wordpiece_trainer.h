// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Learning a WordPiece vocabulary the way Hugging Face `tokenizers`' WordPieceTrainer does: count the
/// pre-tokenized words, then run BPE merges over them with "##" marking word-internal symbols. The
/// vocabulary is the special tokens, the alphabet (at most `limit_alphabet` most frequent characters, in
/// code point order), the "##" forms of the characters seen inside words, then one token per merge, until
/// `vocab_size` entries or no pair occurs `min_frequency` times. Ties between pairs of equal count go to
/// the pair of smaller ids, as in tokenizers; where tokenizers depends on hash-map order (ids of the "##"
/// characters), this uses the order in which words were first seen, so a run is reproducible.
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "pre_tokenizer.h"
#include "string_map.h"

namespace stagehand::wordpiece {

struct TrainerOptions {
  size_t vocab_size = 30522;
  uint64_t min_frequency = 2;
  int64_t limit_alphabet = 1000;  ///< < 0: keep every character
  std::vector<std::string> special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  std::string prefix = "##";
};

/// Thrown when `should_stop` asked training to stop.
struct TrainingStopped : std::exception {
  const char* what() const noexcept override { return "wordpiece training stopped on request"; }
};

/// Word frequencies of pre-tokenized text, words in the order first seen.
class WordCounter {
 public:
  explicit WordCounter(NormalizerOptions options) : pre_(options) {}

  /// Normalizes and splits `text` and counts its words.
  void add(std::string_view text);
  /// Adds every word of `other` (used to combine counters filled on several threads).
  void merge(const WordCounter& other);

  size_t unique() const { return words_.size(); }
  uint64_t total() const { return total_; }
  const std::vector<std::string>& words() const { return words_; }
  const std::vector<uint64_t>& counts() const { return counts_; }

 private:
  struct Sink;
  void count(std::string_view word, uint64_t n);
  BertPreTokenizer pre_;
  StringMap index_;
  std::vector<std::string> words_;
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
};

/// Returns the vocabulary, in id order. `should_stop` is polled now and then (TrainingStopped is thrown).
std::vector<std::string> train_wordpiece(const WordCounter& counter, const TrainerOptions& options,
                                         const std::function<bool()>& should_stop = {});

}  // namespace stagehand::wordpiece
