// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BERT's WordPiece tokenizer (the Rust `tokenizers` BertNormalizer + BertPreTokenizer + WordPiece model),
/// free of any stagehand or LibTorch dependency. All methods are const and keep no mutable state, so one
/// instance can serve many threads.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "pre_tokenizer.h"
#include "string_map.h"

namespace stagehand::wordpiece {

/// A vocabulary: one token per line, the line number is the id. As in `tokenizers`, trailing whitespace
/// (and a CR) is trimmed from each line and a repeated token keeps its last id.
class Vocab {
 public:
  /// Throws stagehand::Error naming the file when it cannot be read or is empty.
  static Vocab from_file(const std::filesystem::path& file);
  static Vocab from_tokens(std::vector<std::string> tokens);

  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  /// Id of `token`, or -1.
  int32_t find(std::string_view token) const;
  const std::string& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  const std::vector<std::string>& tokens() const { return tokens_; }

  /// Continuation pieces are looked up without their prefix, so that a search never builds "##" + piece.
  const StringMap& word_starts() const { return starts_; }
  const StringMap& continuations() const { return continuations_; }
  const std::string& prefix() const { return prefix_; }

 private:
  void build();
  std::vector<std::string> tokens_;
  std::string prefix_ = "##";
  StringMap starts_;
  StringMap continuations_;
};

struct TokenizerOptions {
  NormalizerOptions normalizer;
  int32_t max_input_chars_per_word = 100;
  /// Match special tokens that occur verbatim in the text (as Hugging Face does).
  bool match_special_tokens = true;
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string mask_token = "[MASK]";
};

/// One output token: vocabulary id, index of the word it belongs to, byte span in the original text.
struct Token {
  int32_t id;
  int32_t word;
  int32_t begin;
  int32_t end;
};

class WordPieceTokenizer {
 public:
  /// Throws stagehand::Error when the vocabulary lacks the unknown token.
  WordPieceTokenizer(Vocab vocab, TokenizerOptions options, const std::string& source = "<memory>");

  /// Appends the tokens of `text` to `out`.
  void tokenize(std::string_view text, std::vector<Token>& out) const;
  std::vector<Token> tokenize(std::string_view text) const {
    std::vector<Token> out;
    tokenize(text, out);
    return out;
  }
  /// Text of a run of ids: specials skipped, "##" continuations glued, other tokens separated by a space,
  /// and a space before . , ! ? removed (tokenizers' WordPiece decoder with cleanup). Throws
  /// std::out_of_range for an id outside the vocabulary.
  std::string decode(const std::vector<int32_t>& ids) const;

  const Vocab& vocab() const { return vocab_; }
  const TokenizerOptions& options() const { return options_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t mask_id() const { return mask_id_; }
  bool is_special(int32_t id) const {
    return id == unk_id_ || id == cls_id_ || id == sep_id_ || id == pad_id_ || id == mask_id_;
  }

 private:
  struct Sink;
  void wordpiece(const Word& word, int32_t index, std::vector<Token>& out) const;

  Vocab vocab_;
  TokenizerOptions options_;
  BertPreTokenizer pre_;
  std::vector<int32_t> special_ids_;  // parallel to the pre-tokenizer's specials
  int32_t unk_id_ = -1, cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, mask_id_ = -1;
};

}  // namespace stagehand::wordpiece
