// SPDX-License-Identifier: Apache-2.0
// Model `siamese`: DSE's student (Barkan et al. 2019, microsoft/Distilled-Sentence-Embedding). One shared encoder
// embeds each sentence of a pair on its own ([CLS] s [SEP]); a pooler turns its top layers into a vector, then
// dropout (training only) and an optional linear embedding layer give the embedding u (resp. v); a pair head scores
// the two embeddings:
//   mlp: f = [u, v, u*v, |u-v|] -> Linear -> ReLU -> ... -> Linear   (fc_dims, no activation after the last)
//   dot: u . v                                                       (B, 1)
//   reads   a.input_ids, a.attention_mask (B, T) int64 (a.token_type_ids when present) and the same under b.
//           returns logits (B, C), a.embeddings (B, D), b.embeddings (B, D)
//           When a.* and b.* have the same T they go through the encoder as one batch of 2B, else in two calls.
//   reads   input_ids, attention_mask (one sentence per example; the embed stage)
//           returns embeddings (B, D) only
//   reads   a.embeddings, b.embeddings (B, D) with no a.input_ids / b.input_ids: scoring from cached embeddings
//           returns logits (B, C) computed by the head alone (the embeddings are used as given, no dropout)
// Parameters: the encoder is the submodule "encoder"; "embedding_layer.weight|bias" when
// additional_embedding_layer_size != -1; "head.layers.<i>.weight|bias" for the mlp head (none for dot). The
// embedding layer and head layers are initialised as torch.nn.Linear is (weight and bias uniform in +-1/sqrt(in)),
// from private generators derived from the build seed (the global RNG is neither read nor advanced).
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/types.h>

#include <fmt/format.h>

#include <stagehand/model.h>
#include <stagehand/nn.h>
#include <stagehand/plugin.h>
#include <stagehand/seed.h>

#include "poolers.h"

namespace stagehand {
namespace {

using torch::Tensor;
const std::string kOwner = "model 'siamese'";

/// torch.nn.Linear's default initialisation (kaiming_uniform with a = sqrt(5) is uniform +-1/sqrt(in); the bias
/// is uniform +-1/sqrt(in) too), drawn from `gen`.
void init_linear(nn::Dense& d, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(d->weight.size(1)));
  d->weight.uniform_(-bound, bound, gen);
  d->bias.uniform_(-bound, bound, gen);
}

/// The pair head's Linear layers under "layers.<i>", ReLU between them.
class PairMlp : public torch::nn::Module {
 public:
  PairMlp(int64_t in, const std::vector<int64_t>& dims, uint64_t seed) {
    torch::nn::ModuleList layers;
    int64_t width = in;
    for (int64_t d : dims) {
      dense_.push_back(nn::Dense(width, d));
      layers->push_back(dense_.back());
      width = d;
    }
    register_module("layers", layers);
    at::Generator gen = at::detail::createCPUGenerator(seed);
    for (auto& d : dense_) init_linear(d, gen);
  }
  Tensor forward(Tensor x) {
    for (size_t i = 0; i < dense_.size(); ++i) {
      x = dense_[i](x);
      if (i + 1 < dense_.size()) x = at::relu(x);
    }
    return x;
  }

 private:
  std::vector<nn::Dense> dense_;
};

class SiameseModel : public Model {
 public:
  SiameseModel(const Options& o, const BuildContext& ctx)
      : pooler_(o.get<std::string>("pooler")),
        num_top_(o.get<int64_t>("num_top_layers")),
        dropout_(o.get<double>("dropout")),
        extra_size_(o.get<int64_t>("additional_embedding_layer_size")),
        head_type_(o.get<std::string>("head")) {
    encoder_ = register_module("encoder", ctx.registry->create<Encoder>(o.node("encoder"), ctx));
    if (pooler_ != "cls") kind_ = siamese::parse_pooler(pooler_);
    const bool uses_top = pooler_ != "cls" && kind_.mix != siamese::LayerMix::LastOnly;
    SH_CHECK(!uses_top || num_top_ <= encoder_->num_layers(),
             "{}: num_top_layers is {} but the encoder has {} layers; set num_top_layers to at most {}", kOwner,
             num_top_, encoder_->num_layers(), encoder_->num_layers());
    pooled_size_ = pooler_ == "cls" ? encoder_->hidden_size()
                                    : siamese::pooled_width(kind_, encoder_->hidden_size(), num_top_);
    SH_CHECK(extra_size_ == -1 || extra_size_ >= 1,
             "{}: additional_embedding_layer_size is {}; expected -1 (no layer) or a width >= 1", kOwner, extra_size_);
    embedding_size_ = extra_size_ == -1 ? pooled_size_ : extra_size_;
    if (extra_size_ != -1) {
      embedding_layer_ = register_module("embedding_layer", nn::Dense(pooled_size_, extra_size_));
      at::Generator gen = at::detail::createCPUGenerator(derive_seed(ctx.seed, "siamese.embedding_layer"));
      init_linear(embedding_layer_, gen);
    }

    if (o.has("num_labels")) num_labels_ = o.get<int64_t>("num_labels");
    // A binary task has one output (log-odds); any other number of labels one output per label.
    const int64_t wanted = num_labels_ == 0 ? 1 : num_labels_ == 2 ? 1 : num_labels_;
    if (head_type_ == "dot") {
      SH_CHECK(num_labels_ <= 2,
               "{}: head 'dot' gives one score per pair, but num_labels is {}; use head: mlp for {} classes", kOwner,
               num_labels_, num_labels_);
      if (o.has("fc_dims")) fc_dims_ = o.get<std::vector<int64_t>>("fc_dims");  // kept for spec(), unused
    } else {
      if (o.has("fc_dims")) {
        fc_dims_ = o.get<std::vector<int64_t>>("fc_dims");
        SH_CHECK(!fc_dims_.empty(), "{}: fc_dims is empty; expected the layer widths, the last being the number of "
                 "outputs (e.g. [512, 1])", kOwner);
        const int64_t last = fc_dims_.back();
        SH_CHECK(num_labels_ == 0 || last == wanted || last == num_labels_,
                 "{}: fc_dims ends with {} outputs but num_labels is {} (expected {}{}); leave fc_dims unset to "
                 "get [512, {}], or end it with {}", kOwner, last, num_labels_, wanted,
                 num_labels_ == 2 ? " or 2" : "", wanted, wanted);
      } else {
        fc_dims_ = {512, wanted};
      }
      head_ = register_module("head", std::make_shared<PairMlp>(4 * embedding_size_, fc_dims_,
                                                                 derive_seed(ctx.seed, "siamese.head")));
    }
  }

  Batch forward(const Batch& batch) override {
    Batch out;
    bool any = false;
    // A batch may carry both layouts (a pair dataset's `both` encoding, so that one evaluation split serves a
    // cross-encoder teacher and siamese students): the pair then wins and the joint input_ids are ignored.
    if (batch.has("input_ids") && !batch.has("a.input_ids")) {
      out.set("embeddings", embed({batch.at("input_ids"), optional(batch, "attention_mask"),
                                   optional(batch, "token_type_ids")}));
      any = true;
    }
    const bool a_ids = batch.has("a.input_ids"), b_ids = batch.has("b.input_ids");
    SH_CHECK(a_ids == b_ids, "{}: the batch has {}.input_ids but no {}.input_ids; a pair needs both sentences",
             kOwner, a_ids ? "a" : "b", a_ids ? "b" : "a");
    if (a_ids) {
      auto [u, v] = embed_pair(batch);
      out.set("a.embeddings", u);
      out.set("b.embeddings", v);
      out.set("logits", score(u, v));
      any = true;
    } else if (batch.has("a.embeddings") || batch.has("b.embeddings")) {
      SH_CHECK(batch.has("a.embeddings") && batch.has("b.embeddings"),
               "{}: scoring from cached embeddings needs both a.embeddings and b.embeddings, the batch has only {}",
               kOwner, batch.has("a.embeddings") ? "a.embeddings" : "b.embeddings");
      out.set("logits", score(batch.at("a.embeddings"), batch.at("b.embeddings")));
      any = true;
    }
    SH_CHECK(any, "{}: the batch has no input_ids, a.input_ids/b.input_ids or a.embeddings/b.embeddings; give it a "
             "sentence-pair dataset (a./b. texts) or one text per example", kOwner);
    return out;
  }

  std::shared_ptr<Encoder> encoder() override { return encoder_; }

  ConfigNode spec() const override {
    ConfigNode::MapEntries e;
    e.emplace_back("type", ConfigNode::of("siamese"));
    e.emplace_back("encoder", encoder_->spec());
    e.emplace_back("pooler", ConfigNode::of(pooler_));
    e.emplace_back("num_top_layers", ConfigNode::of(num_top_));
    e.emplace_back("dropout", ConfigNode::of(dropout_));
    e.emplace_back("additional_embedding_layer_size", ConfigNode::of(extra_size_));
    e.emplace_back("head", ConfigNode::of(head_type_));
    if (!fc_dims_.empty()) {
      std::vector<ConfigNode> dims;
      for (int64_t d : fc_dims_) dims.push_back(ConfigNode::of(d));
      e.emplace_back("fc_dims", ConfigNode::sequence(std::move(dims)));
    }
    if (num_labels_ > 0) e.emplace_back("num_labels", ConfigNode::of(num_labels_));
    return ConfigNode::map(std::move(e));
  }

 private:
  static Tensor optional(const Batch& b, const std::string& name) { return b.has(name) ? b.at(name) : Tensor(); }

  Tensor pool(const EncoderOutput& enc) {
    if (pooler_ == "cls") return encoder_->pool(enc, "pooler");
    return siamese::pool_states(enc.hidden_states, enc.attention_mask, kind_, num_top_);
  }

  /// Encoder, pooler, dropout (training only), embedding layer.
  Tensor embed(const EncoderInput& in) {
    Tensor pooled = pool(encoder_->encode(in));
    Tensor x = dropout_ > 0 ? stagehand::nn::dropout(pooled, dropout_, is_training()) : pooled;
    return embedding_layer_ ? embedding_layer_(x) : x;
  }

  std::pair<Tensor, Tensor> embed_pair(const Batch& batch) {
    EncoderInput a{batch.at("a.input_ids"), optional(batch, "a.attention_mask"), optional(batch, "a.token_type_ids")};
    EncoderInput b{batch.at("b.input_ids"), optional(batch, "b.attention_mask"), optional(batch, "b.token_type_ids")};
    if (a.input_ids.size(1) != b.input_ids.size(1)) return {embed(a), embed(b)};
    // One encoder call over 2B rows: each row is still encoded alone (attention never crosses rows).
    auto ones = [](const EncoderInput& x) { return torch::ones_like(x.input_ids); };
    auto zeros = [](const EncoderInput& x) { return torch::zeros_like(x.input_ids); };
    EncoderInput both;
    both.input_ids = torch::cat({a.input_ids, b.input_ids}, 0);
    if (a.attention_mask.defined() || b.attention_mask.defined())
      both.attention_mask = torch::cat({a.attention_mask.defined() ? a.attention_mask : ones(a),
                                        b.attention_mask.defined() ? b.attention_mask : ones(b)}, 0);
    if (a.token_type_ids.defined() || b.token_type_ids.defined())
      both.token_type_ids = torch::cat({a.token_type_ids.defined() ? a.token_type_ids : zeros(a),
                                        b.token_type_ids.defined() ? b.token_type_ids : zeros(b)}, 0);
    Tensor e = embed(both);
    const int64_t n = a.input_ids.size(0);
    return {e.narrow(0, 0, n), e.narrow(0, n, e.size(0) - n)};
  }

  Tensor score(const Tensor& u, const Tensor& v) {
    SH_CHECK(u.dim() == 2 && v.sizes() == u.sizes() && u.size(1) == embedding_size_,
             "{}: the pair's embeddings have shapes ({}) and ({}); expected two (B, {}) tensors", kOwner,
             fmt::join(u.sizes(), ", "), fmt::join(v.sizes(), ", "), embedding_size_);
    if (head_type_ == "dot") return (u * v).sum(-1, true);
    return head_->forward(siamese::pair_features(u, v));
  }

  std::string pooler_;
  siamese::PoolerKind kind_;
  int64_t num_top_;
  double dropout_;
  int64_t extra_size_;
  std::string head_type_;
  std::vector<int64_t> fc_dims_;
  int64_t num_labels_ = 0;
  int64_t pooled_size_ = 0, embedding_size_ = 0;
  std::shared_ptr<Encoder> encoder_;
  nn::Dense embedding_layer_{nullptr};
  std::shared_ptr<PairMlp> head_;
};

Schema siamese_schema() {
  return Schema()
      .component("encoder", Encoder::kKind,
                 "the shared encoder: a spec such as {type: transformer, preset: bert-base}, or the name of a stage "
                 "that provides one")
      .choice("pooler", "concat_top_mean", siamese::pooler_names(),
              "token states -> vector: concat_top_mean (concat of the top k layers, mean over positions >= 1, "
              "DSE's default), mean_top_* (average of the top k layers), *_sqrt_mean (sum / sqrt(length)), *_max "
              "(max over positions >= 1), cls (the encoder's dense + tanh pooler), mean / max (last layer, every "
              "non-padding token)")
      .opt("num_top_layers", int64_t{4}, "k, the number of top encoder layers the *_top_* poolers combine")
      .min(1)
      .opt("dropout", 0.1, "dropout probability on the pooled vector (training only)")
      .min(0)
      .max(0.99)
      .opt("additional_embedding_layer_size", int64_t{-1},
           "-1: the embedding is the pooled vector; else a Linear from it to this width")
      .min(-1)
      .choice("head", "mlp", {"mlp", "dot"},
              "pair head: mlp ([u, v, u*v, |u-v|] through fc_dims) or dot (u . v, one output)")
      .list("fc_dims", OptionType::Int, ConfigNode::null(),
            "widths of the mlp head's Linear layers, ReLU between them; the last is the number of outputs "
            "(unset: [512, 1] for binary or regression tasks, [512, num_labels] otherwise)")
      .nullable()
      .min(1)
      .optional("num_labels", OptionType::Int,
                "number of classes (filled by the train stage from the dataset; 2 means one log-odds output)")
      .min(1);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  registrar
      .add<Model>("siamese",
                  "DSE's siamese student: a shared encoder embeds each sentence alone (top-layer pooling), a pair "
                  "head scores [u, v, u*v, |u-v|] (or u . v)",
                  siamese_schema(),
                  [](const Options& o, const BuildContext& ctx) { return std::make_shared<SiameseModel>(o, ctx); })
      .with_example(parse_yaml("{type: siamese, num_top_layers: 2, fc_dims: [16, 1], encoder: {type: transformer, "
                               "vocab_size: 100, hidden_size: 32, num_layers: 2, num_heads: 2, intermediate_size: 64, "
                               "max_positions: 64}}",
                               "<siamese example>"));
}
