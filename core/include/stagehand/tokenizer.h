// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Tokenizers: the `tokenizer` kind (turns text into ids) and the `tokenizer_trainer` kind (learns a
/// vocabulary from a corpus and returns the spec of the tokenizer it made). No LibTorch types here:
/// tokenizer plugins stay light to build and can be used by tools that never touch a tensor.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stagehand/config.h"
#include "stagehand/export.h"

namespace stagehand {

/// One token of a text: its id, its surface form as the vocabulary spells it (e.g. "##ing"), the index of
/// the whitespace/punctuation-delimited word it belongs to, and its byte span [begin, end) in the input.
struct Piece {
  int32_t id = 0;
  std::string token;
  int32_t word = -1;
  int32_t begin = 0;
  int32_t end = 0;
};

/// How encode() frames its texts when it adds special tokens (EncodeOptions::add_special_tokens):
enum class SpecialLayout : int32_t {
  Bert,     ///< `cls a sep` and `cls a sep b sep`, type ids 0 up to the first sep, 1 after (BERT, ALBERT, ELECTRA)
  Roberta,  ///< `cls a sep` and `cls a sep sep b sep`, type ids all 0 (RoBERTa: `<s> a </s></s> b </s>`)
  None,     ///< nothing added: `a` and `a b`, type ids 0 for a and 1 for b (GPT-2)
};

/// Ids of the special tokens (-1 where the vocabulary has none), their spellings, and how encode() places them.
struct SpecialTokens {
  int32_t pad = -1, unk = -1, cls = -1, sep = -1, mask = -1;
  std::string pad_token = "[PAD]", unk_token = "[UNK]", cls_token = "[CLS]", sep_token = "[SEP]",
              mask_token = "[MASK]";
  SpecialLayout layout = SpecialLayout::Bert;
};

/// Token ids framed as encode() frames a text or a pair: `a` and `b` with the special tokens of `special.layout`
/// around them. What code that builds model inputs from ids it tokenized itself (SQuAD windows, packed corpora)
/// uses, so that its inputs match encode()'s for every layout.
struct FramedIds {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;  ///< per SpecialLayout: Bert 0 then 1 from b on, Roberta all 0, None 0 for a, 1 for b
  int32_t a_begin = 0, a_end = 0;  ///< a's tokens are ids[a_begin, a_end)
  int32_t b_begin = 0, b_end = 0;  ///< b's tokens are ids[b_begin, b_end); b_begin == b_end == ids.size() without b
};

/// Number of special tokens `special.layout` adds around one text (`pair` false) or a pair: Bert 2 / 3,
/// Roberta 2 / 4, None 0 / 0.
STAGEHAND_API int32_t special_token_count(const SpecialTokens& special, bool pair);

/// Frames `a` (and `b` when not null) by `special.layout`; `add_special_tokens` false frames as SpecialLayout::None
/// (a then b, type ids 0 then 1). Fails when the layout adds tokens and the vocabulary lacks cls or sep.
STAGEHAND_API FramedIds frame_ids(const SpecialTokens& special, const std::vector<int32_t>& a,
                                  const std::vector<int32_t>* b = nullptr, bool add_special_tokens = true);

enum class Truncation {
  LongestFirst,  ///< drop tokens one at a time from the currently longer text (Hugging Face default)
  OnlyFirst,
  OnlySecond,
  None,          ///< never truncate (encode fails if the result exceeds max_length)
};
enum class Padding {
  None,       ///< no padding
  MaxLength,  ///< pad every encoding to max_length
  Longest,    ///< (batch only) pad to the longest encoding of the batch
};

struct EncodeOptions {
  int32_t max_length = 512;  ///< including special tokens; <= 0 means unlimited
  Truncation truncation = Truncation::LongestFirst;
  Padding padding = Padding::None;
  bool add_special_tokens = true;
};

/// A model input: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` with segment ids 0 / 1 (or the tokenizer's other
/// SpecialLayout), then padding.
struct STAGEHAND_API Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<uint8_t> attention_mask;       ///< 1 for real tokens, 0 for padding
  std::vector<uint8_t> special_tokens_mask;  ///< 1 for [CLS]/[SEP]/[PAD] (the tokens encode() adds)
  std::vector<int32_t> word_ids;             ///< word index within its text, -1 for special tokens
  std::vector<int32_t> sequence_ids;         ///< 0 or 1 for text a / b, -1 for special tokens
  std::vector<std::pair<int32_t, int32_t>> offsets;  ///< byte span in its text; (0,0) for special tokens
  int32_t truncated = 0;                     ///< number of pieces dropped by truncation
  size_t size() const { return ids.size(); }
  size_t length() const;  ///< number of non-padding tokens
};

class STAGEHAND_API Tokenizer {
 public:
  static constexpr const char* kKind = "tokenizer";
  virtual ~Tokenizer();

  /// Splits one text into pieces (no special tokens added). Must be safe to call from several threads.
  virtual std::vector<Piece> pieces(std::string_view text) const = 0;
  virtual int32_t vocab_size() const = 0;
  /// Id of a vocabulary entry, or the unknown-token id if absent.
  virtual int32_t token_to_id(std::string_view token) const = 0;
  virtual std::string id_to_token(int32_t id) const = 0;
  virtual const SpecialTokens& special() const = 0;
  /// Text of a run of ids (WordPiece joins "##" continuations; SentencePiece decodes), specials skipped.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  /// Writes what is needed to rebuild this tokenizer into `dir` and returns its spec
  /// (`{type: NAME, ...}`, file paths relative to `dir`).
  virtual ConfigNode save(const std::filesystem::path& dir) const = 0;

  // ---- built on the above (implemented in the core)
  std::vector<std::string> tokenize(std::string_view text) const;
  std::vector<int32_t> encode_ids(std::string_view text) const;
  Encoding encode(std::string_view a, const EncodeOptions& options = {}) const;
  Encoding encode_pair(std::string_view a, std::string_view b, const EncodeOptions& options = {}) const;
  /// Encodes many texts (pairs when `b` is non-null, same length as `a`) on `threads` threads.
  /// Padding::Longest pads to the longest result.
  std::vector<Encoding> encode_batch(const std::vector<std::string>& a, const std::vector<std::string>* b,
                                     const EncodeOptions& options, int threads = 1) const;
};

class STAGEHAND_API TokenizerTrainer {
 public:
  static constexpr const char* kKind = "tokenizer_trainer";
  virtual ~TokenizerTrainer();
  /// Learns a vocabulary from text files (one sentence per line) and writes the tokenizer's files into
  /// `out_dir`. Returns the spec of the trained tokenizer (paths relative to out_dir).
  /// `should_stop` is polled; when it returns true the trainer may throw stagehand::Interrupted.
  virtual ConfigNode train(const std::vector<std::filesystem::path>& files, const std::filesystem::path& out_dir,
                           const std::function<bool()>& should_stop) const = 0;
};

}  // namespace stagehand
