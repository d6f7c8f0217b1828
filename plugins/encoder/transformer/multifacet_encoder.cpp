// SPDX-License-Identifier: Apache-2.0
// Encoder `multifacet_transformer`: the `transformer` encoder with Multi²SPE's facets (ronaldseoh/multi2spe,
// custom_bert.py and train.py): K-1 facet tokens are inserted right after [CLS], so that positions 0..K-1 carry
// the K facet embeddings; after chosen blocks a per-facet Linear rewrites each facet position (optionally
// "alternate": W_n - mean_k W_k, recomputed every forward; identity initialisation by default); pool("facets")
// returns the K facet states through optional extra per-facet output layers (also optionally alternate) and tanh.
// It is built on top of a plain transformer (`base`), whose weights it starts from. Extra parameters:
//   encoder.layer.<l>.extra_facet_layers.<n>.{weight,bias}   (the in-encoder facet layers)
//   extra_facet_layers.<n>.{weight,bias}                     (the output facet layers)
// A subclass of TransformerEncoder (transformer_encoder.h): the facet tokens come in through encode(), the in-encoder
// facet layers through after_block(), the output facet layers through facet_states().
#include "multifacet_encoder.h"

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include <stagehand/registry.h>
#include <stagehand/seed.h>

#include "transformer_encoder.h"

namespace stagehand::transformer {
namespace {

/// Multi²SPE's facet options (num_facets 1: none, a plain transformer).
struct FacetConfig {
  int64_t num_facets = 1;
  std::vector<int64_t> token_ids;     // K-1 ids inserted after [CLS]
  std::vector<int64_t> layers_after;  // 0-based block indices
  bool layers_alternate = false;
  std::string layers_init = "identity";
  bool output_layers = false;
  bool output_alternate = false;
  bool output_tanh = false;
  bool enabled() const { return num_facets > 1 || !layers_after.empty() || output_layers; }
};

FacetConfig resolve_facets(const Options& o, const TransformerConfig& c) {
  FacetConfig f;
  f.num_facets = o.get<int64_t>("num_facets");
  if (o.has("facet_token_ids")) {
    f.token_ids = o.get<std::vector<int64_t>>("facet_token_ids");
  } else {
    for (int64_t n = 1; n < f.num_facets; ++n) f.token_ids.push_back(n + 1);  // [unused1] is id 2 in BERT's vocab
  }
  SH_CHECK(static_cast<int64_t>(f.token_ids.size()) == f.num_facets - 1,
           "multifacet_transformer: facet_token_ids has {} id(s) but num_facets {} needs {} ([CLS] is the first "
           "facet)",
           f.token_ids.size(), f.num_facets, f.num_facets - 1);
  for (int64_t id : f.token_ids)
    SH_CHECK(id >= 0 && id < c.vocab_size,
             "multifacet_transformer: facet token id {} is outside the vocabulary [0, {}); set facet_token_ids to "
             "ids of tokens your tokenizer has (e.g. [unused1], [unused2])",
             id, c.vocab_size);
  f.layers_after = o.get<std::vector<int64_t>>("add_extra_facet_layers_after");
  f.layers_alternate = o.get<bool>("add_bert_layer_facet_layers_alternate");
  f.layers_init = o.get<std::string>("init_bert_layer_facet_layers");
  f.output_layers = o.get<bool>("add_extra_facet_layers");
  f.output_alternate = o.get<bool>("add_extra_facet_layers_alternate");
  f.output_tanh = o.get<bool>("add_extra_facet_nonlinearity");
  SH_CHECK(f.output_layers || !f.output_alternate,
           "multifacet_transformer: add_extra_facet_layers_alternate needs add_extra_facet_layers: true");
  return f;
}

/// K per-facet Linear(H, H) layers, children "0".."K-1" (as an nn.ModuleList of nn.Linear names them).
class FacetListImpl : public torch::nn::Module {
 public:
  FacetListImpl(int64_t facets, int64_t width) {
    for (int64_t n = 0; n < facets; ++n) layers.push_back(register_module(std::to_string(n), Dense(width, width)));
  }
  /// x (B, >=K, H): rewrites positions 0..K-1 as x_n W~_n^T + b_n, where W~_n = W_n - mean_k W_k when
  /// `alternate` (the bias is not centred); later positions pass through unchanged.
  Tensor forward(const Tensor& x, bool alternate) {
    const auto k = static_cast<int64_t>(layers.size());
    std::vector<Tensor> ws, bs;
    for (auto& d : layers) {
      ws.push_back(d->weight);
      bs.push_back(d->bias);
    }
    Tensor w = at::stack(ws);  // (K, H, H), row o of W_n is output o
    if (alternate) w = w - w.mean(0, /*keepdim=*/true);
    Tensor facets = x.narrow(1, 0, k);  // (B, K, H)
    Tensor y = at::einsum("bkh,koh->bko", {facets, w.to(facets.scalar_type())}) + at::stack(bs).to(facets.scalar_type());
    if (x.size(1) == k) return y;
    return at::cat({y, x.narrow(1, k, x.size(1) - k)}, 1);
  }
  std::vector<Dense> layers;
};
TORCH_MODULE(FacetList);

/// A TransformerEncoder with facet tokens after [CLS] (encode), facet layers after chosen blocks (after_block) and
/// output facet layers (facet_states).
class MultifacetEncoder : public TransformerEncoder {
 public:
  MultifacetEncoder(TransformerConfig c, uint64_t seed, FacetConfig f)
      : TransformerEncoder(std::move(c), seed), facets_(std::move(f)) {
    // The facet layers come after the base initialisation, from a generator of their own, so that the base
    // weights drawn from `seed` are those of a plain transformer.
    if (facets_.enabled()) add_facet_layers(derive_seed(seed, "facets"));
  }

  const FacetConfig& facet_config() const { return facets_; }

  /// Copies every parameter and buffer of `base` (a plain transformer of the same architecture) into this one.
  void copy_base(TransformerEncoder& base) {
    torch::NoGradGuard no_grad;
    auto mine = named_parameters(true);
    for (const auto& p : base.named_parameters(true)) {
      Tensor* t = mine.find(p.key());
      SH_CHECK(t && t->sizes() == p.value().sizes(), "multifacet_transformer: the base encoder's '{}' does not fit",
               p.key());
      t->copy_(p.value());
    }
    auto my_buffers = named_buffers(true);
    for (const auto& b : base.named_buffers(true)) {
      Tensor* t = my_buffers.find(b.key());
      if (t) t->copy_(b.value());
    }
  }

  EncoderOutput encode(const EncoderInput& in) override {
    check_input(in);
    if (facets_.num_facets > 1) return encode_with_facet_tokens(in);
    return encode_ids(in.input_ids, in.attention_mask, in.token_type_ids, in.all_layers);
  }

  ConfigNode spec() const override {
    if (!facets_.enabled()) return transformer_spec();
    ConfigNode::MapEntries e;
    auto ints = [](const std::vector<int64_t>& v) {
      std::vector<ConfigNode> items;
      for (int64_t x : v) items.push_back(ConfigNode::of(x));
      return ConfigNode::sequence(std::move(items));
    };
    e.emplace_back("type", ConfigNode::of("multifacet_transformer"));
    e.emplace_back("base", transformer_spec());
    e.emplace_back("num_facets", ConfigNode::of(facets_.num_facets));
    e.emplace_back("facet_token_ids", ints(facets_.token_ids));
    e.emplace_back("add_extra_facet_layers_after", ints(facets_.layers_after));
    e.emplace_back("add_bert_layer_facet_layers_alternate", ConfigNode::of(facets_.layers_alternate));
    e.emplace_back("init_bert_layer_facet_layers", ConfigNode::of(facets_.layers_init));
    e.emplace_back("add_extra_facet_layers", ConfigNode::of(facets_.output_layers));
    e.emplace_back("add_extra_facet_layers_alternate", ConfigNode::of(facets_.output_alternate));
    e.emplace_back("add_extra_facet_nonlinearity", ConfigNode::of(facets_.output_tanh));
    return ConfigNode::map(std::move(e));
  }

 protected:
  Tensor after_block(int64_t index, const Tensor& h) override {
    auto f = block_facets_.find(index);
    return f != block_facets_.end() ? f->second->forward(h, facets_.layers_alternate) : h;
  }

  // (B, K, H): the states at positions 0..K-1 ([CLS] and the facet tokens), through the output facet layers.
  Tensor facet_states(const Tensor& h) override {
    Tensor f = h.narrow(1, 0, facets_.num_facets);
    if (output_facets_) f = output_facets_->forward(f, facets_.output_alternate);
    if (facets_.output_tanh) f = at::tanh(f);
    return f;
  }

 private:
  /// Multi²SPE's input: [CLS] f_1 .. f_{K-1} text... (facet tokens right after [CLS]; attention 1, segment 0).
  EncoderOutput encode_with_facet_tokens(const EncoderInput& in) {
    const Tensor& ids = in.input_ids;
    const int64_t b = ids.size(0), t = ids.size(1), extra = facets_.num_facets - 1;
    SH_CHECK(t >= 1, "multifacet_transformer: empty input (the sequence must start with [CLS])");
    SH_CHECK(t + extra + config().position_offset <= config().max_positions,
             "multifacet_transformer: sequence length {} plus {} facet tokens exceeds max_positions {}; set the "
             "dataset's max_length to at most {}",
             t, extra, config().max_positions, config().max_positions - extra - config().position_offset);
    auto opts = ids.options();
    Tensor facet_ids = torch::tensor(facets_.token_ids, opts.dtype(torch::kLong)).to(ids.scalar_type()).view({1, extra}).expand({b, extra});
    Tensor new_ids = at::cat({ids.narrow(1, 0, 1), facet_ids, ids.narrow(1, 1, t - 1)}, 1);
    Tensor mask, types;
    if (in.attention_mask.defined()) {
      const Tensor& m = in.attention_mask;
      mask = at::cat({m.narrow(1, 0, 1), at::ones({b, extra}, m.options()), m.narrow(1, 1, t - 1)}, 1);
    }
    if (in.token_type_ids.defined()) {
      const Tensor& y = in.token_type_ids;
      types = at::cat({y.narrow(1, 0, 1), at::zeros({b, extra}, y.options()), y.narrow(1, 1, t - 1)}, 1);
    }
    return encode_ids(new_ids, mask, types, in.all_layers);
  }

  void add_facet_layers(uint64_t seed) {
    torch::NoGradGuard no_grad;
    at::Generator gen = at::detail::createCPUGenerator(seed);
    const int64_t k = facets_.num_facets, width = config().hidden_size;
    SH_CHECK(!config().shared_layers || facets_.layers_after.empty(),
             "multifacet_transformer: add_extra_facet_layers_after needs a layer of its own per block, but the base "
             "encoder shares one block across layers (shared_layers: true)");
    for (int64_t l : facets_.layers_after) {
      SH_CHECK(l >= 0 && l < config().num_layers,
               "multifacet_transformer: add_extra_facet_layers_after has block {} but the encoder has blocks 0..{}",
               l, config().num_layers - 1);
      SH_CHECK(!block_facets_.count(l), "multifacet_transformer: add_extra_facet_layers_after lists block {} twice", l);
      FacetList list(k, width);
      for (auto& d : list->layers) {
        if (facets_.layers_init == "identity") {
          d->weight.copy_(torch::eye(width));
        } else {
          d->weight.normal_(0.0, config().init_std, gen);
        }
        d->bias.zero_();
      }
      block(l).register_module("extra_facet_layers", list);
      block_facets_.emplace(l, list);
    }
    if (facets_.output_layers) {
      // nn.Linear's default initialisation: weight and bias uniform in +-1/sqrt(in_features).
      output_facets_ = register_module("extra_facet_layers", FacetList(k, width));
      const double bound = 1.0 / std::sqrt(static_cast<double>(width));
      for (auto& d : output_facets_->layers) {
        d->weight.uniform_(-bound, bound, gen);
        d->bias.uniform_(-bound, bound, gen);
      }
    }
  }

  FacetConfig facets_;
  std::map<int64_t, FacetList> block_facets_;
  FacetList output_facets_{nullptr};
};

}  // namespace

Schema multifacet_schema() {
  return Schema()
      .component("base", "encoder",
                 "the plain transformer the facets are added to: a spec such as {type: transformer, preset: "
                 "bert-base}, or the name of a stage that provides a trained one (its weights are the start)")
      .opt("num_facets", int64_t{3}, "K: facet embeddings per text ([CLS] plus K-1 facet tokens after it)")
      .min(1)
      .list("facet_token_ids", OptionType::Int, ConfigNode::null(),
            "the K-1 token ids inserted after [CLS] (Multi²SPE uses [unused1]..[unused{K-1}]); default 2..K, "
            "their ids in Google's BERT vocabularies; set them for any other vocabulary")
      .nullable()
      .list("add_extra_facet_layers_after", OptionType::Int, parse_yaml("[]", "<default>"),
            "0-based blocks after which a per-facet Linear rewrites the facet positions (Multi²SPE: [3, 7])")
      .opt("add_bert_layer_facet_layers_alternate", false,
           "use W_n - mean_k W_k in those layers (recomputed every forward; with identity init the facet states "
           "are zero at step 0, as in Multi²SPE)")
      .choice("init_bert_layer_facet_layers", "identity", {"identity", "normal"},
              "initial weights of those layers: identity (W = I, b = 0) or normal(0, init_std)")
      .opt("add_extra_facet_layers", false, "per-facet output Linear layers applied by pool(\"facets\")")
      .opt("add_extra_facet_layers_alternate", false, "use W_n - mean_k W_k in the output layers")
      .opt("add_extra_facet_nonlinearity", false, "tanh after the output layers");
}

std::shared_ptr<Encoder> make_multifacet(const Options& o, const BuildContext& ctx) {
  auto base = ctx.registry->create<Encoder>(o.node("base"), ctx);
  auto* plain = dynamic_cast<TransformerEncoder*>(base.get());
  const auto* facetted = dynamic_cast<const MultifacetEncoder*>(base.get());
  SH_CHECK(plain && !(facetted && facetted->facet_config().enabled()),
           "multifacet_transformer: base must be a plain transformer encoder (type transformer or a stage that "
           "trained one)");
  auto enc = std::make_shared<MultifacetEncoder>(plain->config(), ctx.seed, resolve_facets(o, plain->config()));
  enc->copy_base(*plain);
  return enc;
}

}  // namespace stagehand::transformer
