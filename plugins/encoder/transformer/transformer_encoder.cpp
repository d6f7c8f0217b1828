// SPDX-License-Identifier: Apache-2.0
// Encoder `transformer`: the BERT family's post-LayerNorm encoder (BERT, and ELECTRA with its embedding
// projection). Module and parameter names are Hugging Face's (relative to the `bert.` / `electra.` prefix), so
// that a checkpoint's state dict maps one to one onto named_parameters(). The blocks are in transformer_blocks.h;
// the `multifacet_transformer` encoder (multifacet_encoder.h) builds on this class.
#include "transformer_encoder.h"

#include <limits>
#include <utility>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include <fmt/format.h>
#include <fmt/ranges.h>


namespace stagehand::transformer {
namespace {

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

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const auto& p : kPresets) out.emplace_back(p.name);
  return out;
}

}  // namespace

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

// ---------------------------------------------------------------- the encoder

TransformerEncoder::TransformerEncoder(TransformerConfig c, uint64_t seed) : cfg_(std::move(c)) {
  embeddings_ = register_module("embeddings", Embeddings(cfg_));
  if (cfg_.embedding_size != cfg_.hidden_size)
    project_ = register_module("embeddings_project", Dense(cfg_.embedding_size, cfg_.hidden_size));
  encoder_ = register_module("encoder", Stack(cfg_));
  if (cfg_.pooler) pooler_ = register_module("pooler", Pooler(cfg_));
  init_weights(seed);
}

void TransformerEncoder::check_input(const EncoderInput& in) const {
  const Tensor& ids = in.input_ids;
  SH_CHECK(ids.defined() && ids.dim() == 2,
           "transformer: input_ids must be a (batch, length) tensor, got {}",
           ids.defined() ? fmt::format("{} dimension(s)", ids.dim()) : std::string("an undefined tensor"));
  SH_CHECK(ids.scalar_type() == torch::kLong || ids.scalar_type() == torch::kInt,
           "transformer: input_ids must be int64 (or int32), got {}", c10::toString(ids.scalar_type()));
  const int64_t t = ids.size(1);
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
}

EncoderOutput TransformerEncoder::encode(const EncoderInput& in) {
  check_input(in);
  return encode_ids(in.input_ids, in.attention_mask, in.token_type_ids, in.all_layers);
}

EncoderOutput TransformerEncoder::encode_ids(const Tensor& ids, const Tensor& attention_mask,
                                             const Tensor& token_type_ids, bool all_layers) {
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
    h = after_block(static_cast<int64_t>(i), encoder_->blocks[i](h, mask_bias));
    if (all_layers) out.hidden_states.push_back(h);
  }
  if (!all_layers) out.hidden_states.push_back(h);
  return out;
}

Tensor TransformerEncoder::word_embeddings() { return embeddings_->word->weight; }

Tensor TransformerEncoder::pool(const EncoderOutput& out, const std::string& how) {
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
  if (how == "facets") return facet_states(h);
  fail("transformer: unknown pooling '{}'; use cls | mean | pooler | facets", how);
}

void TransformerEncoder::share_embeddings(Encoder& from) {
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

ConfigNode TransformerEncoder::transformer_spec() const {
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

torch::nn::Module& TransformerEncoder::block(int64_t index) { return *encoder_->blocks[static_cast<size_t>(index)]; }

// BERT's initialisation, drawn from a private generator so that building an encoder neither depends on
// nor disturbs the global RNG.
void TransformerEncoder::init_weights(uint64_t seed) {
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

}  // namespace stagehand::transformer
