// SPDX-License-Identifier: Apache-2.0
#pragma once
// The BPE model: a vocabulary of byte-symbol strings and ranked merges, applied to one pre-token at a time
// exactly as Hugging Face tokenizers' BPE model does (lowest rank first, leftmost first among equal ranks).
#include <array>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace stagehand::bpe {

/// token -> id, and id -> token (ids need not be dense; a missing id has an empty spelling).
class Vocab {
 public:
  /// Adds a token; returns false when the token is already there.
  bool add(std::string token, int32_t id);
  int32_t find(std::string_view token) const;  ///< -1 when absent
  const std::string& token(int32_t id) const;  ///< "" for an id with no token
  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }  ///< largest id + 1
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::string> tokens_;
};

/// One merge as the files spell it: the two tokens that are joined.
using MergePair = std::pair<std::string, std::string>;

/// One token of a pre-token: its id and the pre-token's bytes [begin, begin + len) it covers.
struct WordPiece {
  int32_t id;
  uint32_t begin, len;
};

class BpeModel {
 public:
  /// `merges` in rank order. A merge naming a token (or giving a result) that is not in the vocabulary is an
  /// error naming `merges_source` and the merge's line (`first_line` is the line of merges[0]).
  /// `unk` (-1: none) stands for a byte whose symbol the vocabulary lacks; with none such a byte is dropped,
  /// as tokenizers does.
  BpeModel(Vocab vocab, const std::vector<MergePair>& merges, int32_t unk, const std::string& merges_source,
           size_t first_line);

  /// Appends the tokens of one pre-token (its raw bytes) to `out`.
  void encode_word(std::string_view bytes, std::vector<WordPiece>& out) const;

  const Vocab& vocab() const { return vocab_; }
  /// The merges in rank order, as pairs of token ids.
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merge_list_; }
  int32_t unk() const { return unk_; }

 private:
  void merge(std::string_view bytes, std::vector<WordPiece>& out) const;

  Vocab vocab_;
  int32_t unk_ = -1;
  std::array<int32_t, 256> byte_ids_{};
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> ranks_;  // (left, right) -> (rank, merged id)
  std::vector<std::pair<int32_t, int32_t>> merge_list_;
  // Pre-tokens seen before (most words recur): bounded, shared by the encoding threads.
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<WordPiece>> cache_;
};

}  // namespace stagehand::bpe
