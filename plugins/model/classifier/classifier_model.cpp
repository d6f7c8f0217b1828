// SPDX-License-Identifier: Apache-2.0
// Model `classifier`: encoder -> pooling -> dropout -> head, one text per example.
//   reads   input_ids, attention_mask (B, T) int64; token_type_ids (B, T) when the batch has it
//   returns logits (B, num_labels), pooled (B, H) (the pooled vector before dropout)
// Submodules "encoder" and "head", so `init:` can load an encoder into it and checkpoints name
// "encoder.embeddings...", "head.layers.0.weight", ...
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <torch/nn/module.h>
#include <torch/types.h>

#include <fmt/format.h>

#include <stagehand/nn.h>
#include <stagehand/model.h>
#include <stagehand/plugin.h>
#include <stagehand/seed.h>

namespace stagehand {
namespace {

using torch::Tensor;

/// The head spec with its widths set from the model: a spec the user wrote (or a stage provided) may leave
/// them unset, but must not contradict them.
ConfigNode head_spec_for(const Options& o, const BuildContext& ctx, int64_t in_features, int64_t num_labels) {
  const ConfigNode& given = o.node("head");
  ConfigNode spec = given;
  if (given.is_scalar()) {
    SH_CHECK(static_cast<bool>(ctx.provided),
             "classifier: head '{}' names a stage, but no pipeline is running; give a head spec such as "
             "{{type: mlp}}",
             given.text());
    spec = ctx.provided(given.text(), Head::kKind, given.location());
  }
  spec = spec.clone();
  SH_CHECK(spec.is_map(), "classifier: the head must be a spec such as {{type: mlp, hidden: []}}, got a {}",
           spec.type_name());
  auto fill = [&](const char* key, int64_t value, const char* from) {
    const ConfigNode* n = spec.find(key);
    if (n && !n->is_null()) {
      if (n->as_int() != value)
        SH_FAIL_AT(n->location(),
                   "classifier: the head has {}: {} but the model needs {} ({}); remove {} from the head spec, the "
                   "model fills it",
                   key, n->as_int(), value, from, key);
      return;
    }
    spec.set(key, ConfigNode::of(value));
  };
  fill("in_features", in_features, "the encoder's hidden size");
  fill("out_features", num_labels, "num_labels");
  return spec;
}

class ClassifierModel : public Model {
 public:
  ClassifierModel(const Options& o, const BuildContext& ctx)
      : pooling_(o.get<std::string>("pooling")), dropout_(o.get<double>("dropout")) {
    encoder_ = register_module("encoder", ctx.registry->create<Encoder>(o.node("encoder"), ctx));
    if (o.has("num_labels")) {
      num_labels_ = o.get<int64_t>("num_labels");
    } else {
      // A head spec that fixes its width is as good as num_labels.
      const ConfigNode& h = o.node("head");
      const ConfigNode* out = h.is_map() ? h.find("out_features") : nullptr;
      SH_CHECK(out && !out->is_null(),
               "classifier: num_labels is not set; the train stage fills it from a classification dataset's "
               "labels, otherwise set it (e.g. num_labels: 2)");
      num_labels_ = out->as_int();
    }
    head_spec_ = head_spec_for(o, ctx, encoder_->hidden_size(), num_labels_);
    // The head draws its initial weights from a seed of its own: with the encoder's seed its first rows would
    // repeat the encoder's first weights.
    BuildContext head_ctx = ctx;
    head_ctx.seed = derive_seed(ctx.seed, "classifier.head");
    head_ = register_module("head", ctx.registry->create<Head>(head_spec_, head_ctx));
  }

  Batch forward(const Batch& batch) override {
    EncoderInput in;
    in.input_ids = batch.at("input_ids");
    in.attention_mask = batch.at("attention_mask");
    if (batch.has("token_type_ids")) in.token_type_ids = batch.at("token_type_ids");
    in.all_layers = false;  // pooling reads the last layer only
    EncoderOutput enc = encoder_->encode(in);
    Tensor pooled = encoder_->pool(enc, pooling_);
    Tensor x = dropout_ > 0 ? stagehand::nn::dropout(pooled, dropout_, is_training()) : pooled;
    Batch out;
    out.set("logits", head_->forward(x));
    out.set("pooled", pooled);
    return out;
  }

  std::shared_ptr<Encoder> encoder() override { return encoder_; }

  ConfigNode spec() const override {
    ConfigNode::MapEntries e;
    e.emplace_back("type", ConfigNode::of("classifier"));
    e.emplace_back("encoder", encoder_->spec());
    e.emplace_back("head", head_spec_.clone());
    e.emplace_back("pooling", ConfigNode::of(pooling_));
    e.emplace_back("num_labels", ConfigNode::of(num_labels_));
    e.emplace_back("dropout", ConfigNode::of(dropout_));
    return ConfigNode::map(std::move(e));
  }

 private:
  std::string pooling_;
  double dropout_;
  int64_t num_labels_ = 0;
  ConfigNode head_spec_;
  std::shared_ptr<Encoder> encoder_;
  std::shared_ptr<Head> head_;
};

Schema classifier_schema() {
  return Schema()
      .component("encoder", Encoder::kKind,
                 "the encoder: a spec such as {type: transformer, preset: bert-mini}, or the name of a stage that "
                 "provides one")
      .component("head", Head::kKind, parse_yaml("{type: mlp, hidden: [], activation: tanh}", "<default>"),
                 "the head over the pooled vector; its in_features and out_features are filled by the model")
      .choice("pooling", "cls", {"cls", "mean", "pooler"},
              "how token states become one vector: cls (first token), mean (non-padding tokens), pooler "
              "(dense + tanh on the first token)")
      .optional("num_labels", OptionType::Int,
                "number of classes (filled by the train stage from the dataset's labels)")
      .min(1)
      .opt("dropout", 0.1, "dropout probability on the pooled vector (training only)")
      .min(0)
      .max(0.99);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  registrar
      .add<Model>("classifier", "sequence classifier: encoder, pooling, dropout and a head; outputs logits",
                  classifier_schema(),
                  [](const Options& o, const BuildContext& ctx) { return std::make_shared<ClassifierModel>(o, ctx); })
      .with_example(parse_yaml("{type: classifier, num_labels: 3, encoder: {type: transformer, vocab_size: 100, "
                               "hidden_size: 32, num_layers: 2, num_heads: 2, intermediate_size: 64, "
                               "max_positions: 64}}",
                               "<classifier example>"));
}
