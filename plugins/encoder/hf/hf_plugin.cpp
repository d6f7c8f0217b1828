// SPDX-License-Identifier: Apache-2.0
// Plugin `hf`: Hugging Face model folders in and out (stagehand/sdk/hf_checkpoint.h has the mapping).
//   encoder hf       {type: hf, path: FOLDER}: a `transformer` built from FOLDER/config.json with the weights of
//                    FOLDER/model.safetensors or FOLDER/pytorch_model.bin (BERT, ELECTRA, RoBERTa or ALBERT, with or without the
//                    bert./electra. prefix). Use it wherever an encoder is named:
//                    `model: {type: classifier, encoder: {type: hf, path: ...}}`. Tensors it does not use (MLM/NSP
//                    heads, position_ids) are listed on stderr.
//   model hf         {type: hf, path: FOLDER}: the model of the folder's architecture with its head (hf::model_spec:
//                    <Type>ForSequenceClassification, ForTokenClassification, ForQuestionAnswering, ForMaskedLM,
//                    ElectraForPreTraining, Bert/AlbertForPreTraining's NSP/SOP head); evaluate, predict, embed with
//                    it, `runner predict FOLDER`.
//   tokenizer hf     {type: hf, path: FOLDER}: the folder's own tokenizer, a `wordpiece` (vocab.txt),
//                    `sentencepiece` (spiece.model) or `bpe` (vocab.json + merges.txt, or tokenizer.json) tokenizer
//                    set up from tokenizer_config.json, built by type name through the registry.
//   stage export_hf  writes an earlier stage's trained encoder (with the model's head under its Hugging Face class
//                    where it maps: hf::add_head; an ELECTRA pretraining model's generator in `hf-generator/`; with
//                    `tokenizer` its files with tokenizer_config.json and special_tokens_map.json: WordPiece,
//                    SentencePiece or byte-level BPE) as a Hugging Face folder `hf/` in its output, and provides it
//                    as an encoder ({type: hf, path: hf}) to later stages.
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

/// model {type: hf, path: FOLDER}: the model the folder's architecture is (hf::model_spec: a classifier, tagger,
/// extractive_qa or electra_discriminator, or a classifier over a pretraining folder's NSP/SOP head), every tensor of
/// its head loaded from the folder (hf::load_model).
std::shared_ptr<Model> make_hf_model(const Options& o, const BuildContext& ctx) {
  SH_CHECK(ctx.registry != nullptr, "hf: built without a registry, so the classifier cannot be built");
  const fs::path folder = o.path("path");
  const hf::Checkpoint ck = hf::read_folder(folder, o.get<std::string>("prefix"));
  ConfigNode spec_in = hf::model_spec(folder, ck);
  if (spec_in.at("type").as_string() == "mlm") {  // the mlm model's special ids: the folder's tokenizer's
    auto tok = ctx.registry->create<Tokenizer>(hf::tokenizer_spec(folder), ctx);
    const SpecialTokens& sp = tok->special();
    for (const auto& [key, id] : {std::pair<const char*, int32_t>{"mask_id", sp.mask}, {"pad_id", sp.pad},
                                  {"cls_id", sp.cls}, {"sep_id", sp.sep}})
      if (id >= 0) spec_in.set(key, ConfigNode::of(static_cast<int64_t>(id)));
  }
  auto model = ctx.registry->create<Model>(spec_in, ctx);
  const ConfigNode spec = model->spec();
  const hf::ModelLoad r = hf::load_model(*model, ck, "encoder", &spec, /*as_saved=*/true);
  SH_CHECK(r.fresh.empty(), "hf: {} lacks the head tensor(s) {} of its architecture ({}); are the weights the "
           "config's model?", folder.string(), fmt::join(r.fresh, ", "), ck.architecture);
  return model;
}

/// Writes the model's head under its Hugging Face class (hf::add_head) with the training data's label names, and
/// an ELECTRA pretraining model's generator as ElectraForMaskedLM beside it (hf-generator/).
void export_head(StageContext& ctx, const fs::path& folder, Model& model, const std::string& type,
                 const StageOutput& up, bool required) {
  const ConfigNode spec = model.spec();
  std::vector<std::string> names;
  if (auto it = up.provides.find("labels"); it != up.provides.end() && it->second.has("names"))
    for (const auto& n : it->second.at("names").items()) names.push_back(n.as_string());
  const std::string why_not = hf::add_head(folder, model, spec, type, names);
  SH_CHECK(why_not.empty() || !required, "export_hf: the head of stage '{}' cannot be exported: {}",
           ctx.options().get<std::string>("model"), why_not);
  if (!why_not.empty()) {
    ctx.info(fmt::format("the model's head is not exported ({}); the folder holds the encoder", why_not));
    return;
  }
  const nlohmann::json config = nlohmann::json::parse(read_file(folder / "config.json"));
  std::string labels;
  if (config.contains("id2label"))
    labels = names.empty() ? fmt::format(" ({} labels, named LABEL_i: the stage gave no label names)",
                                         config["id2label"].size())
                           : fmt::format(" (labels {})", fmt::join(names, ", "));
  ctx.info(fmt::format("exported the model's head as {}{}", config.at("architectures")[0].get<std::string>(), labels));
  if (spec.has("type") && spec.at("type").as_string() == "electra") {
    hf::write_generator(ctx.output_dir() / "hf-generator", model, spec);
    ctx.info(fmt::format("wrote the generator as ElectraForMaskedLM: {}", ctx.final_path("hf-generator").string()));
  }
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
    if (model && head != "none") export_head(ctx, folder, *model, type, up, head == "required");
    if (o.has("tokenizer")) {
      auto tok = ctx.build<Tokenizer>("tokenizer");
      const std::string why_not = hf::write_tokenizer(folder, *tok, encoder->spec(), type);
      if (!why_not.empty())
        ctx.info(fmt::format("export_hf: {}; its own files are in the folder, but no tokenizer_config.json", why_not));
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
          "a Hugging Face model folder (BERT, ELECTRA, RoBERTa, ALBERT, DistilBERT) as the model of its "
          "architecture, every head tensor loaded: <Type>ForSequenceClassification (classifier), "
          "ForTokenClassification (tagger), ForQuestionAnswering (extractive_qa), ForMaskedLM (mlm, fill-mask), "
          "ElectraForPreTraining "
          "(electra_discriminator), Bert/AlbertForPreTraining (a classifier over the NSP/SOP head); predict, "
          "evaluate or embed with it, or fine-tune it further",
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
      "export_hf", "writes an earlier stage's encoder, the model's head and its tokenizer as a Hugging Face model folder",
      stagehand::Schema()
          .required("model", OptionType::Stage, "the stage whose encoder (or model's encoder) to export")
          .component("tokenizer", "tokenizer", stagehand::ConfigNode::null(),
                     "the tokenizer to ship with it (WordPiece, SentencePiece and byte-level BPE get Hugging Face's "
                     "tokenizer_config.json and special_tokens_map.json)")
          .nullable()
          .choice("model_type", "auto", {"auto", "bert", "electra", "roberta", "albert"},
                  "auto: albert when the layers are shared, roberta when positions are offset, electra when the "
                  "encoder has an embedding projection or no pooler, else bert")
          .choice("head", "auto", {"auto", "required", "none"},
                  "the model's head under its Hugging Face class (classifier: <Type>ForSequenceClassification, mlm: "
                  "ForMaskedLM, tagger: ForTokenClassification, extractive_qa: ForQuestionAnswering, ELECTRA's "
                  "discriminator: ElectraForPreTraining, with the generator in hf-generator/): auto when it maps "
                  "(else the encoder alone, said in the log), required: an error when it does not, none: never"),
      [](const stagehand::Options&) { return std::make_shared<stagehand::ExportHfStage>(); })
      .with_provides({"encoder"});
}
