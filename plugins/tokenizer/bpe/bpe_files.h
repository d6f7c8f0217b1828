// SPDX-License-Identifier: Apache-2.0
#pragma once
// Hugging Face's byte-level BPE files: vocab.json + merges.txt (GPT2Tokenizer / RobertaTokenizer), and
// tokenizer.json (a fast tokenizer) whose model is BPE behind a ByteLevel pre-tokenizer. Errors name the file.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bpe_model.h"
#include "bpe_tokenizer.h"

namespace stagehand::bpe {

/// vocab.json: one object, token -> id.
Vocab read_vocab_json(const std::filesystem::path& file);
/// merges.txt: an optional "#version" line, then one merge "a b" per line (empty lines skipped).
/// `first_line` is set to the line number of the first merge.
std::vector<MergePair> read_merges_txt(const std::filesystem::path& file, size_t& first_line);

/// What a tokenizer.json says.
struct TokenizerJson {
  Vocab vocab;
  std::vector<MergePair> merges;
  std::string unk_token;  ///< "" when the model has none
  TokenizerOptions options;  ///< add_prefix_space, trim_offsets and the added tokens
  std::string layout;        ///< the post-processor: "roberta", "bert" or "none"
  std::optional<std::string> cls_token, sep_token;  ///< from a RobertaProcessing / BertProcessing
};
TokenizerJson read_tokenizer_json(const std::filesystem::path& file);

/// vocab.json's text, tokens in id order.
std::string vocab_json_text(const Vocab& vocab);
/// merges.txt's text, with tokenizers' "#version: 0.2" line.
std::string merges_txt_text(const Vocab& vocab, const std::vector<std::pair<int32_t, int32_t>>& merges);

}  // namespace stagehand::bpe
