// SPDX-License-Identifier: Apache-2.0
#pragma once
// A byte-level BPE tokenizer (GPT-2, RoBERTa) as Hugging Face tokenizers runs one: added tokens are cut out
// of the text first, the rest is pre-tokenized by GPT-2's regex (with a space put in front when
// add_prefix_space), each pre-token's bytes are merged by the model, and offsets are UTF-8 byte spans of the
// text (trimmed of the spaces their tokens hold when trim_offsets, as RoBERTa's post-processor does).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpe_model.h"

namespace stagehand::bpe {

/// A token matched whole in the text before pre-tokenizing (tokenizers' added tokens: <s>, <mask>, ...).
struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool lstrip = false;      ///< takes the white space on its left with it
  bool rstrip = false;      ///< takes the white space on its right with it
  bool normalized = false;  ///< matched in the second pass (tokenizers matches normalized: false ones first)
  bool special = true;      ///< left out by decode
};

struct TokenizerOptions {
  bool add_prefix_space = false;  ///< a space before each run of text that does not start with one
  bool trim_offsets = false;      ///< offsets leave out the spaces at the ends of a token
  bool trim_keeps_prefix = false; ///< (trim_offsets) the post-processor's add_prefix_space: keep a first token's one space
  bool match_added = true;        ///< cut the added tokens out of the text (false: they are only ids)
  std::vector<AddedToken> added;
};

/// A token of a text: id, byte span in the text, pre-token (word) index.
struct Token {
  int32_t id;
  int32_t begin, end;
  int32_t word;
};

class BpeTokenizer {
 public:
  BpeTokenizer(std::shared_ptr<const BpeModel> model, TokenizerOptions options);

  /// Appends the tokens of `text` to `out`. Thread-safe.
  void tokenize(std::string_view text, std::vector<Token>& out) const;
  /// The text of `ids` (byte symbols turned back into bytes, then ill-formed UTF-8 replaced by U+FFFD); added
  /// tokens marked special and the ids in `skip` are left out. An id out of range is an error.
  std::string decode(const std::vector<int32_t>& ids, const std::vector<int32_t>& skip) const;
  /// The spelling of `id` (an added token's content, else the vocabulary's).
  const std::string& token(int32_t id) const;
  /// Id of a vocabulary entry or added token, -1 when absent.
  int32_t find(std::string_view token) const;
  int32_t size() const { return size_; }

  const BpeModel& model() const { return *model_; }
  const TokenizerOptions& options() const { return options_; }

 private:
  struct Segment {
    uint32_t begin, end;
    int32_t added;  // index into options_.added, -1 for text to pre-tokenize
  };
  // Leading and trailing spaces of each token, for trim_offsets.
  using Spaces = std::vector<std::pair<uint32_t, uint32_t>>;
  void split_added(std::string_view text, bool normalized, std::vector<Segment>& segments) const;
  void tokenize_text(std::string_view text, const Segment& s, int32_t& word, std::vector<Token>& out,
                     Spaces& spaces) const;
  void trim(size_t first, const Spaces& spaces, std::vector<Token>& out) const;

  std::shared_ptr<const BpeModel> model_;
  TokenizerOptions options_;
  int32_t size_ = 0;
};

}  // namespace stagehand::bpe
