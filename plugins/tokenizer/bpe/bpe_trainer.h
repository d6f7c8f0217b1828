// SPDX-License-Identifier: Apache-2.0
#pragma once
// Learning byte-level BPE merges from a corpus, as Hugging Face tokenizers' BpeTrainer does: the corpus is
// pre-tokenized by GPT-2's regex into byte-level words; the vocabulary starts with the special tokens, then the
// byte symbols (those that occur, or all 256) in code point order; then the most frequent pair of adjacent
// symbols is merged, again and again, ties going to the pair whose ids are smallest.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bpe_model.h"

namespace stagehand::bpe {

struct TrainerOptions {
  size_t vocab_size = 30000;   ///< stop when the vocabulary has this many tokens
  uint64_t min_frequency = 2;  ///< stop when the most frequent pair occurs fewer times
  std::vector<std::string> special_tokens;  ///< ids 0, 1, ... in this order
  bool full_alphabet = true;   ///< all 256 byte symbols, not only those the corpus has
};

/// Counts the byte-level words (pre-tokens) of texts.
class WordCounter {
 public:
  explicit WordCounter(bool add_prefix_space) : add_prefix_space_(add_prefix_space) {}
  /// One text (tokenizers trains on lines with their line ending, which becomes a word of its own, "Ċ").
  void add(std::string_view text);
  const std::unordered_map<std::string, uint64_t>& counts() const { return counts_; }

 private:
  bool add_prefix_space_;
  std::unordered_map<std::string, uint64_t> counts_;
};

struct TrainedBpe {
  Vocab vocab;
  std::vector<MergePair> merges;
};

/// Thrown by train_bpe when `should_stop` says so.
struct TrainingStopped {};

TrainedBpe train_bpe(const WordCounter& words, const TrainerOptions& options, const std::function<bool()>& should_stop);

}  // namespace stagehand::bpe
