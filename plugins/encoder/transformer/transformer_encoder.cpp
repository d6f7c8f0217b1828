// SPDX-License-Identifier: Apache-2.0
// Encoder `transformer`: the BERT family's post-LayerNorm encoder (BERT, and ELECTRA with its embedding
// projection). Module and parameter names are Hugging Face's (relative to the `bert.` / `electra.` prefix), so
// that a checkpoint's state dict maps one to one onto named_parameters().
//
// Encoder `multifacet_transformer`: the same encoder with Multi²SPE's facets (ronaldseoh/multi2spe,
// custom_bert.py and train.py): K-1 facet tokens are inserted right after [CLS], so that positions 0..K-1 carry
// the K facet embeddings; after chosen blocks a per-facet Linear rewrites each facet position (optionally
// "alternate": W_n - mean_k W_k, recomputed every forward; identity initialisation by default); pool("facets")
// returns the K facet states through optional extra per-facet output layers (also optionally alternate) and tanh.
// It is built on top of a plain transformer (`base`), whose weights it starts from. Extra parameters:
//   encoder.layer.<l>.extra_facet_layers.<n>.{weight,bias}   (the in-encoder facet layers)
//   extra_facet_layers.<n>.{weight,bias}                     (the output facet layers)
//
// The building blocks (Dense, Table, Norm) are small modules of our own rather than torch::nn::Linear,
// Embedding and LayerNorm: those initialise themselves from the global RNG in their constructors, and the
// encoder must be initialised from its own seed without drawing from (or paying twice for) the global RNG.
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <fmt/format.h>

#include <stagehand/encoder.h>
#include <stagehand/nn.h>
#include <stagehand/plugin.h>
#include <stagehand/util.h>

namespace stagehand {
namespace {

using torch::Tensor;

// ---------------------------------------------------------------- configuration

enum class Activation { Gelu, GeluTanh, Relu };

struct Preset {
  const char* name;
  int64_t hidden, layers, heads, intermediate;
  int64_t embedding;  // 0: same as hidden
};

// Sizes of the public checkpoints of these names (google-research/bert's small models, BERT-base, ELECTRA).
constexpr Preset kPresets[] = {
    {"bert-tiny", 128, 2, 2, 512, 0},          {"bert-mini", 256, 4, 4, 1024, 0},
    {"bert-small", 512, 4, 8, 2048, 0},        {"bert-base", 768, 12, 12, 3072, 0},
    {"electra-small", 256, 12, 4, 1024, 128},  {"electra-base", 768, 12, 12, 3072, 768},
};
// Without a preset, unset sizes are BERT-base's (Hugging Face's BertConfig defaults).
constexpr Preset kNoPreset = {"", 768, 12, 12, 3072, 0};

struct TransformerConfig {
  std::string preset;  // "" when none
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t embedding_size = 768;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t intermediate_size = 3072;
  std::string activation = "gelu";
  double hidden_dropout = 0.1;
  double attention_dropout = 0.1;
  int64_t max_positions = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  bool pooler = true;
  double init_std = 0.02;
  int64_t position_offset = 0;  // first row of the position table (RoBERTa: 2)
  bool shared_layers = false;   // one block's weights for every layer (ALBERT)
};

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

Activation parse_activation(const std::string& name) {
  if (name == "gelu") return Activation::Gelu;
  if (name == "gelu_tanh") return Activation::GeluTanh;
  if (name == "relu") return Activation::Relu;
  SH_CHECK(false, "transformer: activation '{}' is not one of gelu | gelu_tanh | relu", name);
  return Activation::Gelu;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const auto& p : kPresets) out.emplace_back(p.name);
  return out;
}

TransformerConfig resolve_config(const Options& o) {
  TransformerConfig c;
  const Preset* p = &kNoPreset;
  if (o.has("preset")) {
    c.preset = o.get<std::string>("preset");
    for (const auto& q : kPresets)
      if (c.preset == q.name) p = &q;
  }
  auto size = [&](const char* name, int64_t fallback) { return o.has(name) ? o.get<int64_t>(name) : fallback; };
  c.vocab_size = o.get<int64_t>("vocab_size");
  c.hidden_size = size("hidden_size", p->hidden);
  c.embedding_size = size("embedding_size", p->embedding > 0 ? p->embedding : c.hidden_size);
  c.num_layers = size("num_layers", p->layers);
  c.num_heads = size("num_heads", p->heads);
  c.intermediate_size = size("intermediate_size", p->intermediate);
  c.activation = o.get<std::string>("activation");
  c.hidden_dropout = o.get<double>("hidden_dropout");
  c.attention_dropout = o.get<double>("attention_dropout");
  c.max_positions = o.get<int64_t>("max_positions");
  c.type_vocab_size = o.get<int64_t>("type_vocab_size");
  c.layer_norm_eps = o.get<double>("layer_norm_eps");
  c.pooler = o.get<bool>("pooler");
  c.init_std = o.get<double>("init_std");
  c.position_offset = o.get<int64_t>("position_offset");
  c.shared_layers = o.get<bool>("shared_layers");
  SH_CHECK(c.position_offset < c.max_positions,
           "transformer: position_offset {} leaves no rows of the {}-row position table; it must be below "
           "max_positions",
           c.position_offset, c.max_positions);
  SH_CHECK(c.hidden_size % c.num_heads == 0,
           "transformer: hidden_size {} is not divisible by num_heads {}; every head gets hidden_size / num_heads "
           "dimensions, so choose a num_heads that divides hidden_size",
           c.hidden_size, c.num_heads);
  return c;
}

Schema transformer_schema() {
  OptionSpec preset;
  preset.name = "preset";
  preset.type = OptionType::String;
  preset.choices = preset_names();
  preset.nullable = true;
  preset.doc =
      "named architecture whose sizes fill the size options not given: bert-tiny (H128 L2 A2 FFN512), bert-mini "
      "(256/4/4/1024), bert-small (512/4/8/2048), bert-base (768/12/12/3072), electra-small (256/12/4/1024, "
      "embedding 128), electra-base (768/12/12/3072)";
  return Schema()
      .add(std::move(preset))
      .opt("vocab_size", int64_t{30522}, "number of token ids (rows of the word embedding table)")
      .min(1)
      .optional("hidden_size", OptionType::Int, "width H of every block (default: the preset's, else 768)")
      .min(1)
      .optional("embedding_size", OptionType::Int,
                "width E of the embedding tables; when it differs from hidden_size a Linear E->H "
                "(embeddings_project, as ELECTRA has) follows the embeddings (default: the preset's, else "
                "hidden_size)")
      .min(1)
      .optional("num_layers", OptionType::Int, "number of blocks (default: the preset's, else 12)")
      .min(1)
      .optional("num_heads", OptionType::Int,
                "attention heads per block; must divide hidden_size (default: the preset's, else 12)")
      .min(1)
      .optional("intermediate_size", OptionType::Int,
                "width of the feed-forward layer (default: the preset's, else 3072)")
      .min(1)
      .choice("activation", "gelu", {"gelu", "gelu_tanh", "relu"},
              "feed-forward activation: gelu (exact, erf), gelu_tanh (tanh approximation), relu")
      .opt("hidden_dropout", 0.1, "dropout on the embeddings and on each sub-layer's output")
      .min(0)
      .max(0.99)
      .opt("attention_dropout", 0.1, "dropout on the attention probabilities")
      .min(0)
      .max(0.99)
      .opt("max_positions", int64_t{512}, "longest sequence (rows of the position embedding table)")
      .min(1)
      .opt("type_vocab_size", int64_t{2}, "number of token types (segments)")
      .min(1)
      .opt("layer_norm_eps", 1e-12, "epsilon of every LayerNorm, added to the variance inside the square root")
      .min(0)
      .opt("pooler", true, "add the pooler (dense + tanh on the first token) used by pool(\"pooler\")")
      .opt("init_std", 0.02,
           "standard deviation of the normal initialisation of dense and embedding weights (biases zero, "
           "LayerNorm 1 and 0), drawn from the build seed")
      .min(0)
      .opt("position_offset", int64_t{0},
           "first row of the position table: token t gets row position_offset + t (RoBERTa: 2, its padding_idx + "
           "1); sequences may be max_positions - position_offset long")
      .min(0)
      .opt("shared_layers", false,
           "ALBERT's cross-layer sharing: one block (encoder.layer.0) applied num_layers times");
}

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

// ---------------------------------------------------------------- building blocks


/// A lookup table; parameter "weight" (rows, width), as an Embedding.
class TableImpl : public torch::nn::Module {
 public:
  TableImpl(int64_t rows, int64_t width) { weight = register_parameter("weight", torch::empty({rows, width})); }
  Tensor weight;
};
TORCH_MODULE(Table);

// Dense and LayerNorm come from stagehand/nn.h (initialised by init_weights below).
using Dense = nn::Dense;
using DenseImpl = nn::DenseImpl;
using Norm = nn::LayerNorm;
using NormImpl = nn::LayerNormImpl;

Tensor maybe_dropout(const Tensor& x, double p, bool training) {
  return training && p > 0 ? stagehand::nn::dropout(x, p, true) : x;
}

// ---------------------------------------------------------------- BERT modules (Hugging Face's layout)

class EmbeddingsImpl : public torch::nn::Module {
 public:
  explicit EmbeddingsImpl(const TransformerConfig& c) : dropout_(c.hidden_dropout), offset_(c.position_offset) {
    word = register_module("word_embeddings", Table(c.vocab_size, c.embedding_size));
    position = register_module("position_embeddings", Table(c.max_positions, c.embedding_size));
    token_type = register_module("token_type_embeddings", Table(c.type_vocab_size, c.embedding_size));
    norm = register_module("LayerNorm", Norm(c.embedding_size, c.layer_norm_eps));
  }
  Tensor forward(const Tensor& ids, const Tensor& types) {
    const int64_t t = ids.size(1);
    // Positions are offset..offset+T-1 for every row, so a slice of the table broadcasts instead of a gather.
    Tensor x = at::embedding(word->weight, ids) + position->weight.narrow(0, offset_, t);
    x = types.defined() ? x + at::embedding(token_type->weight, types) : x + token_type->weight.select(0, 0);
    return maybe_dropout(norm(x), dropout_, is_training());
  }
  Table word{nullptr}, position{nullptr}, token_type{nullptr};
  Norm norm{nullptr};

 private:
  double dropout_;
  int64_t offset_;
};
TORCH_MODULE(Embeddings);

class SelfAttentionImpl : public torch::nn::Module {
 public:
  explicit SelfAttentionImpl(const TransformerConfig& c)
      : heads_(c.num_heads), head_size_(c.hidden_size / c.num_heads), dropout_(c.attention_dropout) {
    query = register_module("query", Dense(c.hidden_size, c.hidden_size));
    key = register_module("key", Dense(c.hidden_size, c.hidden_size));
    value = register_module("value", Dense(c.hidden_size, c.hidden_size));
  }
  /// x (B, T, H); mask_bias (B, 1, 1, T) added to the scores, or undefined. Returns the context (B, T, H).
  Tensor forward(const Tensor& x, const Tensor& mask_bias) {
    const int64_t b = x.size(0), t = x.size(1);
    auto heads = [&](const Tensor& y) { return y.view({b, t, heads_, head_size_}).transpose(1, 2); };
    Tensor q = heads(query(x)), k = heads(key(x)), v = heads(value(x));
    // In-place scaling and masking: the matmul result is not needed by its own backward.
    Tensor scores = at::matmul(q, k.transpose(-1, -2)).div_(std::sqrt(static_cast<double>(head_size_)));
    if (mask_bias.defined()) scores.add_(mask_bias);
    Tensor probs = maybe_dropout(at::softmax(scores, -1), dropout_, is_training());
    return at::matmul(probs, v).transpose(1, 2).reshape({b, t, heads_ * head_size_});
  }
  Dense query{nullptr}, key{nullptr}, value{nullptr};

 private:
  int64_t heads_, head_size_;
  double dropout_;
};
TORCH_MODULE(SelfAttention);

/// dense -> dropout -> residual add -> LayerNorm: HF's "attention.output" and "output".
class ResidualOutputImpl : public torch::nn::Module {
 public:
  ResidualOutputImpl(const TransformerConfig& c, int64_t in) : dropout_(c.hidden_dropout) {
    dense = register_module("dense", Dense(in, c.hidden_size));
    norm = register_module("LayerNorm", Norm(c.hidden_size, c.layer_norm_eps));
  }
  Tensor forward(const Tensor& x, const Tensor& residual) {
    return norm(maybe_dropout(dense(x), dropout_, is_training()) + residual);
  }
  Dense dense{nullptr};
  Norm norm{nullptr};

 private:
  double dropout_;
};
TORCH_MODULE(ResidualOutput);

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const TransformerConfig& c) {
    self_attention = register_module("self", SelfAttention(c));
    output = register_module("output", ResidualOutput(c, c.hidden_size));
  }
  Tensor forward(const Tensor& x, const Tensor& mask_bias) { return output(self_attention(x, mask_bias), x); }
  SelfAttention self_attention{nullptr};
  ResidualOutput output{nullptr};
};
TORCH_MODULE(Attention);

class IntermediateImpl : public torch::nn::Module {
 public:
  explicit IntermediateImpl(const TransformerConfig& c) : activation_(parse_activation(c.activation)) {
    dense = register_module("dense", Dense(c.hidden_size, c.intermediate_size));
  }
  Tensor forward(const Tensor& x) {
    Tensor y = dense(x);
    switch (activation_) {
      case Activation::Gelu: return at::gelu(y);
      case Activation::GeluTanh: return at::gelu(y, "tanh");
      case Activation::Relu: return at::relu(y);
    }
    return y;
  }
  Dense dense{nullptr};

 private:
  Activation activation_;
};
TORCH_MODULE(Intermediate);

/// One post-LayerNorm block.
class LayerImpl : public torch::nn::Module {
 public:
  explicit LayerImpl(const TransformerConfig& c) {
    attention = register_module("attention", Attention(c));
    intermediate = register_module("intermediate", Intermediate(c));
    output = register_module("output", ResidualOutput(c, c.intermediate_size));
  }
  Tensor forward(const Tensor& x, const Tensor& mask_bias) {
    Tensor a = attention(x, mask_bias);
    return output(intermediate(a), a);
  }
  Attention attention{nullptr};
  Intermediate intermediate{nullptr};
  ResidualOutput output{nullptr};
};
TORCH_MODULE(Layer);

/// HF's "encoder": holds the blocks as "layer.0", "layer.1", ... (with shared layers only "layer.0", which every
/// entry of `blocks` is).
class StackImpl : public torch::nn::Module {
 public:
  explicit StackImpl(const TransformerConfig& c) {
    torch::nn::ModuleList list;
    for (int64_t i = 0; i < c.num_layers; ++i) {
      blocks.push_back(c.shared_layers && i > 0 ? blocks.front() : Layer(c));
      if (!c.shared_layers || i == 0) list->push_back(blocks.back());
    }
    register_module("layer", list);
  }
  std::vector<Layer> blocks;  // typed access to the modules, one per layer
};
TORCH_MODULE(Stack);

class PoolerImpl : public torch::nn::Module {
 public:
  explicit PoolerImpl(const TransformerConfig& c) { dense = register_module("dense", Dense(c.hidden_size, c.hidden_size)); }
  Tensor forward(const Tensor& first_token) { return at::tanh(dense(first_token)); }
  Dense dense{nullptr};
};
TORCH_MODULE(Pooler);

// ---------------------------------------------------------------- Multi²SPE facet layers

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

// ---------------------------------------------------------------- the encoder

class TransformerEncoder : public Encoder {
 public:
  TransformerEncoder(TransformerConfig c, uint64_t seed, FacetConfig f = {}) : cfg_(std::move(c)), facets_(std::move(f)) {
    embeddings_ = register_module("embeddings", Embeddings(cfg_));
    if (cfg_.embedding_size != cfg_.hidden_size)
      project_ = register_module("embeddings_project", Dense(cfg_.embedding_size, cfg_.hidden_size));
    encoder_ = register_module("encoder", Stack(cfg_));
    if (cfg_.pooler) pooler_ = register_module("pooler", Pooler(cfg_));
    init_weights(seed);
    // The facet layers come after the base initialisation, from a generator of their own, so that the base
    // weights drawn from `seed` are those of a plain transformer.
    if (facets_.enabled()) add_facet_layers(derive_seed(seed, "facets"));
  }

  const TransformerConfig& config() const { return cfg_; }
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
    const Tensor& ids = in.input_ids;
    SH_CHECK(ids.defined() && ids.dim() == 2,
             "transformer: input_ids must be a (batch, length) tensor, got {}",
             ids.defined() ? fmt::format("{} dimension(s)", ids.dim()) : std::string("an undefined tensor"));
    SH_CHECK(ids.scalar_type() == torch::kLong || ids.scalar_type() == torch::kInt,
             "transformer: input_ids must be int64 (or int32), got {}", c10::toString(ids.scalar_type()));
    const int64_t b = ids.size(0), t = ids.size(1);
    SH_CHECK(t + cfg_.position_offset <= cfg_.max_positions,
             "transformer: sequence length {} exceeds max_positions {}{}; truncate the input or build the encoder "
             "with a larger max_positions",
             t, cfg_.max_positions,
             cfg_.position_offset ? fmt::format(" less position_offset {}", cfg_.position_offset) : std::string());
    for (const auto* other : {&in.attention_mask, &in.token_type_ids}) {
      SH_CHECK(!other->defined() || other->sizes() == ids.sizes(),
               "transformer: {} has shape {} but input_ids has shape {}; they must match",
               other == &in.attention_mask ? "attention_mask" : "token_type_ids", fmt::join(other->sizes(), "x"),
               fmt::join(ids.sizes(), "x"));
    }
    // Out-of-range ids make the embedding lookup fail with an unhelpful message; the check needs a device
    // sync, so only CPU inputs (where it is cheap) get it.
    if (ids.device().is_cpu() && ids.numel() > 0) {
      auto [lo, hi] = at::aminmax(ids);
      const int64_t l = lo.item<int64_t>(), h = hi.item<int64_t>();
      SH_CHECK(l >= 0 && h < cfg_.vocab_size,
               "transformer: input_ids range over [{}, {}] but vocab_size is {}; the tokenizer and the encoder "
               "disagree about the vocabulary (set vocab_size to the tokenizer's)",
               l, h, cfg_.vocab_size);
    }

    if (facets_.num_facets > 1) return encode_with_facet_tokens(in);
    return encode_ids(in.input_ids, in.attention_mask, in.token_type_ids, in.all_layers);
  }

  /// Multi²SPE's input: [CLS] f_1 .. f_{K-1} text... (facet tokens right after [CLS]; attention 1, segment 0).
  EncoderOutput encode_with_facet_tokens(const EncoderInput& in) {
    const Tensor& ids = in.input_ids;
    const int64_t b = ids.size(0), t = ids.size(1), extra = facets_.num_facets - 1;
    SH_CHECK(t >= 1, "multifacet_transformer: empty input (the sequence must start with [CLS])");
    SH_CHECK(t + extra + cfg_.position_offset <= cfg_.max_positions,
             "multifacet_transformer: sequence length {} plus {} facet tokens exceeds max_positions {}; set the "
             "dataset's max_length to at most {}",
             t, extra, cfg_.max_positions, cfg_.max_positions - extra - cfg_.position_offset);
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

  EncoderOutput encode_ids(const Tensor& ids, const Tensor& attention_mask, const Tensor& token_type_ids,
                           bool all_layers) {
    const int64_t b = ids.size(0), t = ids.size(1);
    EncoderOutput out;
    out.attention_mask = attention_mask;
    out.hidden_states.reserve(all_layers ? cfg_.num_layers + 1 : 1);
    Tensor h = embeddings_(ids, token_type_ids);
    if (project_) h = project_(h);
    if (all_layers) out.hidden_states.push_back(h);
    Tensor mask_bias;
    if (attention_mask.defined()) {
      // BERT's additive mask: (1 - mask) * -10000. In 16-bit types use half the type's lowest value: large
      // enough to zero the softmax weight, small enough that adding a score cannot overflow to -inf.
      const auto dtype = h.scalar_type();
      const double neg = dtype == torch::kHalf       ? std::numeric_limits<c10::Half>::lowest() / 2.0
                         : dtype == torch::kBFloat16 ? std::numeric_limits<c10::BFloat16>::lowest() / 2.0
                                                     : -10000.0;
      mask_bias = (1.0 - attention_mask.to(dtype)).mul_(neg).view({b, 1, 1, t});
    }
    for (size_t i = 0; i < encoder_->blocks.size(); ++i) {
      h = encoder_->blocks[i](h, mask_bias);
      auto f = block_facets_.find(static_cast<int64_t>(i));
      if (f != block_facets_.end()) h = f->second->forward(h, facets_.layers_alternate);
      if (all_layers) out.hidden_states.push_back(h);
    }
    if (!all_layers) out.hidden_states.push_back(h);
    return out;
  }

  int64_t hidden_size() const override { return cfg_.hidden_size; }
  int64_t num_layers() const override { return cfg_.num_layers; }
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t embedding_size() const override { return cfg_.embedding_size; }
  Tensor word_embeddings() override { return embeddings_->word->weight; }

  Tensor pool(const EncoderOutput& out, const std::string& how) override {
    SH_CHECK(!out.hidden_states.empty(), "transformer: pool() got an output with no hidden states");
    const Tensor& h = out.last();
    if (how == "cls") return h.select(1, 0);
    if (how == "pooler") {
      SH_CHECK(pooler_, "transformer: pool(\"pooler\") needs the pooler, but this encoder was built with "
                        "pooler: false; use \"cls\" or \"mean\", or build it with pooler: true");
      return pooler_(h.select(1, 0));
    }
    if (how == "mean") {
      if (!out.attention_mask.defined()) return h.mean(1);
      Tensor m = out.attention_mask.to(h.scalar_type()).unsqueeze(-1);  // (B, T, 1)
      return (h * m).sum(1) / m.sum(1).clamp_min(1.0);
    }
    if (how == "facets") {
      // (B, K, H): the states at positions 0..K-1 ([CLS] and the facet tokens), through the output facet layers.
      Tensor f = h.narrow(1, 0, facets_.num_facets);
      if (output_facets_) f = output_facets_->forward(f, facets_.output_alternate);
      if (facets_.output_tanh) f = at::tanh(f);
      return f;
    }
    SH_CHECK(false, "transformer: unknown pooling '{}'; use cls | mean | pooler | facets", how);
    return {};
  }

  void share_embeddings(Encoder& from) override {
    auto* other = dynamic_cast<TransformerEncoder*>(&from);
    SH_CHECK(other, "transformer: share_embeddings needs another transformer encoder, got a different encoder type");
    if (other == this) return;
    const TransformerConfig& o = other->cfg_;
    SH_CHECK(o.vocab_size == cfg_.vocab_size && o.embedding_size == cfg_.embedding_size &&
                 o.max_positions == cfg_.max_positions && o.type_vocab_size == cfg_.type_vocab_size,
             "transformer: cannot share embeddings: this encoder's tables are vocab {} x {} (positions {}, types {}) "
             "but the other's are vocab {} x {} (positions {}, types {}); give both the same vocab_size, "
             "embedding_size, max_positions and type_vocab_size",
             cfg_.vocab_size, cfg_.embedding_size, cfg_.max_positions, cfg_.type_vocab_size, o.vocab_size,
             o.embedding_size, o.max_positions, o.type_vocab_size);
    // The module itself is shared (not copied): replace_module swaps the registered child, and the typed
    // member used by encode() must point at the same object.
    embeddings_ = replace_module("embeddings", other->embeddings_);
  }

  ConfigNode spec() const override {
    if (!facets_.enabled()) return plain_spec();
    ConfigNode::MapEntries e;
    auto ints = [](const std::vector<int64_t>& v) {
      std::vector<ConfigNode> items;
      for (int64_t x : v) items.push_back(ConfigNode::of(x));
      return ConfigNode::sequence(std::move(items));
    };
    e.emplace_back("type", ConfigNode::of("multifacet_transformer"));
    e.emplace_back("base", plain_spec());
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

  ConfigNode plain_spec() const {
    ConfigNode::MapEntries e;
    e.emplace_back("type", ConfigNode::of("transformer"));
    e.emplace_back("preset", cfg_.preset.empty() ? ConfigNode::null() : ConfigNode::of(cfg_.preset));
    e.emplace_back("vocab_size", ConfigNode::of(cfg_.vocab_size));
    e.emplace_back("hidden_size", ConfigNode::of(cfg_.hidden_size));
    e.emplace_back("embedding_size", ConfigNode::of(cfg_.embedding_size));
    e.emplace_back("num_layers", ConfigNode::of(cfg_.num_layers));
    e.emplace_back("num_heads", ConfigNode::of(cfg_.num_heads));
    e.emplace_back("intermediate_size", ConfigNode::of(cfg_.intermediate_size));
    e.emplace_back("activation", ConfigNode::of(cfg_.activation));
    e.emplace_back("hidden_dropout", ConfigNode::of(cfg_.hidden_dropout));
    e.emplace_back("attention_dropout", ConfigNode::of(cfg_.attention_dropout));
    e.emplace_back("max_positions", ConfigNode::of(cfg_.max_positions));
    e.emplace_back("type_vocab_size", ConfigNode::of(cfg_.type_vocab_size));
    e.emplace_back("layer_norm_eps", ConfigNode::of(cfg_.layer_norm_eps));
    e.emplace_back("pooler", ConfigNode::of(cfg_.pooler));
    e.emplace_back("init_std", ConfigNode::of(cfg_.init_std));
    // Written only when set, so that the specs of plain BERT/ELECTRA encoders stay as they were.
    if (cfg_.position_offset) e.emplace_back("position_offset", ConfigNode::of(cfg_.position_offset));
    if (cfg_.shared_layers) e.emplace_back("shared_layers", ConfigNode::of(true));
    return ConfigNode::map(std::move(e));
  }

 private:
  // BERT's initialisation, drawn from a private generator so that building an encoder neither depends on
  // nor disturbs the global RNG.
  void init_weights(uint64_t seed) {
    torch::NoGradGuard no_grad;
    at::Generator gen = at::detail::createCPUGenerator(seed);
    for (const auto& m : modules(/*include_self=*/false)) {
      if (auto* d = m->as<DenseImpl>()) {
        d->weight.normal_(0.0, cfg_.init_std, gen);
        d->bias.zero_();
      } else if (auto* t = m->as<TableImpl>()) {
        t->weight.normal_(0.0, cfg_.init_std, gen);
      } else if (auto* n = m->as<NormImpl>()) {
        n->weight.fill_(1.0);
        n->bias.zero_();
      }
    }
  }

  void add_facet_layers(uint64_t seed) {
    torch::NoGradGuard no_grad;
    at::Generator gen = at::detail::createCPUGenerator(seed);
    const int64_t k = facets_.num_facets, width = cfg_.hidden_size;
    SH_CHECK(!cfg_.shared_layers || facets_.layers_after.empty(),
             "multifacet_transformer: add_extra_facet_layers_after needs a layer of its own per block, but the base "
             "encoder shares one block across layers (shared_layers: true)");
    for (int64_t l : facets_.layers_after) {
      SH_CHECK(l >= 0 && l < cfg_.num_layers,
               "multifacet_transformer: add_extra_facet_layers_after has block {} but the encoder has blocks 0..{}",
               l, cfg_.num_layers - 1);
      SH_CHECK(!block_facets_.count(l), "multifacet_transformer: add_extra_facet_layers_after lists block {} twice", l);
      FacetList list(k, width);
      for (auto& d : list->layers) {
        if (facets_.layers_init == "identity") {
          d->weight.copy_(torch::eye(width));
        } else {
          d->weight.normal_(0.0, cfg_.init_std, gen);
        }
        d->bias.zero_();
      }
      encoder_->blocks[static_cast<size_t>(l)]->register_module("extra_facet_layers", list);
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

  TransformerConfig cfg_;
  FacetConfig facets_;
  std::map<int64_t, FacetList> block_facets_;
  FacetList output_facets_{nullptr};
  Embeddings embeddings_{nullptr};
  Dense project_{nullptr};
  Stack encoder_{nullptr};
  Pooler pooler_{nullptr};
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  registrar
      .add<Encoder>("transformer",
                    "BERT-family post-LayerNorm Transformer encoder (BERT, ELECTRA) with Hugging Face parameter "
                    "names, so BERT/ELECTRA checkpoints load one to one",
                    transformer_schema(),
                    [](const Options& o, const BuildContext& ctx) {
                      return std::make_shared<TransformerEncoder>(resolve_config(o), ctx.seed);
                    })
      .with_example(parse_yaml("{type: transformer, preset: bert-tiny, vocab_size: 1000, max_positions: 128}",
                               "<transformer example>"));
  registrar
      .add<Encoder>("multifacet_transformer",
                    "Multi²SPE's multi-facet encoder: a transformer with K facet tokens after [CLS], per-facet "
                    "layers inside the stack and optional per-facet output layers; pool(\"facets\") gives (B, K, H)",
                    multifacet_schema(),
                    [](const Options& o, const BuildContext& ctx) {
                      auto base = ctx.registry->create<Encoder>(o.node("base"), ctx);
                      auto* plain = dynamic_cast<TransformerEncoder*>(base.get());
                      SH_CHECK(plain && !plain->facet_config().enabled(),
                               "multifacet_transformer: base must be a plain transformer encoder (type transformer "
                               "or a stage that trained one)");
                      auto enc = std::make_shared<TransformerEncoder>(plain->config(), ctx.seed,
                                                                      resolve_facets(o, plain->config()));
                      enc->copy_base(*plain);
                      return enc;
                    })
      .with_example(parse_yaml("{type: multifacet_transformer, num_facets: 3, add_extra_facet_layers_after: [0], "
                               "add_bert_layer_facet_layers_alternate: true, add_extra_facet_layers: true, "
                               "add_extra_facet_nonlinearity: true, base: {type: transformer, preset: bert-tiny, "
                               "vocab_size: 1000, max_positions: 128}}",
                               "<multifacet_transformer example>"));
}
