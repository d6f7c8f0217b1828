// SPDX-License-Identifier: Apache-2.0
// Model `tagger`: token classification as ELECTRA's tagging tasks and Hugging Face's
// ElectraForTokenClassification / BertForTokenClassification do it: encoder -> dropout -> one dense layer over
// every token's last hidden state.
//   reads   input_ids, attention_mask (B, T) int64; token_type_ids (B, T) when the batch has it
//   returns logits (B, T, num_labels) for every position, padding included (the loss ignores positions labelled
//           -100, the `ner` evaluator reads only each word's first sub-token)
// Submodules "encoder" (so `init:` loads a pretrained encoder into it) and "classifier" (a dense layer with
// Hugging Face's names "classifier.weight" (C, H) and "classifier.bias" (C)).
#include <cstdint>
#include <memory>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <fmt/format.h>

#include <stagehand/model.h>
#include <stagehand/nn.h>
#include <stagehand/plugin.h>
#include <stagehand/seed.h>

namespace stagehand {
namespace {

using torch::Tensor;

// BERT's and ELECTRA's initializer_range: the task layer's weights ~ N(0, 0.02), bias 0.
constexpr double kInitStd = 0.02;

class TaggerModel : public Model {
 public:
  TaggerModel(const Options& o, const BuildContext& ctx) : dropout_(o.get<double>("dropout")) {
    SH_CHECK(o.has("num_labels"),
             "tagger: num_labels is not set; the train stage fills it from a token_classification dataset's labels, "
             "otherwise set it (e.g. num_labels: 3 for O, B-X, I-X)");
    num_labels_ = o.get<int64_t>("num_labels");
    // A stage name resolves (through ctx.provided) to that stage's saved encoder, which builds the architecture
    // and loads its weights; spec() then asks the encoder for its inline architecture, so a saved tagger rebuilds
    // without the stage.
    encoder_ = register_module("encoder", ctx.registry->create<Encoder>(o.node("encoder"), ctx));
    classifier_ = register_module("classifier", nn::Dense(encoder_->hidden_size(), num_labels_));
    // Initialised from a seed of its own, without touching the global RNG (which the train stage checkpoints for
    // exact resume); with the encoder's seed its rows would repeat the encoder's first weights.
    torch::NoGradGuard no_grad;
    at::Generator gen = at::detail::createCPUGenerator(derive_seed(ctx.seed, "tagger.classifier"));
    classifier_->weight.normal_(0.0, kInitStd, gen);
    classifier_->bias.zero_();
  }

  Batch forward(const Batch& batch) override {
    EncoderInput in;
    in.input_ids = batch.at("input_ids");
    in.attention_mask = batch.at("attention_mask");
    if (batch.has("token_type_ids")) in.token_type_ids = batch.at("token_type_ids");
    EncoderOutput enc = encoder_->encode(in);
    Tensor x = enc.last();
    if (dropout_ > 0) x = stagehand::nn::dropout(x, dropout_, is_training());
    Batch out;
    out.set("logits", classifier_(x));
    return out;
  }

  std::shared_ptr<Encoder> encoder() override { return encoder_; }

  ConfigNode spec() const override {
    ConfigNode::MapEntries e;
    e.emplace_back("type", ConfigNode::of("tagger"));
    e.emplace_back("encoder", encoder_->spec());
    e.emplace_back("num_labels", ConfigNode::of(num_labels_));
    e.emplace_back("dropout", ConfigNode::of(dropout_));
    return ConfigNode::map(std::move(e));
  }

 private:
  double dropout_;
  int64_t num_labels_ = 0;
  std::shared_ptr<Encoder> encoder_;
  nn::Dense classifier_{nullptr};
};

Schema tagger_schema() {
  return Schema()
      .component("encoder", Encoder::kKind,
                 "the encoder: a spec such as {type: transformer, preset: bert-mini}, or the name of a stage that "
                 "provides one (its architecture and weights)")
      .optional("num_labels", OptionType::Int,
                "number of tags (filled by the train stage from the dataset's labels)")
      .min(1)
      .opt("dropout", 0.1, "dropout probability on the token states before the classifier (training only)")
      .min(0)
      .max(0.99);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  registrar
      .add<Model>("tagger",
                  "token classifier (NER, chunking): encoder, dropout and a dense layer over every token; outputs "
                  "logits (B, T, num_labels)",
                  tagger_schema(),
                  [](const Options& o, const BuildContext& ctx) { return std::make_shared<TaggerModel>(o, ctx); })
      .with_example(parse_yaml("{type: tagger, num_labels: 3, encoder: {type: transformer, vocab_size: 100, "
                               "hidden_size: 32, num_layers: 2, num_heads: 2, intermediate_size: 64, "
                               "max_positions: 64}}",
                               "<tagger example>"));
}
