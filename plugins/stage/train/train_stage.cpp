// SPDX-License-Identifier: Apache-2.0
// Stage kind `train`: the training engine. One loop serves every design in the pipelines (classification,
// pretraining objectives, distillation from a teacher stage, siamese and triplet models): the model maps a batch
// to named outputs, the loss reads them, evaluators judge them. The stage builds those parts from its options and
// hands them to the SDK's Trainer (sdk/include/stagehand/sdk/train/trainer.h), which runs the loop: the data order
// is a pure function of (seed, epoch), so a checkpoint only needs the step number, the weights, the optimizer
// state and the RNG state for a resumed run to end bit-identical to an uninterrupted one.
#include <torch/utils.h>

#include <stagehand/dataset.h>
#include <stagehand/engine.h>
#include <stagehand/model.h>
#include <stagehand/optim.h>
#include <stagehand/plugin.h>
#include <stagehand/stage.h>
#include <stagehand/sdk/train/teacher.h>
#include <stagehand/sdk/train/trainer.h>

#include <stagehand/sdk/class_weights.h>
#include <stagehand/sdk/hf_checkpoint.h>
#include "train_plugin.h"

namespace stagehand::train {
namespace {

namespace st = stagehand::sdk::train;
namespace sdk = stagehand::sdk;

/// `init_hf`: the encoder's tensors from the folder (all of them, under the checkpoint's prefix) and every other
/// model tensor the checkpoint has under the same name.
void init_from_hf(StageContext& ctx, Model& model, const std::filesystem::path& folder) {
  auto encoder = model.encoder();
  SH_CHECK(encoder != nullptr, "init_hf: the model has no encoder to initialise from {}", folder.string());
  std::string child;
  for (const auto& c : model.named_children())
    if (c.value().get() == static_cast<torch::nn::Module*>(encoder.get())) child = c.key();
  SH_CHECK(!child.empty(), "init_hf: the model's encoder is not one of its direct submodules, so its tensors "
           "cannot be named");
  const hf::Checkpoint ck = hf::read_folder(folder);
  const ConfigNode spec = model.spec();  // a classifier's head maps onto <Type>ForSequenceClassification
  const hf::ModelLoad r = hf::load_model(model, ck, child, &spec);
  // With init_hf_generator, ELECTRA's generator and its head come from their own folder next.
  std::vector<std::string> fresh;
  const bool generator_next = ctx.options().has("init_hf_generator");
  for (const auto& name : r.fresh)
    if (!generator_next || name.rfind("generator", 0) != 0) fresh.push_back(name);
  ctx.info(fmt::format("initialised the model from {} ({}, {}): the encoder{}{}", ck.weights_file.string(),
                       ck.model_type, ck.prefix.empty() ? "no prefix" : "prefix " + ck.prefix,
                       r.heads.empty() ? "" : fmt::format(" and {} head tensor(s)", r.heads.size()),
                       fresh.empty() ? "" : fmt::format("; newly initialised: {}", fmt::join(fresh, ", "))));
  if (!r.unused.empty())
    ctx.info(fmt::format("init_hf: {} checkpoint tensor(s) not used: {}{}", r.unused.size(),
                         fmt::join(r.unused.begin(), r.unused.begin() + std::min<long>(6, r.unused.size()), ", "),
                         r.unused.size() > 6 ? ", ..." : ""));
}

/// `init_hf_generator`: an ElectraForMaskedLM folder into the electra model's generator and its head. The embedding
/// tables are shared with the discriminator: after init_hf they stay the discriminator's, and a difference from the
/// generator folder's is a warning (released ELECTRA pairs share them exactly).
void init_generator_from_hf(StageContext& ctx, Model& model, const std::filesystem::path& folder, bool after_init) {
  const hf::Checkpoint ck = hf::read_folder(folder);
  const hf::GeneratorLoad r = hf::load_generator(model, ck, after_init);
  ctx.info(fmt::format("initialised the generator from {} ({}): its encoder and {} head tensor(s){}",
                       ck.weights_file.string(), ck.architecture.empty() ? ck.model_type : ck.architecture,
                       r.heads.size(), after_init ? ", the embeddings shared with the discriminator kept" : ""));
  if (after_init && r.embedding_difference > 0)
    ctx.warn(fmt::format("init_hf_generator: {}'s embedding tables differ from the discriminator's by up to {:.3g}; "
                         "ELECTRA shares one set, and the discriminator's (init_hf) is kept",
                         folder.string(), r.embedding_difference));
  if (!r.unused.empty())
    ctx.info(fmt::format("init_hf_generator: {} checkpoint tensor(s) not used: {}", r.unused.size(),
                         fmt::join(r.unused.begin(), r.unused.begin() + std::min<long>(6, r.unused.size()), ", ")));
}

/// The model the spec names (dimensions it leaves open come from the data), with `init` (an earlier stage's
/// encoder or whole model) or `init_hf` (a Hugging Face folder) loaded into it.
std::shared_ptr<Model> build_model(StageContext& ctx, const Dataset& data) {
  const Options& o = ctx.options();
  const ConfigNode model_spec = fill_hints(o.node("model"), "model", data.hints(), ctx.registry());
  auto model = ctx.registry().create<Model>(model_spec, ctx.build_context());
  const std::string init_stage = o.has("init") ? o.get<std::string>("init") : "";
  const std::string init_what = o.get<std::string>("init_from");
  if (!init_stage.empty()) {
    const auto& up = ctx.upstream(init_stage);
    if (init_what == "model") {
      auto it = up.provides.find("model");
      SH_CHECK(it != up.provides.end(), "init: stage '{}' provides no model", init_stage);
      load_weights(up.dir / it->second.at("weights").as_string(), *model);
    } else {
      auto it = up.provides.find("encoder");
      SH_CHECK(it != up.provides.end(), "init: stage '{}' provides no encoder", init_stage);
      SH_CHECK(model->encoder(), "init: the model has no encoder to initialise");
      load_weights(up.dir / it->second.at("weights").as_string(), *model->encoder());
    }
    ctx.info(fmt::format("initialised the {} from stage '{}'", init_what, init_stage));
  }
  if (o.has("init_hf")) {
    SH_CHECK(init_stage.empty(), "init and init_hf are both set; give one: an earlier stage, or a Hugging Face folder");
    init_from_hf(ctx, *model, o.path("init_hf"));
  }
  if (o.has("init_hf_generator")) {
    SH_CHECK(init_stage.empty(), "init and init_hf_generator are both set; the generator comes from a Hugging Face "
             "folder only with init_hf (or alone)");
    init_generator_from_hf(ctx, *model, o.path("init_hf_generator"), o.has("init_hf"));
  }
  return model;
}

/// The loss its spec names, with what the data says filled in (num_labels, which class_weights is checked against:
/// here for data whose classes planning could not know, with the error at the option) and `class_weights:
/// balanced` replaced by n / (classes * count_c) over the training split's labels.
std::shared_ptr<Loss> build_loss(StageContext& ctx, const Dataset& data, const std::string& train_split) {
  ConfigNode spec = fill_hints(ctx.options().node("loss"), "loss", data.hints(), ctx.registry());
  if (!sdk::wants_balanced_class_weights(spec)) return ctx.registry().create<Loss>(spec, ctx.build_context());
  const std::vector<std::string> labels = data.labels();
  const auto hints = data.hints();
  const auto hinted = hints.find("num_labels");
  const int64_t classes = !labels.empty() ? static_cast<int64_t>(labels.size())
                          : hinted != hints.end() ? hinted->second : 0;
  SH_CHECK(classes > 0, "class_weights: balanced needs the number of classes, but the dataset reports neither labels "
           "nor num_labels; give class_weights as a list");
  const ConfigNode* ignore = spec.find("ignore_index");
  const auto counts = sdk::class_counts(data, train_split, classes, "labels",
                                        ignore && ignore->is_scalar() ? ignore->as_int() : -100);
  const auto weights = sdk::balanced_class_weights(counts, labels, fmt::format("the '{}' split", train_split));
  std::vector<std::string> parts;
  for (size_t c = 0; c < weights.size(); ++c)
    parts.push_back(fmt::format("{} {:.6g} ({})", c < labels.size() ? labels[c] : std::to_string(c), weights[c],
                                counts[c]));
  ctx.info(fmt::format("class_weights: balanced over the '{}' split: {}", train_split, fmt::join(parts, ", ")));
  return ctx.registry().create<Loss>(sdk::with_class_weights(spec, weights), ctx.build_context());
}

class TrainStage : public Stage {
 public:
  void run(StageContext& ctx) override;
};

void TrainStage::run(StageContext& ctx) {
  const Options& o = ctx.options();
  const st::TrainerOptions opts = st::TrainerOptions::from(o);
  torch::manual_seed(ctx.seed());
  st::Trainer::Parts parts;
  parts.data = ctx.build<Dataset>("data");
  record_skipped(ctx, *parts.data);
  st::Trainer::check_data(*parts.data, opts);
  parts.model = build_model(ctx, *parts.data);
  // The teacher's logits join every batch, in training and in evaluation (the loss reads them in both).
  parts.prepare = st::Teacher::from_options(ctx, opts.bf16).prepare();
  parts.optimizer = ctx.build<Optimizer>("optimizer");
  parts.scheduler = ctx.build<Scheduler>("scheduler");
  parts.loss = build_loss(ctx, *parts.data, opts.train_split);
  for (const auto& e : o.node("evaluators").items())
    parts.evaluators.push_back(ctx.registry().create<Evaluator>(e, ctx.build_context()));
  st::Trainer trainer(ctx, std::move(parts), opts);
  trainer.train();
  trainer.finish();
}

}  // namespace
}  // namespace stagehand::train

STAGEHAND_PLUGIN(registrar) {
  using stagehand::ConfigNode;
  using stagehand::OptionType;
  using stagehand::parse_yaml;
  registrar
      .add<stagehand::Stage>(
          "train", "train a model: data, model, loss, optimizer, schedule, evaluation, checkpoints, resume",
          stagehand::Schema()
              .component("data", "dataset", "the training data, e.g. {type: text_classification, train: ..., tokenizer: tok}")
              .component("model", "model", "what to train, e.g. {type: classifier, encoder: {type: transformer, preset: bert-mini}}")
              .component("loss", "loss", "the objective, e.g. {type: cross_entropy}")
              .component("optimizer", "optimizer", parse_yaml("{type: adamw, lr: 1.0e-4}", "<default>"), "optimizer")
              .component("scheduler", "scheduler", parse_yaml("{type: linear, warmup_fraction: 0.1}", "<default>"),
                         "learning-rate schedule (a factor of the optimizer's lr)")
              .list("evaluators", OptionType::Component, ConfigNode::sequence(),
                    "metrics on the evaluation split; the first one's primary metric selects the best model")
              .kind("evaluator")
              .optional("init", OptionType::Stage, "start from this stage's trained encoder (or whole model: init_from)")
              .choice("init_from", "encoder", {"encoder", "model"}, "what `init` loads")
              .optional("init_hf", OptionType::Path,
                        "start from a Hugging Face model folder (config.json, model.safetensors or "
                        "pytorch_model.bin): the encoder's tensors, all required, and every model tensor with the "
                        "same name there (cls.predictions.* for the mlm model's output layer)")
              .optional("init_hf_generator", OptionType::Path,
                        "the electra model's generator from a Hugging Face ElectraForMaskedLM folder (ELECTRA's "
                        "released generator), with init_hf the discriminator's: build the model with `generator: "
                        "{type: hf, path: FOLDER}` so that the architectures agree; the embeddings stay shared")
              .optional("teacher", OptionType::Stage, "a stage whose model's logits become the batch's teacher.logits")
              .optional("teacher_logits", OptionType::Stages,
                        "predict stages whose logits (keyed by example id) become the batch's teacher.logits, "
                        "instead of a live teacher (DSE's logits file): cover the training split and, for a "
                        "validation loss, the evaluation split")
              .extend(stagehand::sdk::train::trainer_schema()),
          [](const stagehand::Options&) { return std::make_shared<stagehand::train::TrainStage>(); })
      .with_provides({"model", "encoder"})
      .with_data_parallel();
  stagehand::train::register_saved(registrar);
}
