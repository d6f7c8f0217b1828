// SPDX-License-Identifier: Apache-2.0
// Plugin `hf`: Hugging Face model folders in and out (stagehand/sdk/hf_checkpoint.h has the mapping).
//   encoder hf       {type: hf, path: FOLDER}: a `transformer` built from FOLDER/config.json with the weights of
//                    FOLDER/model.safetensors or FOLDER/pytorch_model.bin (BERT, ELECTRA, RoBERTa or ALBERT, with or without the
//                    bert./electra. prefix). Use it wherever an encoder is named:
//                    `model: {type: classifier, encoder: {type: hf, path: ...}}`. Tensors it does not use (MLM/NSP
//                    heads, position_ids) are listed on stderr.
//   model hf         {type: hf, path: FOLDER}: a fine-tuned <Type>ForSequenceClassification folder as a `classifier`
//                    with that class's head (evaluate, predict, embed with it; `runner predict FOLDER`).
//   tokenizer hf     {type: hf, path: FOLDER}: the folder's own tokenizer, a `wordpiece` (vocab.txt),
//                    `sentencepiece` (spiece.model) or `bpe` (vocab.json + merges.txt, or tokenizer.json) tokenizer
//                    set up from tokenizer_config.json, built by type name through the registry.
//   stage export_hf  writes an earlier stage's trained encoder (with a classifier's head where it maps onto
//                    <Type>ForSequenceClassification, and with `tokenizer` a WordPiece vocabulary with
//                    tokenizer_config.json and special_tokens_map.json) as a Hugging Face folder `hf/` in its
//                    output, and provides it as an encoder ({type: hf, path: hf}) to later stages.
#include <iostream>

#include <nlohmann/json.hpp>

#include <stagehand/encoder.h>
#include <stagehand/model.h>
#include <stagehand/plugin.h>
#include <stagehand/stage.h>
#include <stagehand/tokenizer.h>
#include <stagehand/files.h>

#include <stagehand/sdk/hf_checkpoint.h>

namespace stagehand {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<Encoder> make_hf_encoder(const Options& o, const BuildContext& ctx) {
  SH_CHECK(ctx.registry != nullptr, "hf: built without a registry, so the transformer cannot be built");
  const fs::path folder = o.path("path");
  hf::Checkpoint ck = hf::read_folder(folder, o.get<std::string>("prefix"));
  auto encoder = ctx.registry->create<Encoder>(ck.encoder_spec, ctx);
  const auto unused = hf::load_into(*encoder, ck);
  if (!unused.empty()) {
    std::string shown;
    for (size_t i = 0; i < unused.size() && i < 6; ++i) shown += (i ? ", " : "") + unused[i];
    std::cerr << fmt::format("hf: {} ({} encoder): {} checkpoint tensor(s) not used by the encoder: {}{}\n",
                             folder.string(), ck.model_type, unused.size(), shown, unused.size() > 6 ? ", ..." : "");
  }
  return encoder;
}

/// model {type: hf, path: FOLDER}: a <Type>ForSequenceClassification folder as a `classifier` whose head is laid out as
/// that class, every tensor of it loaded from the folder (hf::classifier_spec, hf::load_model).
std::shared_ptr<Model> make_hf_model(const Options& o, const BuildContext& ctx) {
  SH_CHECK(ctx.registry != nullptr, "hf: built without a registry, so the classifier cannot be built");
  const fs::path folder = o.path("path");
  const hf::Checkpoint ck = hf::read_folder(folder, o.get<std::string>("prefix"));
  auto model = ctx.registry->create<Model>(hf::classifier_spec(folder, ck), ctx);
  const ConfigNode spec = model->spec();
  const hf::ModelLoad r = hf::load_model(*model, ck, "encoder", &spec);
  SH_CHECK(r.fresh.empty(), "hf: {} lacks the head tensor(s) {} of its architecture; is it a fine-tuned "
           "<Type>ForSequenceClassification folder?", folder.string(), fmt::join(r.fresh, ", "));
  return model;
}

/// tokenizer_config.json (`config` plus the special tokens of the saved tokenizer spec) and special_tokens_map.json.
void write_tokenizer_files(const fs::path& folder, nlohmann::json config, const ConfigNode& saved) {
  nlohmann::json map = nlohmann::json::object();
  for (const char* key : {"unk_token", "cls_token", "sep_token", "pad_token", "mask_token"})
    config[key] = map[key] = saved.at(key).as_string();
  write_file_atomic(folder / "tokenizer_config.json", config.dump(2) + "\n");
  write_file_atomic(folder / "special_tokens_map.json", map.dump(2) + "\n");
}

class ExportHfStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    const std::string name = o.get<std::string>("model");
    const StageOutput& up = ctx.upstream(name);
    BuildContext bc = ctx.build_context();
    bc.base_dir = up.dir;
    // The whole model when the stage provides one (its classifier head may map), else the encoder alone.
    std::shared_ptr<Model> model;
    std::shared_ptr<Encoder> encoder;
    if (auto it = up.provides.find("model"); it != up.provides.end()) {
      model = ctx.registry().create<Model>(it->second, bc);
      encoder = model->encoder();
      SH_CHECK(encoder != nullptr, "export_hf: the model of stage '{}' has no encoder", name);
    } else {
      auto it2 = up.provides.find("encoder");
      SH_CHECK(it2 != up.provides.end(), "export_hf: stage '{}' provides no encoder or model", name);
      encoder = ctx.registry().create<Encoder>(it2->second, bc);
    }
    const fs::path folder = ctx.output_dir() / "hf";
    const std::string type = hf::write_folder(folder, *encoder, encoder->spec(), o.get<std::string>("model_type"));
    const std::string head = o.get<std::string>("head");
    if (model && head != "none") {
      const ConfigNode spec = model->spec();
      // The label names the training data had (a train stage provides them), else LABEL_0, ...
      std::vector<std::string> names;
      if (auto it = up.provides.find("labels"); it != up.provides.end() && it->second.has("names"))
        for (const auto& n : it->second.at("names").items()) names.push_back(n.as_string());
      const std::string why_not = hf::add_classifier_head(folder, *model, spec, type, names);
      SH_CHECK(why_not.empty() || head == "auto", "export_hf: the head of stage '{}' cannot be exported: {}", name,
               why_not);
      if (why_not.empty())
        ctx.info(fmt::format("exported the classifier head ({} labels{}): {}", spec.at("num_labels").as_int(),
                             names.empty() ? ", named LABEL_i: the stage gave no label names"
                                           : fmt::format(": {}", fmt::join(names, ", ")),
                             nlohmann::json::parse(read_file(folder / "config.json")).at("architectures")[0].dump()));
      else
        ctx.info(fmt::format("the model's head is not exported ({}); the folder holds the encoder", why_not));
    }
    if (o.has("tokenizer")) {
      auto tok = ctx.build<Tokenizer>("tokenizer");
      const ConfigNode saved = tok->save(folder);
      const std::string kind = saved.has("type") ? saved.at("type").as_string() : "";
      if (kind == "wordpiece") {
        const bool lower = saved.at("lowercase").as_bool();
        nlohmann::json tc = {{"tokenizer_class", type == "electra" ? "ElectraTokenizer" : "BertTokenizer"},
                             {"do_lower_case", lower},
                             {"strip_accents", saved.at("strip_accents").is_null() ? nlohmann::json() :
                                                   nlohmann::json(saved.at("strip_accents").as_bool())},
                             {"tokenize_chinese_chars", saved.at("tokenize_chinese_chars").as_bool()},
                             {"model_max_length", encoder->spec().at("max_positions").as_int()}};
        write_tokenizer_files(folder, tc, saved);
      } else if (kind == "sentencepiece") {
        // AlbertTokenizer's layout: spiece.model and its config (our sentencepiece tokenizer keeps accents).
        const fs::path model_file = folder / saved.at("model").as_string();
        if (model_file.filename() != "spiece.model") fs::rename(model_file, folder / "spiece.model");
        nlohmann::json tc = {{"tokenizer_class", "AlbertTokenizer"},
                             {"do_lower_case", saved.at("lowercase").as_bool()},
                             {"keep_accents", true},
                             {"remove_space", true},
                             {"model_max_length", encoder->spec().at("max_positions").as_int()}};
        write_tokenizer_files(folder, tc, saved);
      } else {
        ctx.info(fmt::format("export_hf: the tokenizer ({}) has no Hugging Face equivalent; its own files are in the "
                             "folder, but no tokenizer_config.json",
                             kind));
      }
    }
    ConfigNode::MapEntries e;
    e.emplace_back("type", ConfigNode::of("hf"));
    e.emplace_back("path", ConfigNode::of("hf"));
    ctx.provide("encoder", ConfigNode::map(std::move(e)));
    ctx.info(fmt::format("wrote a Hugging Face {} folder: {}", type, ctx.final_path("hf").string()));
  }
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  registrar
      .add<stagehand::Encoder>(
          "hf", "a Hugging Face BERT, ELECTRA, RoBERTa, ALBERT or DistilBERT folder (config.json + model.safetensors or pytorch_model.bin) as a "
          "transformer encoder",
          stagehand::Schema()
              .path("path", "the model folder (config.json, model.safetensors or pytorch_model.bin)")
              .opt("prefix", std::string("auto"),
                   "name prefix of the encoder's tensors: auto finds the model type's (bert., electra., roberta., albert.) or none"),
          [](const stagehand::Options& o, const stagehand::BuildContext& ctx) {
            return stagehand::make_hf_encoder(o, ctx);
          })
      .with_example(stagehand::parse_yaml("{type: hf, path: tests/data/hf-bert-tiny}", "example"));
  registrar
      .add<stagehand::Model>(
          "hf",
          "a fine-tuned Hugging Face <Type>ForSequenceClassification folder (BERT, ELECTRA, RoBERTa, ALBERT, "
          "DistilBERT) as a `classifier` with that class's head, every tensor loaded: predict, evaluate or embed "
          "with it, or fine-tune it further",
          stagehand::Schema()
              .path("path", "the model folder (config.json with architectures and id2label, the weights)")
              .opt("prefix", std::string("auto"), "name prefix of the encoder's tensors: auto finds the model type's"),
          [](const stagehand::Options& o, const stagehand::BuildContext& ctx) {
            return stagehand::make_hf_model(o, ctx);
          });
  registrar
      .add<stagehand::Tokenizer>(
          "hf",
          "a Hugging Face folder's tokenizer: vocab.txt (WordPiece), spiece.model (SentencePiece) or vocab.json + "
          "merges.txt / tokenizer.json (byte-level BPE), with tokenizer_config.json's settings and special tokens",
          stagehand::Schema().path("path", "the model folder (vocab.txt, spiece.model, vocab.json + merges.txt or "
                                           "tokenizer.json; tokenizer_config.json)"),
          [](const stagehand::Options& o, const stagehand::BuildContext& ctx) {
            SH_CHECK(ctx.registry != nullptr, "hf: built without a registry, so the tokenizer cannot be built");
            return ctx.registry->create<stagehand::Tokenizer>(stagehand::hf::tokenizer_spec(o.path("path")), ctx);
          })
      .with_example(stagehand::parse_yaml("{type: hf, path: tests/data/hf-bert-tiny}", "example"));
  registrar.add<stagehand::Stage>(
      "export_hf", "writes an earlier stage's encoder (and WordPiece tokenizer) as a Hugging Face model folder",
      stagehand::Schema()
          .required("model", OptionType::Stage, "the stage whose encoder (or model's encoder) to export")
          .component("tokenizer", "tokenizer", stagehand::ConfigNode::null(),
                     "the tokenizer to ship with it (a WordPiece tokenizer stage gets HF's tokenizer files)")
          .nullable()
          .choice("model_type", "auto", {"auto", "bert", "electra", "roberta", "albert"},
                  "auto: albert when the layers are shared, roberta when positions are offset, electra when the "
                  "encoder has an embedding projection or no pooler, else bert")
          .choice("head", "auto", {"auto", "classifier", "none"},
                  "a classifier's head as <Type>ForSequenceClassification: auto when it maps (else the encoder "
                  "alone, said in the log), classifier: required, none: never"),
      [](const stagehand::Options&) { return std::make_shared<stagehand::ExportHfStage>(); })
      .with_provides({"encoder"});
}
