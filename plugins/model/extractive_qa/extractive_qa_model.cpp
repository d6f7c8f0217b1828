// SPDX-License-Identifier: Apache-2.0
// Model `extractive_qa`: span extraction as Hugging Face's BertForQuestionAnswering / ElectraForQuestionAnswering /
// AlbertForQuestionAnswering do it: encoder -> one dense layer "qa_outputs" (H -> 2) over every token's last hidden
// state, split into start and end scores. Fine-tuned on SQuAD 2.0 (dataset `squad`) with loss `span`, this is the
// fine-tuned model of the layer-probe experiments (pipelines/layer-probes.yaml).
//   reads   input_ids, attention_mask (B, T) int64; token_type_ids (B, T) when the batch has it
//   returns start_logits, end_logits (B, T) float; padding positions hold -inf, so a softmax over positions gives
//           them no probability
// Submodules "encoder" (so `init:` and stage names load a pretrained encoder) and "qa_outputs" (Hugging Face's
// names: qa_outputs.weight (2, H), qa_outputs.bias (2); row 0 start, row 1 end).
#include <limits>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <stagehand/model.h>
#include <stagehand/nn.h>
#include <stagehand/plugin.h>
#include <stagehand/seed.h>

namespace stagehand {
namespace {

using torch::Tensor;

class ExtractiveQaModel : public Model {
 public:
  ExtractiveQaModel(const Options& o, const BuildContext& ctx) : dropout_(o.get<double>("dropout")) {
    encoder_ = register_module("encoder", ctx.registry->create<Encoder>(o.node("encoder"), ctx));
    qa_outputs_ = register_module("qa_outputs", nn::Dense(encoder_->hidden_size(), 2));
    // A seed of its own, not the global RNG (which the train stage checkpoints for exact resume).
    torch::NoGradGuard no_grad;
    at::Generator gen = at::detail::createCPUGenerator(derive_seed(ctx.seed, "extractive_qa.qa_outputs"));
    qa_outputs_->weight.normal_(0.0, 0.02, gen);
    qa_outputs_->bias.zero_();
  }

  Batch forward(const Batch& batch) override {
    EncoderInput in;
    in.input_ids = batch.at("input_ids");
    in.attention_mask = batch.at("attention_mask");
    if (batch.has("token_type_ids")) in.token_type_ids = batch.at("token_type_ids");
    Tensor x = encoder_->encode(in).last();
    if (dropout_ > 0) x = stagehand::nn::dropout(x, dropout_, is_training());
    Tensor scores = qa_outputs_(x);  // (B, T, 2)
    const Tensor pad = in.attention_mask.eq(0);
    const float neg_inf = -std::numeric_limits<float>::infinity();
    Batch out;
    out.set("start_logits", scores.select(-1, 0).masked_fill(pad, neg_inf));
    out.set("end_logits", scores.select(-1, 1).masked_fill(pad, neg_inf));
    return out;
  }

  std::shared_ptr<Encoder> encoder() override { return encoder_; }

  ConfigNode spec() const override {
    ConfigNode::MapEntries e;
    e.emplace_back("type", ConfigNode::of("extractive_qa"));
    e.emplace_back("encoder", encoder_->spec());
    e.emplace_back("dropout", ConfigNode::of(dropout_));
    return ConfigNode::map(std::move(e));
  }

 private:
  double dropout_;
  std::shared_ptr<Encoder> encoder_;
  nn::Dense qa_outputs_{nullptr};
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  registrar
      .add<Model>("extractive_qa",
                  "extractive question answering (SQuAD): encoder and a dense layer giving each token a start and an "
                  "end score; outputs start_logits, end_logits (B, T)",
                  Schema()
                      .component("encoder", Encoder::kKind,
                                 "the encoder: a spec, or the name of a stage that provides one (architecture and "
                                 "weights)")
                      .opt("dropout", 0.0,
                           "dropout on the token states before qa_outputs (0, as Hugging Face's BERT QA head)")
                      .min(0)
                      .max(0.99),
                  [](const Options& o, const BuildContext& ctx) { return std::make_shared<ExtractiveQaModel>(o, ctx); })
      .with_example(parse_yaml("{type: extractive_qa, encoder: {type: transformer, vocab_size: 100, hidden_size: 32, "
                               "num_layers: 2, num_heads: 2, intermediate_size: 64, max_positions: 64}}",
                               "<extractive_qa example>"));
}
