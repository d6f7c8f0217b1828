// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/hf_checkpoint.h"

#include <cstdlib>
#include <functional>
#include <map>
#include <set>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <stagehand/safetensors.h>
#include <stagehand/files.h>

#include "hf_internal.h"
#include "stagehand/sdk/torch_pickle.h"

namespace stagehand::hf {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* const kSupported = "bert, electra, roberta, albert, distilbert";

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

std::string activation_from_hf(const std::string& act, const fs::path& file) {
  if (act == "gelu") return "gelu";
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") return "gelu_tanh";
  if (act == "relu") return "relu";
  fail("{}: hidden_act '{}' is not supported; expected gelu, gelu_new (gelu_pytorch_tanh) or relu",
           file.string(), act);
}

std::string activation_to_hf(const std::string& act) { return act == "gelu_tanh" ? "gelu_new" : act; }

}  // namespace

/// DistilBERT's names for the encoder's tensors: `transformer.layer.N` with q_lin/k_lin/v_lin/out_lin,
/// sa_layer_norm, ffn.lin1/lin2 and output_layer_norm; the embeddings as BERT's.
std::string distilbert_name(const std::string& prefix, const std::string& name) {
  static const std::vector<std::pair<std::string, std::string>> renames = {
      {"attention.self.query.", "attention.q_lin."},     {"attention.self.key.", "attention.k_lin."},
      {"attention.self.value.", "attention.v_lin."},     {"attention.output.dense.", "attention.out_lin."},
      {"attention.output.LayerNorm.", "sa_layer_norm."}, {"intermediate.dense.", "ffn.lin1."},
      {"output.dense.", "ffn.lin2."},                    {"output.LayerNorm.", "output_layer_norm."}};
  if (!starts_with(name, "encoder.layer.")) return prefix + name;
  const size_t dot = name.find('.', 14);  // after the layer number
  const std::string rest = name.substr(dot + 1);
  for (const auto& [ours, theirs] : renames)
    if (starts_with(rest, ours))
      return prefix + "transformer.layer." + name.substr(14, dot - 14) + "." + theirs + rest.substr(ours.size());
  return prefix + name;
}

std::string encoder_name(const std::string& model_type, const std::string& prefix, const std::string& name) {
  if (model_type == "distilbert") return distilbert_name(prefix, name);
  if (model_type != "albert") return prefix + name;
  // ALBERT: the projection sits in the encoder; the one shared block is albert_layer_groups.0.albert_layers.0 with
  // its own sub-layer names; the pooler is a bare Linear.
  static const std::vector<std::pair<std::string, std::string>> renames = {
      {"embeddings_project.", "encoder.embedding_hidden_mapping_in."},
      {"encoder.layer.0.attention.self.", "encoder.albert_layer_groups.0.albert_layers.0.attention."},
      {"encoder.layer.0.attention.output.dense.", "encoder.albert_layer_groups.0.albert_layers.0.attention.dense."},
      {"encoder.layer.0.attention.output.LayerNorm.",
       "encoder.albert_layer_groups.0.albert_layers.0.attention.LayerNorm."},
      {"encoder.layer.0.intermediate.dense.", "encoder.albert_layer_groups.0.albert_layers.0.ffn."},
      {"encoder.layer.0.output.dense.", "encoder.albert_layer_groups.0.albert_layers.0.ffn_output."},
      {"encoder.layer.0.output.LayerNorm.", "encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm."},
      {"pooler.dense.", "pooler."}};
  for (const auto& [ours, theirs] : renames)
    if (starts_with(name, ours)) return prefix + theirs + name.substr(ours.size());
  return prefix + name;
}

std::string head_name(const std::string& model_type, const std::string& name) {
  // The mlm model's output layer is BertForMaskedLM's cls.predictions; RoBERTa's lm_head, ALBERT's predictions and
  // ELECTRA's generator_predictions / generator_lm_head hold the same tensors under other names.
  static const std::string kTransformDense = "cls.predictions.transform.dense.",
                           kTransformNorm = "cls.predictions.transform.LayerNorm.", kBias = "cls.predictions.bias";
  std::string dense, norm, bias;
  if (model_type == "roberta") {
    dense = "lm_head.dense.", norm = "lm_head.layer_norm.", bias = "lm_head.bias";
  } else if (model_type == "albert") {
    dense = "predictions.dense.", norm = "predictions.LayerNorm.", bias = "predictions.bias";
  } else if (model_type == "electra") {  // ElectraForMaskedLM: the generator's head (the decoder tied)
    dense = "generator_predictions.dense.", norm = "generator_predictions.LayerNorm.", bias = "generator_lm_head.bias";
  } else if (model_type == "distilbert") {  // DistilBertForMaskedLM: vocab_projector's weight is tied
    dense = "vocab_transform.", norm = "vocab_layer_norm.", bias = "vocab_projector.bias";
  } else {
    return name;
  }
  if (starts_with(name, kTransformDense)) return dense + name.substr(kTransformDense.size());
  if (starts_with(name, kTransformNorm)) return norm + name.substr(kTransformNorm.size());
  if (name == kBias) return bias;
  return name;
}

namespace {

using Tensors = std::map<std::string, torch::Tensor>;

Tensors load_one(const fs::path& file, bool safetensors) {
  return safetensors ? load_safetensors(file) : load_torch_state_dict(file);
}

/// A sharded checkpoint: the index's weight_map names, for every tensor, the file of the folder that holds it.
Tensors load_shards(const fs::path& folder, const fs::path& index, bool safetensors) {
  json j;
  try {
    j = json::parse(read_file(index));
  } catch (const json::exception& e) {
    fail("{}: not valid JSON ({})", index.string(), e.what());
  }
  SH_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object() && !j["weight_map"].empty(),
           "{}: no \"weight_map\" object (tensor name -> shard file); is it a sharded checkpoint's index?",
           index.string());
  std::map<std::string, std::vector<std::string>> by_shard;
  for (const auto& [name, file] : j["weight_map"].items()) {
    SH_CHECK(file.is_string(), "{}: weight_map[\"{}\"] is not a file name", index.string(), name);
    const std::string f = file.get<std::string>();
    SH_CHECK(!f.empty() && f.find('/') == std::string::npos && f != "." && f != "..",
             "{}: weight_map[\"{}\"] names '{}'; a shard must be a file of the folder itself", index.string(), name, f);
    by_shard[f].push_back(name);
  }
  Tensors out;
  for (const auto& [file, names] : by_shard) {
    const fs::path shard = folder / file;
    SH_CHECK(fs::is_regular_file(shard), "{}: the shard {} is missing (it holds {} tensor(s), e.g. {}); download it "
             "beside the index", index.string(), file, names.size(), names.front());
    Tensors part = load_one(shard, safetensors);
    for (const auto& n : names)
      SH_CHECK(part.count(n), "{}: the index puts tensor '{}' in {}, which does not hold it", index.string(), n, file);
    for (auto& [n, t] : part) out[n] = t;
  }
  return out;
}

}  // namespace

Tensors load_weights(const fs::path& folder, fs::path& weights_file) {
  // Hugging Face's order of preference: safetensors before pickles, one file before shards.
  for (const bool st : {true, false}) {
    const std::string single = st ? "model.safetensors" : "pytorch_model.bin";
    if (fs::is_regular_file(folder / single)) {
      weights_file = folder / single;
      return load_one(weights_file, st);
    }
    if (fs::is_regular_file(folder / (single + ".index.json"))) {
      weights_file = folder / (single + ".index.json");
      return load_shards(folder, weights_file, st);
    }
  }
  fail("hf: {} has no weights: neither model.safetensors nor pytorch_model.bin, nor a sharded checkpoint's index "
       "(model.safetensors.index.json, pytorch_model.bin.index.json)", folder.string());
}

namespace {

/// DistilBERT's config in BERT's keys: dim, hidden_dim, n_layers, n_heads, activation, dropout and
/// attention_dropout renamed; LayerNorm epsilon 1e-12 (hard-coded in DistilBERT); two token-type rows that stay zero
/// (DistilBERT has no token types; a pair's second segment, type 1, must add nothing either). Sinusoidal position
/// tables are stored in the weights like learned ones.
void distilbert_config(json& c, const fs::path& config_file) {
  for (const auto& [theirs, ours] : std::vector<std::pair<const char*, const char*>>{
           {"dim", "hidden_size"}, {"hidden_dim", "intermediate_size"}, {"n_layers", "num_hidden_layers"},
           {"n_heads", "num_attention_heads"}, {"activation", "hidden_act"}, {"dropout", "hidden_dropout_prob"},
           {"attention_dropout", "attention_probs_dropout_prob"}}) {
    SH_CHECK(c.contains(theirs), "{}: DistilBERT's \"{}\" is missing", config_file.string(), theirs);
    c[ours] = c[theirs];
  }
  c["layer_norm_eps"] = 1e-12;
  c["type_vocab_size"] = 2;
}

}  // namespace

Checkpoint read_folder(const fs::path& folder, const std::string& prefix) {
  SH_CHECK(fs::is_directory(folder), "hf: {} is not a folder; expected a Hugging Face model folder (config.json and "
           "model.safetensors)", folder.string());
  const fs::path config_file = folder / "config.json";
  SH_CHECK(fs::is_regular_file(config_file), "hf: {} has no config.json; expected a Hugging Face model folder",
           folder.string());
  json c;
  try {
    c = json::parse(read_file(config_file));
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON ({})", config_file.string(), e.what()));
  }
  SH_CHECK(c.is_object(), "{}: expected a JSON object", config_file.string());
  Checkpoint ck;
  ck.model_type = c.value("model_type", std::string());
  if (c.contains("architectures") && c["architectures"].is_array() && !c["architectures"].empty() &&
      c["architectures"][0].is_string())
    ck.architecture = c["architectures"][0].get<std::string>();
  const std::string& type = ck.model_type;
  SH_CHECK(type == "bert" || type == "electra" || type == "roberta" || type == "albert" || type == "distilbert",
           "{}: model_type '{}' is not supported; supported: {}", config_file.string(), type, kSupported);
  if (type == "distilbert") distilbert_config(c, config_file);
  auto get_int = [&](const char* key) {
    SH_CHECK(c.contains(key) && c[key].is_number_integer(), "{}: \"{}\" is missing or not an integer",
             config_file.string(), key);
    return c[key].get<int64_t>();
  };
  auto get_double = [&](const char* key, double fallback) {
    return c.contains(key) && c[key].is_number() ? c[key].get<double>() : fallback;
  };

  ck.tensors = load_weights(folder, ck.weights_file);
  for (auto& [name, t] : ck.tensors)
    if (t.is_floating_point()) t = t.to(torch::kFloat);
  const fs::path& weights = ck.weights_file;

  if (prefix == "auto") {
    const std::string own = type + ".";
    for (const std::string& p : {own, std::string()})
      if (ck.tensors.count(p + "embeddings.word_embeddings.weight")) {
        ck.prefix = p;
        break;
      }
    SH_CHECK(ck.tensors.count(ck.prefix + "embeddings.word_embeddings.weight"),
             "hf: {} has no embeddings.word_embeddings.weight (with or without the {} prefix); it does not hold a "
             "{} encoder",
             weights.string(), own, type);
  } else {
    ck.prefix = prefix;
  }
  const bool has_pooler = ck.tensors.count(encoder_name(type, ck.prefix, "pooler.dense.weight")) > 0;
  const int64_t hidden = get_int("hidden_size");
  const int64_t embedding = c.contains("embedding_size") ? get_int("embedding_size") : hidden;
  const std::string act =
      activation_from_hf(c.value("hidden_act", std::string(type == "albert" ? "gelu_new" : "gelu")), config_file);
  // RoBERTa counts positions from padding_idx + 1 (pad_token_id 1: rows 2...); ALBERT shares one block.
  int64_t position_offset = 0;
  if (type == "roberta") position_offset = (c.contains("pad_token_id") ? get_int("pad_token_id") : 1) + 1;
  if (type == "albert") {
    for (const char* key : {"num_hidden_groups", "inner_group_num"})
      SH_CHECK(!c.contains(key) || get_int(key) == 1,
               "{}: {} is {}; only ALBERT's released layout (one group of one shared layer) is mapped",
               config_file.string(), key, c.contains(key) ? get_int(key) : 1);
  }
  const std::string pos_type = c.value("position_embedding_type", std::string("absolute"));
  SH_CHECK(pos_type == "absolute", "{}: position_embedding_type '{}' is not supported; expected absolute",
           config_file.string(), pos_type);
  ck.encoder_spec = parse_yaml(
      fmt::format("{{type: transformer, vocab_size: {}, hidden_size: {}, embedding_size: {}, num_layers: {}, "
                  "num_heads: {}, intermediate_size: {}, max_positions: {}, type_vocab_size: {}, layer_norm_eps: {}, "
                  "activation: {}, hidden_dropout: {}, attention_dropout: {}, init_std: {}, pooler: {}}}",
                  get_int("vocab_size"), hidden, embedding, get_int("num_hidden_layers"),
                  get_int("num_attention_heads"), get_int("intermediate_size"), get_int("max_position_embeddings"),
                  c.contains("type_vocab_size") ? get_int("type_vocab_size") : 2, get_double("layer_norm_eps", 1e-12),
                  act, get_double("hidden_dropout_prob", 0.1), get_double("attention_probs_dropout_prob", 0.1),
                  get_double("initializer_range", 0.02), has_pooler ? "true" : "false"),
      config_file.string());
  if (position_offset) ck.encoder_spec.set("position_offset", ConfigNode::of(position_offset));
  if (type == "distilbert")  // no token types: zero rows, so that the sum is DistilBERT's word + position
    ck.tensors[ck.prefix + "embeddings.token_type_embeddings.weight"] = torch::zeros({2, embedding});
  if (type == "albert") ck.encoder_spec.set("shared_layers", ConfigNode::of(true));
  return ck;
}

namespace {

/// Copies `source` tensors into `target` (a module's parameters and buffers): `lookup` names the checkpoint tensor
/// for a module name ("" when it has no counterpart). Shapes must agree; returns the module names not found.
std::vector<std::string> copy_tensors(torch::nn::Module& target, const Checkpoint& ck,
                                      const std::function<std::string(const std::string&)>& lookup,
                                      std::set<std::string>& used) {
  std::vector<std::string> missing;
  auto copy = [&](const std::string& name, torch::Tensor& t) {
    const std::string key = lookup(name);
    auto it = ck.tensors.find(key);
    if (it == ck.tensors.end()) {
      missing.push_back(key.empty() ? name : key);
      return;
    }
    SH_CHECK(it->second.sizes() == t.sizes(),
             "hf: tensor '{}' has shape [{}] in the checkpoint but [{}] in the {}; the config and the weights "
             "disagree",
             it->first, fmt::join(it->second.sizes(), ", "), fmt::join(t.sizes(), ", "),
             key == encoder_name(ck.model_type, ck.prefix, name) ? "encoder" : "model");
    t.copy_(it->second);
    used.insert(it->first);
  };
  for (auto& p : target.named_parameters()) copy(p.key(), p.value());
  for (auto& b : target.named_buffers()) copy(b.key(), b.value());
  return missing;
}

void check_complete(const std::vector<std::string>& missing, const Checkpoint& ck) {
  if (missing.empty()) return;
  std::string shown;
  for (size_t i = 0; i < missing.size() && i < 5; ++i) shown += (i ? ", " : "") + missing[i];
  fail("hf: the checkpoint lacks {} tensor(s) the encoder needs: {}{}; is it a {} checkpoint of this "
           "size?", missing.size(), shown, missing.size() > 5 ? ", ..." : "", ck.model_type);
}

std::vector<std::string> not_used(const Checkpoint& ck, const std::set<std::string>& used) {
  std::vector<std::string> out;
  for (const auto& [name, t] : ck.tensors)
    if (!used.count(name)) out.push_back(name);
  return out;
}

}  // namespace

std::vector<std::string> load_into(torch::nn::Module& encoder, const Checkpoint& ck) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  check_complete(
      copy_tensors(encoder, ck, [&](const std::string& n) { return encoder_name(ck.model_type, ck.prefix, n); }, used),
      ck);
  return not_used(ck, used);
}

ModelLoad load_model(torch::nn::Module& model, const Checkpoint& ck, const std::string& encoder_child,
                     const ConfigNode* model_spec, bool as_saved) {
  const std::map<std::string, std::string> classifier =
      model_spec ? head_names_for(ck, *model_spec, as_saved) : std::map<std::string, std::string>();
  torch::NoGradGuard no_grad;
  const std::shared_ptr<torch::nn::Module> encoder = child_of(model, encoder_child);
  SH_CHECK(encoder != nullptr, "hf: the model has no '{}' submodule to load the checkpoint's encoder into",
           encoder_child);
  std::set<std::string> used;
  check_complete(
      copy_tensors(*encoder, ck, [&](const std::string& n) { return encoder_name(ck.model_type, ck.prefix, n); },
                   used),
      ck);
  ModelLoad out;
  const std::string inside = encoder_child + ".";
  auto visit = [&](const std::string& name, torch::Tensor& t) {
    if (name.rfind(inside, 0) == 0) return;
    auto named = classifier.find(name);
    const std::string key = named != classifier.end() ? named->second : head_name(ck.model_type, name);
    auto it = ck.tensors.find(key);
    if (it == ck.tensors.end()) {
      out.fresh.push_back(name);
      return;
    }
    SH_CHECK(it->second.sizes() == t.sizes(),
             "hf: tensor '{}' has shape [{}] in the checkpoint but [{}] in the model; is the head built for this "
             "checkpoint (vocabulary, number of labels)?",
             key, fmt::join(it->second.sizes(), ", "), fmt::join(t.sizes(), ", "));
    t.copy_(it->second);
    used.insert(key);
    out.heads.push_back(name);
  };
  for (auto& p : model.named_parameters()) visit(p.key(), p.value());
  for (auto& b : model.named_buffers()) visit(b.key(), b.value());
  out.unused = not_used(ck, used);
  return out;
}


namespace {

/// A special token of tokenizer_config.json / special_tokens_map.json: a string or {"content": "..."}.
std::string token_of(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return "";
}

json read_json_if(const fs::path& file) {
  if (!fs::is_regular_file(file)) return json::object();
  try {
    json j = json::parse(read_file(file));
    SH_CHECK(j.is_object(), "{}: expected a JSON object", file.string());
    return j;
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON ({})", file.string(), e.what()));
  }
}

// GPT2Tokenizer / RobertaTokenizer (vocab.json + merges.txt): the `bpe` tokenizer with tokenizer_config.json's
// add_prefix_space (default false), its special tokens (RoBERTa's spellings where absent) and which of them strip
// the white space on their left (RoBERTa's <mask>); GPT-2's classes add no special tokens, the others frame texts
// as RoBERTa does (`<s> a </s></s> b </s>`).
void bpe_spec(const fs::path& abs, const json& config, const json& special, ConfigNode::MapEntries& e) {
  const std::string cls = config.contains("tokenizer_class") && config["tokenizer_class"].is_string()
                              ? config["tokenizer_class"].get<std::string>()
                              : "";
  const bool gpt2 = cls.rfind("GPT2", 0) == 0;
  e.emplace_back("type", ConfigNode::of("bpe"));
  e.emplace_back("vocab", ConfigNode::of((abs / "vocab.json").string()));
  e.emplace_back("merges", ConfigNode::of((abs / "merges.txt").string()));
  e.emplace_back("add_prefix_space", ConfigNode::of(config.contains("add_prefix_space") &&
                                                    config["add_prefix_space"].is_boolean() &&
                                                    config["add_prefix_space"].get<bool>()));
  e.emplace_back("trim_offsets", ConfigNode::of(!gpt2));
  e.emplace_back("layout", ConfigNode::of(gpt2 ? "none" : "roberta"));
  std::vector<ConfigNode> lstrip;
  auto token = [&](const char* key, const char* fallback) {
    const json* j = config.contains(key) ? &config[key] : special.contains(key) ? &special[key] : nullptr;
    std::string t = j ? token_of(*j) : "";
    if (t.empty()) t = fallback;
    if (j && j->is_object() && j->contains("lstrip") && (*j)["lstrip"].is_boolean() && (*j)["lstrip"].get<bool>())
      lstrip.push_back(ConfigNode::of(t));
    return t;
  };
  const std::string unk = gpt2 ? token("unk_token", "<|endoftext|>") : token("unk_token", "<unk>");
  e.emplace_back("unk_token", ConfigNode::of(unk));
  e.emplace_back("cls_token", ConfigNode::of(token("cls_token", gpt2 ? "<|endoftext|>" : "<s>")));
  e.emplace_back("sep_token", ConfigNode::of(token("sep_token", gpt2 ? "<|endoftext|>" : "</s>")));
  e.emplace_back("pad_token", ConfigNode::of(token("pad_token", "<pad>")));
  e.emplace_back("mask_token", ConfigNode::of(token("mask_token", "<mask>")));
  e.emplace_back("lstrip_tokens", ConfigNode::sequence(std::move(lstrip)));
  e.emplace_back("match_special_tokens", ConfigNode::of(true));
}

}  // namespace

ConfigNode tokenizer_spec(const fs::path& folder) {
  SH_CHECK(fs::is_directory(folder), "hf: {} is not a folder; expected a Hugging Face model folder", folder.string());
  const json config = read_json_if(folder / "tokenizer_config.json");
  const json special = read_json_if(folder / "special_tokens_map.json");
  const fs::path abs = fs::absolute(folder);
  ConfigNode::MapEntries e;
  auto token = [&](const char* key, const char* fallback) {
    std::string t = config.contains(key) ? token_of(config[key]) : "";
    if (t.empty() && special.contains(key)) t = token_of(special[key]);
    e.emplace_back(key, ConfigNode::of(t.empty() ? std::string(fallback) : t));
  };
  auto flag = [&](const char* key, bool fallback) {
    return config.contains(key) && config[key].is_boolean() ? config[key].get<bool>() : fallback;
  };
  if (fs::is_regular_file(folder / "vocab.txt")) {
    // BertTokenizer's defaults: do_lower_case true, strip_accents unset (follows lower-casing), CJK split.
    e.emplace_back("type", ConfigNode::of("wordpiece"));
    e.emplace_back("vocab", ConfigNode::of((abs / "vocab.txt").string()));
    e.emplace_back("lowercase", ConfigNode::of(flag("do_lower_case", true)));
    if (config.contains("strip_accents") && config["strip_accents"].is_boolean())
      e.emplace_back("strip_accents", ConfigNode::of(config["strip_accents"].get<bool>()));
    e.emplace_back("tokenize_chinese_chars", ConfigNode::of(flag("tokenize_chinese_chars", true)));
    token("unk_token", "[UNK]");
    token("cls_token", "[CLS]");
    token("sep_token", "[SEP]");
    token("pad_token", "[PAD]");
    token("mask_token", "[MASK]");
  } else if (fs::is_regular_file(folder / "spiece.model")) {
    // AlbertTokenizer's defaults: do_lower_case true, remove_space true, keep_accents false; [CLS] [SEP] <pad>
    // <unk> [MASK], the mask token taking the space on its left; its fixed steps (`` and '' to ", the "9,"
    // re-split) and, as every Python tokenizer, special tokens typed in the text kept whole.
    e.emplace_back("type", ConfigNode::of("sentencepiece"));
    e.emplace_back("model", ConfigNode::of((abs / "spiece.model").string()));
    e.emplace_back("lowercase", ConfigNode::of(flag("do_lower_case", true)));
    e.emplace_back("remove_space", ConfigNode::of(flag("remove_space", true)));
    e.emplace_back("keep_accents", ConfigNode::of(flag("keep_accents", false)));
    const std::string cls = config.contains("tokenizer_class") && config["tokenizer_class"].is_string()
                                ? config["tokenizer_class"].get<std::string>()
                                : "AlbertTokenizer";
    e.emplace_back("albert_quirks", ConfigNode::of(cls.rfind("AlbertTokenizer", 0) == 0));
    e.emplace_back("special_tokens_in_text", ConfigNode::of(true));
    token("cls_token", "[CLS]");
    token("sep_token", "[SEP]");
    token("pad_token", "<pad>");
    token("unk_token", "<unk>");
    token("mask_token", "[MASK]");
    // AddedToken("[MASK]", lstrip=True) unless the config says otherwise.
    const json* mask = config.contains("mask_token") ? &config["mask_token"] : nullptr;
    const bool lstrip = !(mask && mask->is_object() && mask->contains("lstrip") && (*mask)["lstrip"].is_boolean() &&
                          !(*mask)["lstrip"].get<bool>());
    std::vector<ConfigNode> l;
    if (lstrip) l.push_back(e.back().second.clone());
    e.emplace_back("lstrip_tokens", ConfigNode::sequence(std::move(l)));
  } else if (fs::is_regular_file(folder / "vocab.json") && fs::is_regular_file(folder / "merges.txt")) {
    bpe_spec(abs, config, special, e);
  } else if (fs::is_regular_file(folder / "tokenizer.json")) {
    // A fast tokenizer alone: the `bpe` tokenizer reads its model, added tokens and post-processor (and says so
    // when the model is not byte-level BPE).
    e.emplace_back("type", ConfigNode::of("bpe"));
    e.emplace_back("tokenizer_json", ConfigNode::of((abs / "tokenizer.json").string()));
  } else {
    fail("hf: {} has no vocab.txt (WordPiece), spiece.model (SentencePiece), vocab.json + merges.txt or "
         "tokenizer.json (byte-level BPE); name the tokenizer yourself",
         folder.string());
  }
  return ConfigNode::map(std::move(e));
}

std::string write_folder(const fs::path& folder, torch::nn::Module& encoder, const ConfigNode& spec,
                         const std::string& model_type) {
  auto opt = [&](const char* key) -> const ConfigNode& {
    SH_CHECK(spec.has(key), "hf export: the encoder spec has no '{}'; only `transformer` encoders can be exported",
             key);
    return spec.at(key);
  };
  SH_CHECK(spec.has("type") && spec.at("type").as_string() == "transformer",
           "hf export: only `transformer` encoders map to a Hugging Face model; this one is '{}'",
           spec.has("type") ? spec.at("type").as_string() : std::string("?"));
  const int64_t hidden = opt("hidden_size").as_int(), embedding = opt("embedding_size").as_int();
  const bool pooler = opt("pooler").as_bool();
  const int64_t offset = spec.has("position_offset") ? spec.at("position_offset").as_int() : 0;
  const bool shared = spec.has("shared_layers") && spec.at("shared_layers").as_bool();
  std::string type = model_type;
  if (type == "auto")
    type = shared ? "albert" : offset > 0 ? "roberta" : (!pooler || embedding != hidden) ? "electra" : "bert";
  SH_CHECK(type == "bert" || type == "electra" || type == "roberta" || type == "albert",
           "hf export: model_type '{}' is not one of auto, bert, electra, roberta, albert", type);
  SH_CHECK((type == "albert") == shared,
           "hf export: {}; export it as model_type {}",
           shared ? "the encoder shares one block across layers, which only ALBERT does"
                  : "ALBERT shares one block across layers, but this encoder has a block per layer",
           shared ? "albert" : "bert, electra or roberta");
  SH_CHECK((type == "roberta") == (offset > 0),
           "hf export: {} (position_offset {}); export it as model_type {}",
           offset > 0 ? "the encoder's positions start at a later row of the table, which only RoBERTa does"
                      : "RoBERTa's positions start after its padding row, but this encoder's start at row 0",
           offset, offset > 0 ? "roberta" : "bert, electra or albert");
  SH_CHECK(type == "electra" || type == "albert" || embedding == hidden,
           "hf export: {} has no embedding projection, but embedding_size {} differs from hidden_size {}; export it "
           "as model_type electra",
           type == "bert" ? "BERT" : "RoBERTa", embedding, hidden);
  static const std::map<std::string, std::string> kArchitecture = {
      {"bert", "BertModel"}, {"electra", "ElectraModel"}, {"roberta", "RobertaModel"}, {"albert", "AlbertModel"}};
  json c = {{"architectures", {kArchitecture.at(type)}},
            {"model_type", type},
            {"vocab_size", opt("vocab_size").as_int()},
            {"hidden_size", hidden},
            {"num_hidden_layers", opt("num_layers").as_int()},
            {"num_attention_heads", opt("num_heads").as_int()},
            {"intermediate_size", opt("intermediate_size").as_int()},
            {"hidden_act", activation_to_hf(opt("activation").as_string())},
            {"hidden_dropout_prob", opt("hidden_dropout").as_double()},
            {"attention_probs_dropout_prob", opt("attention_dropout").as_double()},
            {"max_position_embeddings", opt("max_positions").as_int()},
            {"type_vocab_size", opt("type_vocab_size").as_int()},
            {"initializer_range", opt("init_std").as_double()},
            {"layer_norm_eps", opt("layer_norm_eps").as_double()},
            {"position_embedding_type", "absolute"}};
  if (type == "electra" || type == "albert") c["embedding_size"] = embedding;
  if (type == "albert") {
    c["num_hidden_groups"] = 1;
    c["inner_group_num"] = 1;
  }
  if (type == "roberta") {  // HF counts positions from pad_token_id + 1
    c["pad_token_id"] = offset - 1;
    c["bos_token_id"] = 0;
    c["eos_token_id"] = 2;
  }
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : encoder.named_parameters()) tensors[encoder_name(type, type + ".", p.key())] = p.value().detach();
  for (const auto& b : encoder.named_buffers()) tensors[encoder_name(type, type + ".", b.key())] = b.value().detach();
  fs::create_directories(folder);
  save_safetensors(folder / "model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(folder / "config.json", c.dump(2) + "\n");
  return type;
}

}  // namespace stagehand::hf
