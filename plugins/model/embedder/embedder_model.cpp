// SPDX-License-Identifier: Apache-2.0
// Model `embedder`: an encoder and a pooling that turn each text into an embedding, for SPECTER-style triplet
// training (query / positive / negative papers), Multi²SPE's multi-facet embeddings and the embedding stage.
//   reads   input_ids, attention_mask (and token_type_ids) of one text per example, and/or the same under the
//           prefixes query., pos., neg., a., b. (each text encoded on its own)
//   returns embeddings (and query.embeddings, pos.embeddings, ...): (B, H), or (B, K, H) with pooling "facets"
//           (K facet embeddings, Multi²SPE) unless they are summed into one at inference
//           (sum_into_single_embeddings); with facets also facets / query.facets / ... (B, K, H), never summed,
//           which multifacet_triplet reads (in training and validation alike)
// The encoder is the submodule "encoder" (checkpoint names "encoder.embeddings...").
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

namespace stagehand {
namespace {

using torch::Tensor;

constexpr const char* kPrefixes[] = {"query", "pos", "neg", "a", "b"};

class EmbedderModel : public Model {
 public:
  EmbedderModel(const Options& o, const BuildContext& ctx)
      : pooling_(o.get<std::string>("pooling")),
        sum_(o.get<std::string>("sum_into_single_embeddings")),
        sum_behavior_(o.get<std::string>("sum_behavior")),
        dropout_(o.get<double>("dropout")) {
    encoder_ = register_module("encoder", ctx.registry->create<Encoder>(o.node("encoder"), ctx));
  }

  Batch forward(const Batch& batch) override {
    Batch out;
    bool any = false;
    if (batch.has("input_ids")) {
      embed(batch, "", out);
      any = true;
    }
    for (const char* p : kPrefixes) {
      if (!batch.has(fmt::format("{}.input_ids", p))) continue;
      embed(batch.sub(p), fmt::format("{}.", p), out);
      any = true;
    }
    SH_CHECK(any,
             "embedder: the batch has no input_ids (nor query./pos./neg./a./b. input_ids); give it a dataset that "
             "yields texts, e.g. specter_triplets or papers");
    return out;
  }

  std::shared_ptr<Encoder> encoder() override { return encoder_; }

  ConfigNode spec() const override {
    ConfigNode::MapEntries e;
    e.emplace_back("type", ConfigNode::of("embedder"));
    e.emplace_back("encoder", encoder_->spec());
    e.emplace_back("pooling", ConfigNode::of(pooling_));
    e.emplace_back("sum_into_single_embeddings", ConfigNode::of(sum_));
    e.emplace_back("sum_behavior", ConfigNode::of(sum_behavior_));
    e.emplace_back("dropout", ConfigNode::of(dropout_));
    return ConfigNode::map(std::move(e));
  }

 private:
  void embed(const Batch& b, const std::string& prefix, Batch& out) {
    EncoderInput in;
    in.input_ids = b.at("input_ids");
    if (b.has("attention_mask")) in.attention_mask = b.at("attention_mask");
    if (b.has("token_type_ids")) in.token_type_ids = b.at("token_type_ids");
    in.all_layers = false;  // pooling reads the last layer only
    EncoderOutput enc = encoder_->encode(in);
    Tensor e = encoder_->pool(enc, pooling_);
    if (dropout_ > 0 && is_training()) e = stagehand::nn::dropout(e, dropout_, true);
    if (pooling_ == "facets") {
      out.set(prefix + "facets", e);
      // Training never sums here: Multi²SPE's loss entries each choose whether to sum (its README trains with
      // training_and_inference and a loss entry that compares unsummed facets).
      if (!is_training() && sum_ != "none") e = sum_behavior_ == "mean" ? e.mean(1) : e.sum(1);
    }
    out.set(prefix + "embeddings", e);
  }

  std::string pooling_, sum_, sum_behavior_;
  double dropout_;
  std::shared_ptr<Encoder> encoder_;
};

Schema embedder_schema() {
  return Schema()
      .component("encoder", Encoder::kKind,
                 "the encoder: a spec such as {type: transformer, preset: bert-base}, {type: multifacet_transformer, "
                 "base: ...}, or the name of a stage that provides one")
      .choice("pooling", "cls", {"cls", "mean", "pooler", "facets"},
              "how token states become the embedding: cls (first token; the released SPECTER), mean (non-padding "
              "tokens), pooler (dense + tanh on the first token; SPECTER's Lightning script), facets (the K facet "
              "embeddings of a multifacet_transformer, (B, K, H))")
      .choice("sum_into_single_embeddings", "none", {"none", "inference", "training_and_inference"},
              "with facets: whether `embeddings` combines the K facets into one vector at inference (Multi²SPE's "
              "option; inference and training_and_inference act alike here, because in training each "
              "multifacet_triplet loss entry chooses for itself)")
      .choice("sum_behavior", "sum", {"sum", "mean"}, "how facets are combined")
      .opt("dropout", 0.0, "dropout on the embedding in training (SPECTER's AllenNLP model used 0.5)")
      .min(0)
      .max(0.99);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  registrar
      .add<Model>("embedder",
                  "text embedder: encoder + pooling; embeds one text, or each of query/pos/neg (triplets) or a/b",
                  embedder_schema(),
                  [](const Options& o, const BuildContext& ctx) { return std::make_shared<EmbedderModel>(o, ctx); })
      .with_example(parse_yaml("{type: embedder, encoder: {type: transformer, vocab_size: 100, hidden_size: 32, "
                               "num_layers: 2, num_heads: 2, intermediate_size: 64, max_positions: 64}}",
                               "<embedder example>"));
}
