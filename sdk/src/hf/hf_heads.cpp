// SPDX-License-Identifier: Apache-2.0
// Hugging Face heads: which model a folder's architecture is, where each head's tensors go in and out, and
// ELECTRA's generator as its own folder (stagehand/sdk/hf_checkpoint.h).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <stagehand/encoder.h>
#include <stagehand/files.h>
#include <stagehand/safetensors.h>

#include "hf_internal.h"
#include "stagehand/sdk/hf_checkpoint.h"

namespace stagehand::hf {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

json read_config(const fs::path& folder) {
  try {
    return json::parse(read_file(folder / "config.json"));
  } catch (const json::exception& e) {
    fail("{}: not valid JSON ({})", (folder / "config.json").string(), e.what());
  }
}

const std::map<std::string, std::string>& class_prefix() {
  static const std::map<std::string, std::string> m = {{"bert", "Bert"},     {"electra", "Electra"},
                                                       {"roberta", "Roberta"}, {"albert", "Albert"},
                                                       {"distilbert", "DistilBert"}};
  return m;
}

/// The two-class head over the pooled output of a BertForPreTraining (next sentence) or AlbertForPreTraining
/// (sentence order) folder: its tensor-name prefix, "" for any other architecture.
std::string pair_head(const std::string& architecture) {
  if (architecture == "BertForPreTraining") return "cls.seq_relationship.";
  if (architecture == "AlbertForPreTraining") return "sop_classifier.classifier.";
  return "";
}

int64_t labels_of(const json& c, const fs::path& folder) {
  int64_t labels = 0;
  if (c.contains("id2label") && c["id2label"].is_object()) labels = static_cast<int64_t>(c["id2label"].size());
  if (c.contains("num_labels") && c["num_labels"].is_number_integer()) labels = c["num_labels"].get<int64_t>();
  SH_CHECK(labels >= 1, "hf: {}'s config.json has no id2label or num_labels; how many classes has its head?",
           folder.string());
  return labels;
}

std::string text_of(const ConfigNode& m, const char* key) {
  const ConfigNode* n = m.is_map() ? m.find(key) : nullptr;
  return n && !n->is_null() ? n->as_string() : std::string();
}

/// The classifier layout of <Type>ForSequenceClassification.
std::string sequence_classifier_head(const Checkpoint& ck) {
  const std::string& type = ck.model_type;
  if (type == "bert" || type == "albert") return "pooling: pooler, head: {type: mlp, hidden: []}";
  return fmt::format("pooling: cls, head: {{type: mlp, hidden: [{}], activation: {}}}",
                     ck.encoder_spec.at("hidden_size").as_int(),
                     type == "electra" ? "gelu" : type == "distilbert" ? "relu" : "tanh");
}

}  // namespace

ConfigNode model_spec(const fs::path& folder, const Checkpoint& ck) {
  const json c = read_config(folder);
  const std::string& arch = ck.architecture;
  std::string yaml;
  if (!pair_head(arch).empty()) {
    SH_CHECK(ck.tensors.count(pair_head(arch) + "weight"),
             "hf: {}'s config.json names {}, but {} has no {}weight; the folder's weights are not that model's",
             folder.string(), arch, ck.weights_file.string(), pair_head(arch));
    yaml = "{type: classifier, pooling: pooler, head: {type: mlp, hidden: []}, num_labels: 2}";
  } else if (arch == "ElectraForPreTraining") {
    yaml = "{type: electra_discriminator}";
  } else if (ends_with(arch, "ForQuestionAnswering")) {
    yaml = "{type: extractive_qa}";
  } else if (ends_with(arch, "ForTokenClassification")) {
    yaml = fmt::format("{{type: tagger, num_labels: {}}}", labels_of(c, folder));
  } else if (ends_with(arch, "ForMaskedLM")) {
    yaml = "{type: mlm}";  // its special ids come from the folder's tokenizer (the hf model plugin sets them)
  } else if (ends_with(arch, "ForSequenceClassification")) {
    yaml = fmt::format("{{type: classifier, {}, num_labels: {}}}", sequence_classifier_head(ck), labels_of(c, folder));
  } else {
    fail("hf: {}'s config.json names the architecture '{}'; a folder loads as a model here when it is "
         "<Type>ForSequenceClassification, <Type>ForTokenClassification, <Type>ForQuestionAnswering, "
         "<Type>ForMaskedLM, ElectraForPreTraining, BertForPreTraining or AlbertForPreTraining (the encoder "
         "alone: {{type: hf, path: ...}} as an encoder)",
         folder.string(), arch.empty() ? "(none)" : arch);
  }
  ConfigNode spec = parse_yaml(yaml, (folder / "config.json").string());
  spec.set("encoder", ck.encoder_spec.clone());
  return spec;
}

std::vector<std::string> label_names(const fs::path& folder) {
  const json c = read_config(folder);
  std::map<int64_t, std::string> by_id;
  if (c.contains("id2label") && c["id2label"].is_object()) {
    for (const auto& [k, v] : c["id2label"].items()) {
      char* end = nullptr;
      const long id = std::strtol(k.c_str(), &end, 10);
      SH_CHECK(*end == '\0' && id >= 0 && v.is_string(),
               "hf: {}/config.json: id2label entry \"{}\" is not an id mapped to a name", folder.string(), k);
      by_id[id] = v.get<std::string>();
    }
  }
  const std::string arch = c.contains("architectures") && c["architectures"].is_array() &&
                                   !c["architectures"].empty() && c["architectures"][0].is_string()
                               ? c["architectures"][0].get<std::string>()
                               : "";
  // transformers' default names (LABEL_0, LABEL_1) say nothing; a pretraining folder's pair head has real classes.
  auto name_at = [&](int64_t id) { return by_id.count(id) ? by_id.at(id) : std::string(); };
  const bool unnamed = by_id.empty() || (by_id.size() == 2 && name_at(0) == "LABEL_0" && name_at(1) == "LABEL_1");
  if (unnamed && arch == "BertForPreTraining") return {"is_next", "random"};
  if (unnamed && arch == "AlbertForPreTraining") return {"in_order", "swapped"};
  std::vector<std::string> out;
  for (int64_t i = 0; i < static_cast<int64_t>(by_id.size()); ++i) {
    SH_CHECK(by_id.count(i), "hf: {}/config.json: id2label has no id {}; expected ids 0..{}", folder.string(), i,
             by_id.size() - 1);
    out.push_back(by_id[i]);
  }
  return out;
}

HeadNames classifier_head_names(const std::string& type, const ConfigNode& spec) {
  HeadNames out;
  auto text = [](const ConfigNode& m, const char* key, const std::string& fallback) {
    const ConfigNode* n = m.is_map() ? m.find(key) : nullptr;
    return n && !n->is_null() ? n->as_string() : fallback;
  };
  if (text(spec, "type", "") != "classifier") {
    out.why_not = fmt::format("only a classifier's head maps (this model is '{}')", text(spec, "type", "?"));
    return out;
  }
  const ConfigNode* head = spec.find("head");
  const ConfigNode* enc = spec.find("encoder");
  if (!head || !head->is_map() || text(*head, "type", "") != "mlp" || !enc || !enc->has("hidden_size")) {
    out.why_not = "only an mlp head maps";
    return out;
  }
  std::vector<int64_t> hidden;
  if (const ConfigNode* h = head->find("hidden"); h && h->is_sequence())
    for (const auto& x : h->items()) hidden.push_back(x.as_int());
  const std::string pooling = text(spec, "pooling", "cls"), act = text(*head, "activation", "tanh");
  const bool batch_norm = head->has("batch_norm") && head->at("batch_norm").as_bool();
  const int64_t width = enc->at("hidden_size").as_int();
  if (type == "bert" || type == "albert") {
    if (pooling == "pooler" && hidden.empty() && !batch_norm) {
      out.names = {{"head.layers.0.weight", "classifier.weight"}, {"head.layers.0.bias", "classifier.bias"}};
    } else {
      out.why_not = fmt::format("{}ForSequenceClassification is the pooler then one linear layer (pooling: pooler, "
                                "head {{type: mlp, hidden: []}}); this classifier has pooling {} and {} hidden "
                                "layer(s)",
                                type == "bert" ? "Bert" : "Albert", pooling, hidden.size());
    }
    return out;
  }
  if (type == "distilbert") {
    if (pooling == "cls" && hidden == std::vector<int64_t>{width} && act == "relu" && !batch_norm) {
      out.names = {{"head.layers.0.weight", "pre_classifier.weight"},
                   {"head.layers.0.bias", "pre_classifier.bias"},
                   {"head.layers.1.weight", "classifier.weight"},
                   {"head.layers.1.bias", "classifier.bias"}};
    } else {
      out.why_not = fmt::format("DistilBertForSequenceClassification is [CLS] -> pre_classifier({}) -> relu -> "
                                "classifier (pooling: cls, head {{type: mlp, hidden: [{}], activation: relu}}); this "
                                "classifier has pooling {}, hidden [{}], activation {}",
                                width, width, pooling, fmt::join(hidden, ", "), act);
    }
    return out;
  }
  const std::string want_act = type == "electra" ? "gelu" : "tanh";
  if (pooling == "cls" && hidden == std::vector<int64_t>{width} && act == want_act && !batch_norm) {
    out.names = {{"head.layers.0.weight", "classifier.dense.weight"},
                 {"head.layers.0.bias", "classifier.dense.bias"},
                 {"head.layers.1.weight", "classifier.out_proj.weight"},
                 {"head.layers.1.bias", "classifier.out_proj.bias"}};
  } else {
    out.why_not = fmt::format("{}ForSequenceClassification is [CLS] -> dense({}) -> {} -> out_proj (pooling: cls, "
                              "head {{type: mlp, hidden: [{}], activation: {}}}); this classifier has pooling {}, "
                              "hidden [{}], activation {}",
                              type == "electra" ? "Electra" : "Roberta", width, want_act, width, want_act, pooling,
                              fmt::join(hidden, ", "), act);
  }
  return out;
}

std::shared_ptr<torch::nn::Module> child_of(torch::nn::Module& model, const std::string& name) {
  for (const auto& c : model.named_children())
    if (c.key() == name) return c.value();
  return nullptr;
}

std::map<std::string, std::string> head_names_for(const Checkpoint& ck, const ConfigNode& spec, bool as_saved) {
  std::map<std::string, std::string> names = classifier_head_names(ck.model_type, spec).names;
  const std::string pair = as_saved ? pair_head(ck.architecture) : "";
  if (!pair.empty())  // classifier.{weight, bias} -> cls.seq_relationship.* / sop_classifier.classifier.*
    for (auto& [ours, theirs] : names) theirs = pair + theirs.substr(theirs.rfind('.') + 1);
  return names;
}

namespace {

/// Where a model's head goes in Hugging Face's layout: model tensor -> checkpoint name, the architecture, whether
/// config.json gets id2label; `why_not` when it does not map.
struct HeadLayout {
  std::map<std::string, std::string> names;
  std::string architecture, why_not;
  bool labelled = false;
};

/// Every parameter of `model` under one of `prefixes`, named by `rename`.
std::map<std::string, std::string> params_under(torch::nn::Module& model, const std::vector<std::string>& prefixes,
                                                const std::function<std::string(const std::string&)>& rename) {
  std::map<std::string, std::string> out;
  for (const auto& p : model.named_parameters())
    for (const auto& prefix : prefixes)
      if (starts_with(p.key(), prefix)) out[p.key()] = rename(p.key());
  return out;
}

HeadLayout head_layout(torch::nn::Module& model, const ConfigNode& spec, const std::string& type) {
  const std::string kind = text_of(spec, "type");
  auto same = [](const std::string& n) { return n; };
  HeadLayout h;
  const std::string cls = class_prefix().count(type) ? class_prefix().at(type) : type;
  if (kind == "classifier") {
    HeadNames c = classifier_head_names(type, spec);
    h.names = c.names, h.why_not = c.why_not, h.labelled = true;
    h.architecture = cls + "ForSequenceClassification";
  } else if (kind == "mlm") {
    // Each architecture's head applies its own activation: BERT's and ALBERT's the config's hidden_act (the
    // encoder's, as the mlm model does), RoBERTa's and ELECTRA's generator head always the erf GELU.
    const std::string act = spec.has("encoder") ? text_of(spec.at("encoder"), "activation") : "";
    if ((type == "electra" || type == "roberta") && act != "gelu" && !act.empty())
      h.why_not = fmt::format("{}ForMaskedLM's head applies the erf GELU, but this model's head applies {}", cls, act);
    h.names = params_under(model, {"cls."}, [&](const std::string& n) { return head_name(type, n); });
    h.architecture = cls + "ForMaskedLM";
  } else if (kind == "tagger") {
    h.names = params_under(model, {"classifier."}, same), h.labelled = true;
    h.architecture = cls + "ForTokenClassification";
  } else if (kind == "extractive_qa") {
    h.names = params_under(model, {"qa_outputs."}, same);
    h.architecture = cls + "ForQuestionAnswering";
  } else if (kind == "electra_discriminator" || kind == "electra") {
    if (type != "electra") h.why_not = "replaced-token detection is ELECTRA's head; export it as model_type electra";
    h.names = params_under(model, {"discriminator_predictions."}, same);
    h.architecture = "ElectraForPreTraining";
  } else {
    h.why_not = fmt::format("a '{}' model's head has no Hugging Face class (classifier, mlm, tagger, extractive_qa "
                            "and ELECTRA's discriminator have)",
                            kind.empty() ? "?" : kind);
  }
  if (h.why_not.empty() && h.names.empty())
    h.why_not = fmt::format("the '{}' model has none of its head's tensors; the model and its spec disagree", kind);
  return h;
}

void write_labels(json& c, int64_t labels, const std::vector<std::string>& label_names) {
  SH_CHECK(label_names.empty() || static_cast<int64_t>(label_names.size()) == labels,
           "hf export: {} label names for a head of {} labels", label_names.size(), labels);
  json id2label = json::object(), label2id = json::object();
  for (int64_t i = 0; i < labels; ++i) {
    const std::string name = label_names.empty() ? fmt::format("LABEL_{}", i) : label_names[static_cast<size_t>(i)];
    id2label[std::to_string(i)] = name;
    label2id[name] = i;
  }
  c["id2label"] = id2label;
  c["label2id"] = label2id;
}

/// A folder's weights and config.json written again, with what a head added to them.
void rewrite(const fs::path& folder, const std::map<std::string, torch::Tensor>& tensors, const json& config) {
  save_safetensors(folder / "model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(folder / "config.json", config.dump(2) + "\n");
}

}  // namespace

std::string add_head(const fs::path& folder, torch::nn::Module& model, const ConfigNode& spec, const std::string& type,
                     const std::vector<std::string>& label_names) {
  const HeadLayout h = head_layout(model, spec, type);
  if (!h.why_not.empty()) return h.why_not;
  auto tensors = load_safetensors(folder / "model.safetensors");
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : model.named_parameters()) params[p.key()] = p.value().detach();
  int64_t labels = 0;
  for (const auto& [ours, theirs] : h.names) {
    auto it = params.find(ours);
    SH_CHECK(it != params.end(), "hf export: the model has no tensor '{}' that its spec's head has; the model and its "
             "spec disagree", ours);
    tensors[theirs] = it->second;
    if (ends_with(theirs, "classifier.weight") || ends_with(theirs, "out_proj.weight")) labels = it->second.size(0);
  }
  json c = read_config(folder);
  c["architectures"] = {h.architecture};
  if (h.labelled) write_labels(c, labels, label_names);
  rewrite(folder, tensors, c);
  return "";
}

namespace {

/// The generator's architecture against the folder's: hidden size, layers, heads, FFN, embedding and vocabulary.
void check_generator_shape(const ConfigNode& ours, const Checkpoint& ck) {
  std::string differs;
  for (const char* key : {"vocab_size", "embedding_size", "hidden_size", "num_layers", "num_heads",
                          "intermediate_size", "max_positions", "type_vocab_size"}) {
    const int64_t a = ours.has(key) ? ours.at(key).as_int() : -1, b = ck.encoder_spec.at(key).as_int();
    if (a != b) differs += fmt::format("{}{} {} here, {} in the folder", differs.empty() ? "" : "; ", key, a, b);
  }
  SH_CHECK(differs.empty(), "hf: the model's generator is not the folder's ({}); build the electra model with "
           "`generator: {{type: hf, path: FOLDER}}` so that its architecture is the folder's", differs);
}

}  // namespace

GeneratorLoad load_generator(torch::nn::Module& model, const Checkpoint& ck, bool keep_embeddings) {
  SH_CHECK(ck.model_type == "electra", "hf: {} is a {} checkpoint; ELECTRA's generator is an electra "
           "(ElectraForMaskedLM) folder", ck.weights_file.string(), ck.model_type);
  auto generator = child_of(model, "generator");
  auto* enc = dynamic_cast<Encoder*>(generator.get());
  SH_CHECK(enc != nullptr, "hf: the model has no generator to load {} into; only the electra model has one",
           ck.weights_file.string());
  check_generator_shape(enc->spec(), ck);
  torch::NoGradGuard no_grad;
  GeneratorLoad out;
  std::set<std::string> used;
  std::vector<std::string> missing;
  auto load = [&](const std::string& name, torch::Tensor& t, const std::string& key, bool compare_only) {
    auto it = ck.tensors.find(key);
    if (it == ck.tensors.end()) return missing.push_back(key);
    SH_CHECK(it->second.sizes() == t.sizes(), "hf: tensor '{}' has shape [{}] in {} but [{}] in the model's {}", key,
             fmt::join(it->second.sizes(), ", "), ck.weights_file.string(), fmt::join(t.sizes(), ", "), name);
    if (compare_only)
      out.embedding_difference = std::max(out.embedding_difference, (t - it->second).abs().max().item<double>());
    else
      t.copy_(it->second);
    used.insert(key);
  };
  for (auto& p : generator->named_parameters())
    load(p.key(), p.value(), encoder_name("electra", ck.prefix, p.key()),
         keep_embeddings && starts_with(p.key(), "embeddings."));
  for (auto& p : model.named_parameters())
    if (starts_with(p.key(), "generator_predictions.") || starts_with(p.key(), "generator_lm_head.")) {
      load(p.key(), p.value(), p.key(), false);
      out.heads.push_back(p.key());
    }
  SH_CHECK(missing.empty(), "hf: {} lacks {} tensor(s) of ELECTRA's generator: {}; is it an ElectraForMaskedLM "
           "folder?", ck.weights_file.string(), missing.size(),
           fmt::join(missing.begin(), missing.begin() + std::min<long>(5, missing.size()), ", "));
  for (const auto& [name, t] : ck.tensors)
    if (!used.count(name)) out.unused.push_back(name);
  return out;
}

void write_generator(const fs::path& folder, torch::nn::Module& model, const ConfigNode& spec) {
  auto generator = child_of(model, "generator");
  SH_CHECK(generator != nullptr && spec.has("generator"),
           "hf export: the model has no generator; only the electra model has one");
  write_folder(folder, *generator, spec.at("generator"), "electra");
  auto tensors = load_safetensors(folder / "model.safetensors");
  for (const auto& p : model.named_parameters())
    if (starts_with(p.key(), "generator_predictions.") || starts_with(p.key(), "generator_lm_head."))
      tensors[p.key()] = p.value().detach();
  json c = read_config(folder);
  c["architectures"] = {"ElectraForMaskedLM"};
  rewrite(folder, tensors, c);
}

}  // namespace stagehand::hf
