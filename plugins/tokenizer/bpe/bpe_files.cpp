// SPDX-License-Identifier: Apache-2.0
#include "bpe_files.h"

#include <nlohmann/json.hpp>

#include <stagehand/error.h>
#include <stagehand/files.h>

namespace stagehand::bpe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json parse_json(const fs::path& file, const char* what) {
  SH_CHECK(fs::is_regular_file(file), "bpe tokenizer: {} '{}' does not exist; expected {}", what, file.string(),
           what == std::string("tokenizer.json") ? "a Hugging Face tokenizer.json" : "GPT-2's vocab.json format");
  try {
    return json::parse(read_file(file));
  } catch (const json::exception& e) {
    fail("bpe tokenizer: {} is not valid JSON ({}); expected {}", file.string(), e.what(), what);
  }
}

Vocab vocab_of(const json& j, const std::string& where) {
  SH_CHECK(j.is_object(), "bpe tokenizer: {} is not a JSON object; expected token -> id pairs", where);
  Vocab v;
  for (const auto& [token, id] : j.items()) {
    SH_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < (1 << 30),
             "bpe tokenizer: {}: the id of '{}' is {}; expected a non-negative integer", where, token, id.dump());
    v.add(token, id.get<int32_t>());
  }
  SH_CHECK(v.size() > 0, "bpe tokenizer: {} is empty; expected a vocabulary", where);
  return v;
}

MergePair split_merge(const std::string& line, const std::string& where) {
  const size_t space = line.find(' ');
  SH_CHECK(space != std::string::npos && space > 0 && space + 1 < line.size() &&
               line.find(' ', space + 1) == std::string::npos,
           "bpe tokenizer: {}: '{}' is not a merge; expected two tokens separated by one space", where, line);
  return {line.substr(0, space), line.substr(space + 1)};
}

bool flag(const json& j, const char* key, bool fallback) {
  return j.is_object() && j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : fallback;
}

// The ByteLevel pre-tokenizer (alone, or the only member of a Sequence): its add_prefix_space.
bool byte_level_prefix_space(const json& pre, const std::string& file) {
  const std::string type = pre.is_object() && pre.contains("type") ? pre["type"].get<std::string>() : "";
  if (type == "Sequence" && pre.contains("pretokenizers") && pre["pretokenizers"].size() == 1)
    return byte_level_prefix_space(pre["pretokenizers"][0], file);
  SH_CHECK(type == "ByteLevel", "bpe tokenizer: {}: the pre-tokenizer is {}; expected ByteLevel (GPT-2, RoBERTa); "
           "this tokenizer reads byte-level BPE only", file, pre.is_null() ? "null" : pre.dump());
  SH_CHECK(flag(pre, "use_regex", true), "bpe tokenizer: {}: the ByteLevel pre-tokenizer has use_regex false; "
           "expected GPT-2's regex (use_regex true)", file);
  return flag(pre, "add_prefix_space", true);
}

void read_model(const json& model, const std::string& file, TokenizerJson& out) {
  SH_CHECK(model.is_object() && model.value("type", std::string()) == "BPE",
           "bpe tokenizer: {}: the model is {}; expected a BPE model (WordPiece and Unigram folders are read by the "
           "wordpiece and sentencepiece tokenizers)", file, model.is_object() ? model.value("type", std::string("?")) : "absent");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    SH_CHECK(!model.contains(key) || model[key].is_null() || model[key] == "",
             "bpe tokenizer: {}: the model's {} is {}; byte-level BPE has none, and this tokenizer does not "
             "support one", file, key, model[key].dump());
  SH_CHECK(!flag(model, "byte_fallback", false) && !flag(model, "ignore_merges", false),
           "bpe tokenizer: {}: byte_fallback and ignore_merges are not supported; expected both false (GPT-2, RoBERTa)",
           file);
  SH_CHECK(!model.contains("dropout") || model["dropout"].is_null() || model["dropout"] == 0,
           "bpe tokenizer: {}: BPE dropout ({}) is not supported; expected null", file, model["dropout"].dump());
  out.vocab = vocab_of(model.value("vocab", json()), file + " (model.vocab)");
  const json& merges = model.contains("merges") ? model["merges"] : json::array();
  SH_CHECK(merges.is_array(), "bpe tokenizer: {}: model.merges is not a list", file);
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const std::string where = file + " (model.merges[" + std::to_string(i) + "])";
    if (m.is_string()) {
      out.merges.push_back(split_merge(m.get<std::string>(), where));
    } else {
      SH_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
               "bpe tokenizer: {}: {} is not a merge; expected [\"a\", \"b\"] or \"a b\"", where, m.dump());
      out.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) out.unk_token = model["unk_token"];
}

void read_post_processor(const json& post, const std::string& file, TokenizerJson& out) {
  const std::string type = post.is_object() ? post.value("type", std::string()) : "";
  out.layout = "none";
  if (post.is_null()) return;
  SH_CHECK(type == "ByteLevel" || type == "RobertaProcessing" || type == "BertProcessing",
           "bpe tokenizer: {}: post-processor {} is not supported; expected ByteLevel, RobertaProcessing, "
           "BertProcessing or null", file, type.empty() ? post.dump() : type);
  out.options.trim_offsets = flag(post, "trim_offsets", type != "BertProcessing");
  out.options.trim_keeps_prefix = flag(post, "add_prefix_space", true);
  if (type == "ByteLevel") return;
  out.layout = type == "RobertaProcessing" ? "roberta" : "bert";
  auto token = [&](const char* key) {
    SH_CHECK(post.contains(key) && post[key].is_array() && !post[key].empty() && post[key][0].is_string(),
             "bpe tokenizer: {}: the post-processor's {} is not [\"token\", id]", file, key);
    return post[key][0].get<std::string>();
  };
  out.cls_token = token("cls");
  out.sep_token = token("sep");
}

void read_added_tokens(const json& added, const std::string& file, TokenizerJson& out) {
  if (added.is_null()) return;
  SH_CHECK(added.is_array(), "bpe tokenizer: {}: added_tokens is not a list", file);
  for (const json& a : added) {
    SH_CHECK(a.is_object() && a.contains("content") && a["content"].is_string() && a.contains("id") &&
                 a["id"].is_number_integer() && a["id"].get<int64_t>() >= 0,
             "bpe tokenizer: {}: added token {} has no content or id", file, a.dump());
    SH_CHECK(!flag(a, "single_word", false), "bpe tokenizer: {}: added token '{}' has single_word true, which this "
             "tokenizer does not support; expected single_word false", file, a["content"].get<std::string>());
    AddedToken t;
    t.content = a["content"];
    t.id = a["id"].get<int32_t>();
    t.lstrip = flag(a, "lstrip", false);
    t.rstrip = flag(a, "rstrip", false);
    t.normalized = flag(a, "normalized", false);
    t.special = flag(a, "special", false);
    out.options.added.push_back(std::move(t));
  }
}

}  // namespace

Vocab read_vocab_json(const fs::path& file) { return vocab_of(parse_json(file, "vocab.json"), file.string()); }

std::vector<MergePair> read_merges_txt(const fs::path& file, size_t& first_line) {
  SH_CHECK(fs::is_regular_file(file), "bpe tokenizer: merges file '{}' does not exist; expected GPT-2's merges.txt "
           "(one merge \"a b\" per line)", file.string());
  const std::string text = read_file(file);
  std::vector<MergePair> merges;
  first_line = 0;
  size_t line_no = 0;
  for (size_t at = 0; at < text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(at, nl - at);
    at = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    if (first_line == 0) first_line = line_no;
    merges.push_back(split_merge(line, file.string() + ":" + std::to_string(line_no)));
  }
  if (first_line == 0) first_line = 1;
  return merges;
}

TokenizerJson read_tokenizer_json(const fs::path& file) {
  const json j = parse_json(file, "tokenizer.json");
  const std::string name = file.string();
  SH_CHECK(j.is_object() && j.contains("model"), "bpe tokenizer: {} has no \"model\"; expected a Hugging Face "
           "tokenizer.json", name);
  SH_CHECK(!j.contains("normalizer") || j["normalizer"].is_null(), "bpe tokenizer: {}: normalizer {} is not "
           "supported; expected null (GPT-2 and RoBERTa have none)", name, j.value("normalizer", json()).dump());
  TokenizerJson out;
  read_model(j["model"], name, out);
  out.options.add_prefix_space = byte_level_prefix_space(j.value("pre_tokenizer", json()), name);
  out.options.trim_keeps_prefix = out.options.add_prefix_space;
  read_post_processor(j.value("post_processor", json()), name, out);
  read_added_tokens(j.value("added_tokens", json()), name, out);
  return out;
}

std::string vocab_json_text(const Vocab& vocab) {
  std::string out = "{";
  bool first = true;
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const std::string& t = vocab.token(id);
    if (t.empty()) continue;
    out += first ? "" : ",";
    out += json(t).dump() + ":" + std::to_string(id);
    first = false;
  }
  return out + "}\n";
}

std::string merges_txt_text(const Vocab& vocab, const std::vector<std::pair<int32_t, int32_t>>& merges) {
  std::string out = "#version: 0.2\n";
  for (const auto& [a, b] : merges) out += vocab.token(a) + " " + vocab.token(b) + "\n";
  return out;
}

}  // namespace stagehand::bpe
