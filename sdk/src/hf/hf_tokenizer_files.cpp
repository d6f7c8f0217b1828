// SPDX-License-Identifier: Apache-2.0
// A tokenizer's files as Hugging Face's tokenizer classes read them (hf::write_tokenizer,
// stagehand/sdk/hf_checkpoint.h): the vocabulary the tokenizer saves, tokenizer_config.json with the class and its
// settings, special_tokens_map.json. hf::tokenizer_spec reads the same keys back.
#include <nlohmann/json.hpp>

#include <stagehand/files.h>
#include <stagehand/tokenizer.h>

#include "stagehand/sdk/hf_checkpoint.h"

namespace stagehand::hf {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// The entry for a special token: its spelling, or Hugging Face's AddedToken record, whose lstrip says whether the
/// tokenizer takes the space before it into the token (RoBERTa's <mask>, ALBERT's [MASK]): written for every token
/// in lstrip_tokens and, with `record`, for any token (a reader's default for a mask token may be lstrip true).
json special_entry(const std::string& token, const ConfigNode& saved, bool record = false) {
  bool lstrip = false;
  if (saved.has("lstrip_tokens"))
    for (const auto& t : saved.at("lstrip_tokens").items()) lstrip = lstrip || t.as_string() == token;
  if (!lstrip && !record) return token;
  return {{"__type", "AddedToken"}, {"content", token},     {"lstrip", lstrip},
          {"rstrip", false},        {"normalized", false}, {"single_word", false}};
}

/// The positions a text may fill: max_positions less RoBERTa's offset.
int64_t max_length(const ConfigNode& encoder_spec) {
  const int64_t offset = encoder_spec.has("position_offset") ? encoder_spec.at("position_offset").as_int() : 0;
  return encoder_spec.at("max_positions").as_int() - offset;
}

json wordpiece_config(const ConfigNode& saved, const std::string& model_type) {
  return {{"tokenizer_class", model_type == "electra" ? "ElectraTokenizer" : "BertTokenizer"},
          {"do_lower_case", saved.at("lowercase").as_bool()},
          {"strip_accents", saved.at("strip_accents").is_null() ? json() : json(saved.at("strip_accents").as_bool())},
          {"tokenize_chinese_chars", saved.at("tokenize_chinese_chars").as_bool()}};
}

/// AlbertTokenizer: spiece.model and the text preprocessing the tokenizer applies.
json sentencepiece_config(const fs::path& folder, const ConfigNode& saved) {
  const fs::path model_file = folder / saved.at("model").as_string();
  if (model_file.filename() != "spiece.model") fs::rename(model_file, folder / "spiece.model");
  auto flag = [&](const char* key, bool fallback) { return saved.has(key) ? saved.at(key).as_bool() : fallback; };
  return {{"tokenizer_class", "AlbertTokenizer"},
          {"do_lower_case", flag("lowercase", false)},
          {"remove_space", flag("remove_space", false)},
          {"keep_accents", flag("keep_accents", true)},
          {"bos_token", saved.at("cls_token").as_string()},
          {"eos_token", saved.at("sep_token").as_string()}};
}

/// RobertaTokenizer for RoBERTa's layout (`<s> a </s></s> b </s>`, bos/eos = cls/sep), GPT2Tokenizer for none (no
/// special tokens added); with tokenizer.json only, the Fast class of the same.
json bpe_config(const ConfigNode& saved) {
  const bool roberta = saved.at("layout").as_string() == "roberta";
  json c = {{"tokenizer_class", std::string(roberta ? "RobertaTokenizer" : "GPT2Tokenizer") +
                                    (saved.has("tokenizer_json") ? "Fast" : "")},
            {"add_prefix_space", saved.at("add_prefix_space").as_bool()},
            {"errors", "replace"},
            {"bos_token", special_entry(saved.at(roberta ? "cls_token" : "unk_token").as_string(), saved)},
            {"eos_token", special_entry(saved.at(roberta ? "sep_token" : "unk_token").as_string(), saved)}};
  if (roberta) c["trim_offsets"] = saved.at("trim_offsets").as_bool();
  return c;
}

}  // namespace

std::string write_tokenizer(const fs::path& folder, const Tokenizer& tok, const ConfigNode& encoder_spec,
                            const std::string& model_type) {
  const ConfigNode saved = tok.save(folder);
  const std::string kind = saved.has("type") ? saved.at("type").as_string() : "";
  json config;
  if (kind == "wordpiece")
    config = wordpiece_config(saved, model_type);
  else if (kind == "sentencepiece")
    config = sentencepiece_config(folder, saved);
  else if (kind == "bpe")
    config = bpe_config(saved);
  else
    return fmt::format("the tokenizer ({}) has no Hugging Face equivalent", kind.empty() ? "?" : kind);
  config["model_max_length"] = max_length(encoder_spec);
  // Only special tokens the vocabulary has: Hugging Face would add any other as a new token.
  const SpecialTokens& sp = tok.special();
  const std::pair<const char*, int32_t> specials[] = {
      {"unk_token", sp.unk}, {"cls_token", sp.cls}, {"sep_token", sp.sep}, {"pad_token", sp.pad}, {"mask_token", sp.mask}};
  json map = json::object();
  for (const auto& [key, id] : specials)
    if (id >= 0)
      config[key] = map[key] = special_entry(saved.at(key).as_string(), saved,
                                             kind != "wordpiece" && std::string(key) == "mask_token");
  for (const char* key : {"bos_token", "eos_token"})
    if (config.contains(key)) map[key] = config[key];
  write_file_atomic(folder / "tokenizer_config.json", config.dump(2) + "\n");
  write_file_atomic(folder / "special_tokens_map.json", map.dump(2) + "\n");
  return "";
}

}  // namespace stagehand::hf
