// SPDX-License-Identifier: Apache-2.0
// Model `electra`: ELECTRA's replaced-token-detection pretraining (Clark et al. 2020; google-research/electra,
// run_pretraining.py and pretrain/pretrain_helpers.py), generator and discriminator trained jointly.
//   reads   input_ids, attention_mask, token_type_ids (B, T)
//   returns mlm_logits (M, V)    generator scores at the M masked positions (row-major order)
//           mlm_labels (M)       the original ids there
//           rtd_logits (B, T)    discriminator scores, > 0 meaning "replaced"
//           rtd_labels (B, T)    float, 1 where the generator's sample differs from the original token
//           rtd_weights (B, T)   float, 1 on real tokens (attention_mask), 0 on padding
//           masked (B, T) bool; generator_input_ids (B, T) (what the generator saw: [MASK] or the kept token at
//           the masked positions); fake_input_ids (B, T) (what the discriminator saw)
// The loss `electra` combines them: generator_weight * MLM + discriminator_weight * RTD.
//
// Masking (pretrain_helpers.mask; sdk::electra_mask in stagehand/sdk/masking.h): candidates are real tokens
// other than [CLS]/[SEP]/[MASK]/padding; each sequence masks n = max(1, min(max_predictions, round(mask_prob *
// candidates))) positions drawn uniformly without replacement (the TF code draws max_predictions positions with
// replacement and lets duplicates collapse, so it masks slightly fewer than n; we mask exactly n, the rate the paper
// states); a masked position becomes [MASK] with probability replace_mask (0.85) and keeps its token otherwise —
// ELECTRA never substitutes a random token. max_predictions defaults to int((mask_prob + 0.005) * max_length), 19 at length 128.
//
// Generator (get_generator_config): the discriminator's architecture with hidden size
// round(H * generator_size), round(L * generator_layers) blocks, FFN 4x its hidden size and max(1, hidden/64)
// heads. It shares the token, position and type embeddings and the embedding LayerNorm with the discriminator
// (one set of tensors, Encoder::share_embeddings) and has its own embeddings_project. Its MLM head is
// dense(h -> E) -> GELU -> LayerNorm -> x . word_embeddings^T + bias (sdk::MlmTransform, stagehand/sdk/mlm_head.h),
// computed at the masked positions only.
// Corruption (_get_fake_data): argmax(logits / temperature + Gumbel noise) with
// Gumbel = -log(-log(u + 1e-9) + 1e-9), under no_grad, replaces the masked positions; a position is "replaced"
// only where the sample differs from the original. Discriminator head: dense(H -> H) -> the discriminator's
// activation (its hidden_act, as ELECTRA's _get_discriminator_output and Hugging Face's
// ElectraDiscriminatorPredictions take it) -> dense(H -> 1).
//
// Model `electra_discriminator`: the discriminator alone with its head, Hugging Face's ElectraForPreTraining
// (what a released ELECTRA discriminator folder holds): rtd_logits (B, T) for the tokens as they are, > 0 meaning
// "replaced", and rtd_weights (B, T). `model: {type: hf, path: FOLDER}` builds it from such a folder.
//
// Parameter names follow Hugging Face's ElectraForPreTraining / ElectraForMaskedLM: "encoder.*" (the
// discriminator, exported as `electra.*`), "generator.*", "generator_predictions.{dense,LayerNorm}",
// "generator_lm_head.bias", "discriminator_predictions.{dense,dense_prediction}".
//
// Randomness: training draws from LibTorch's default CPU generator (checkpointed by the train stage, so a
// resumed run draws the same masks); every draw has a fixed shape ((B, T) and (M, V)) so the number of draws does
// not depend on which tokens are candidates. Evaluation uses a generator seeded with a constant on every call.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <fmt/format.h>

#include <stagehand/model.h>
#include <stagehand/nn.h>
#include <stagehand/plugin.h>
#include <stagehand/seed.h>

#include <stagehand/sdk/masking.h>
#include <stagehand/sdk/mlm_head.h>
#include <stagehand/sdk/special_ids.h>

namespace stagehand {
namespace {

using torch::Tensor;

constexpr double kInitStd = 0.02;
constexpr uint64_t kEvalSeed = 0x656c65637472612dULL;  // any constant: the same masks at every evaluation

using Dense = nn::Dense;

/// "generator_lm_head": the output bias; its weight is the shared word embedding matrix (tied).
class LmHeadImpl : public torch::nn::Module {
 public:
  explicit LmHeadImpl(int64_t vocab) { bias = register_parameter("bias", torch::zeros({vocab})); }
  Tensor bias;
};
TORCH_MODULE(LmHead);

/// "discriminator_predictions": dense (H -> H) -> activation -> dense_prediction (H -> 1).
class DiscriminatorPredictionsImpl : public torch::nn::Module {
 public:
  DiscriminatorPredictionsImpl(int64_t hidden, std::string activation) : activation_(std::move(activation)) {
    sdk::check_activation(activation_, "electra discriminator head");
    dense = register_module("dense", Dense(hidden, hidden));
    dense_prediction = register_module("dense_prediction", Dense(hidden, 1));
  }
  Tensor forward(const Tensor& x) { return dense_prediction(sdk::activate(dense(x), activation_)).squeeze(-1); }
  Dense dense{nullptr}, dense_prediction{nullptr};

 private:
  std::string activation_;
};
TORCH_MODULE(DiscriminatorPredictions);

/// The encoder spec's activation ("gelu" when it names none).
std::string activation_of(const Encoder& encoder) {
  const ConfigNode spec = encoder.spec();
  const ConfigNode* act = spec.is_map() ? spec.find("activation") : nullptr;
  return act && !act->is_null() ? act->as_string() : std::string("gelu");
}

/// The discriminator's head with ELECTRA's initialisation: N(0, 0.02) weights drawn from `gen`, zero biases.
DiscriminatorPredictions discriminator_head(const Encoder& encoder, at::Generator& gen) {
  DiscriminatorPredictions head(encoder.hidden_size(), activation_of(encoder));
  torch::NoGradGuard no_grad;
  for (Dense* d : {&head->dense, &head->dense_prediction}) {
    (*d)->weight.normal_(0.0, kInitStd, gen);
    (*d)->bias.zero_();
  }
  return head;
}

/// rtd_weights: 1 on real tokens, 0 on padding.
Tensor token_weights(const EncoderInput& in, const Tensor& like) {
  return in.attention_mask.defined() ? in.attention_mask.to(torch::kFloat)
                                     : torch::ones(like.sizes(), like.options().dtype(torch::kFloat));
}

EncoderInput encoder_input(const Batch& batch, const char* who) {
  const Tensor& ids = batch.at("input_ids");
  SH_CHECK(ids.dim() == 2, "{}: input_ids must be (batch, length), got {} dimension(s)", who, ids.dim());
  EncoderInput in;
  in.input_ids = ids;
  if (batch.has("attention_mask")) in.attention_mask = batch.at("attention_mask");
  if (batch.has("token_type_ids")) in.token_type_ids = batch.at("token_type_ids");
  return in;
}

class ElectraDiscriminatorModel : public Model {
 public:
  ElectraDiscriminatorModel(const Options& o, const BuildContext& ctx) {
    encoder_ = register_module("encoder", ctx.registry->create<Encoder>(o.node("encoder"), ctx));
    at::Generator gen = at::detail::createCPUGenerator(derive_seed(ctx.seed, "electra.heads"));
    head_ = register_module("discriminator_predictions", discriminator_head(*encoder_, gen));
  }

  Batch forward(const Batch& batch) override {
    const EncoderInput in = encoder_input(batch, "electra_discriminator");
    Tensor rtd = head_(encoder_->encode(in).last());
    Batch out;
    out.set("rtd_logits", rtd);
    out.set("rtd_weights", token_weights(in, rtd));
    return out;
  }

  std::shared_ptr<Encoder> encoder() override { return encoder_; }

  ConfigNode spec() const override {
    ConfigNode::MapEntries e;
    e.emplace_back("type", ConfigNode::of("electra_discriminator"));
    e.emplace_back("encoder", encoder_->spec());
    return ConfigNode::map(std::move(e));
  }

 private:
  std::shared_ptr<Encoder> encoder_;
  DiscriminatorPredictions head_{nullptr};
};

/// The generator's architecture from the discriminator's spec, as get_generator_config derives it.
ConfigNode generator_spec(const ConfigNode& disc, double size, double layers) {
  ConfigNode g = disc.clone();
  const int64_t h = std::llround(static_cast<double>(disc.at("hidden_size").as_int()) * size);
  const int64_t l = std::llround(static_cast<double>(disc.at("num_layers").as_int()) * layers);
  SH_CHECK(h >= 1 && l >= 1,
           "electra: generator_size {} and generator_layers {} give a generator of hidden size {} and {} layers; "
           "both must be at least 1",
           size, layers, h, l);
  g.set("preset", ConfigNode::null());
  g.set("hidden_size", ConfigNode::of(h));
  g.set("num_layers", ConfigNode::of(l));
  g.set("intermediate_size", ConfigNode::of(4 * h));
  g.set("num_heads", ConfigNode::of(std::max<int64_t>(1, h / 64)));
  if (g.has("pooler")) g.set("pooler", ConfigNode::of(false));
  return g;
}

class ElectraModel : public Model {
 public:
  ElectraModel(const Options& o, const BuildContext& ctx) {
    encoder_ = register_module("encoder", ctx.registry->create<Encoder>(o.node("encoder"), ctx));
    const ConfigNode disc_spec = encoder_->spec();
    generator_size_ = o.get<double>("generator_size");
    generator_layers_ = o.get<double>("generator_layers");
    ConfigNode gspec = o.has("generator") ? o.node("generator").clone()
                                          : generator_spec(disc_spec, generator_size_, generator_layers_);
    BuildContext gctx = ctx;
    gctx.seed = derive_seed(ctx.seed, "electra.generator");
    generator_ = register_module("generator", ctx.registry->create<Encoder>(gspec, gctx));
    generator_->share_embeddings(*encoder_);

    const int64_t vocab = encoder_->vocab_size();
    const int64_t emb = encoder_->embedding_size();
    // ELECTRA's generator head: always the erf GELU, the generator's layer_norm_eps (ElectraGeneratorPredictions).
    const ConfigNode gen_spec = generator_->spec();
    const ConfigNode* gen_eps = gen_spec.is_map() ? gen_spec.find("layer_norm_eps") : nullptr;
    gen_predictions_ = register_module(
        "generator_predictions",
        sdk::MlmTransform(generator_->hidden_size(), emb, "gelu", gen_eps ? gen_eps->as_double() : 1e-12));
    lm_head_ = register_module("generator_lm_head", LmHead(vocab));
    // One generator, drawn in this order: the generator head's dense, then the discriminator head's two.
    at::Generator gen = at::detail::createCPUGenerator(derive_seed(ctx.seed, "electra.heads"));
    {
      torch::NoGradGuard no_grad;
      gen_predictions_->dense->weight.normal_(0.0, kInitStd, gen);
      gen_predictions_->dense->bias.zero_();
    }
    disc_predictions_ = register_module("discriminator_predictions", discriminator_head(*encoder_, gen));

    ids_ = sdk::SpecialIds::read(o, "electra");
    ids_.check_vocab(vocab, "electra");
    m_.mask_prob = o.get<double>("mask_prob");
    m_.replace_mask = o.get<double>("replace_mask");
    m_.mask_id = ids_.mask;
    m_.specials = ids_.never_masked();
    max_length_ = o.has("max_length") ? o.get<int64_t>("max_length") : int64_t{-1};
    if (o.has("max_predictions")) {
      m_.max_predictions = o.get<int64_t>("max_predictions");
    } else {
      SH_CHECK(max_length_ > 0,
               "electra: neither max_predictions nor max_length is set; the train stage fills max_length from a "
               "pretraining dataset, otherwise set max_predictions (ELECTRA: int((mask_prob + 0.005) * max_length))");
      // ELECTRA's configure_pretraining.py: int((mask_prob + 0.005) * max_seq_length), computed in floating
      // point exactly as Python does it.
      m_.max_predictions = static_cast<int64_t>((m_.mask_prob + 0.005) * static_cast<double>(max_length_));
    }
    SH_CHECK(m_.max_predictions >= 1, "electra: max_predictions is {}; it must be at least 1", m_.max_predictions);
    temperature_ = o.get<double>("temperature");
  }

  Batch forward(const Batch& batch) override {
    const Tensor& ids = batch.at("input_ids");
    const EncoderInput in = encoder_input(batch, "electra");
    c10::optional<at::Generator> gen;
    if (!is_training()) gen = at::detail::createCPUGenerator(kEvalSeed);
    auto [masked_ids, selected] = sdk::electra_mask(ids, in.attention_mask, m_, gen);

    // ---- generator: MLM at the masked positions
    EncoderInput gin = in;
    gin.input_ids = masked_ids;
    Tensor states = generator_->encode(gin).last().index({selected});  // (M, h)
    Tensor word = encoder_->word_embeddings();
    Tensor logits = gen_predictions_->scores(states, word, lm_head_->bias);  // (M, V)
    Tensor labels = ids.index({selected}).to(torch::kLong);

    // ---- corruption: Gumbel-max samples replace the masked positions; no gradient flows through them
    Tensor fake = ids.clone();
    {
      torch::NoGradGuard no_grad;
      Tensor u = stagehand::nn::uniform(logits.sizes(), gen).to(logits.device());
      Tensor gumbel = -at::log(-at::log(u + 1e-9) + 1e-9);
      Tensor sample = (logits.detach().to(torch::kFloat) / temperature_ + gumbel).argmax(-1);
      fake.index_put_({selected}, sample.to(fake.dtype()));
    }
    Tensor replaced = (selected & fake.ne(ids)).to(torch::kFloat);

    // ---- discriminator: is each token original or replaced?
    EncoderInput din = in;
    din.input_ids = fake;
    Tensor rtd = disc_predictions_(encoder_->encode(din).last());  // (B, T)
    Tensor weights = token_weights(in, rtd);

    Batch out;
    out.set("mlm_logits", logits);
    out.set("mlm_labels", labels);
    out.set("rtd_logits", rtd);
    out.set("rtd_labels", replaced);
    out.set("rtd_weights", weights);
    out.set("masked", selected);
    out.set("generator_input_ids", masked_ids);
    out.set("fake_input_ids", fake);
    return out;
  }

  std::shared_ptr<Encoder> encoder() override { return encoder_; }

  ConfigNode spec() const override {
    auto id = [](int64_t v) { return v >= 0 ? ConfigNode::of(v) : ConfigNode::null(); };
    ConfigNode::MapEntries e;
    e.emplace_back("type", ConfigNode::of("electra"));
    e.emplace_back("encoder", encoder_->spec());
    e.emplace_back("generator", generator_->spec());
    e.emplace_back("generator_size", ConfigNode::of(generator_size_));
    e.emplace_back("generator_layers", ConfigNode::of(generator_layers_));
    e.emplace_back("mask_prob", ConfigNode::of(m_.mask_prob));
    e.emplace_back("replace_mask", ConfigNode::of(m_.replace_mask));
    e.emplace_back("max_predictions", ConfigNode::of(m_.max_predictions));
    e.emplace_back("max_length", id(max_length_));
    e.emplace_back("temperature", ConfigNode::of(temperature_));
    ids_.write(e);
    return ConfigNode::map(std::move(e));
  }

 private:
  std::shared_ptr<Encoder> encoder_, generator_;
  sdk::MlmTransform gen_predictions_{nullptr};
  LmHead lm_head_{nullptr};
  DiscriminatorPredictions disc_predictions_{nullptr};
  sdk::ElectraMasking m_;
  double generator_size_ = 0.25, generator_layers_ = 1.0, temperature_ = 1.0;
  sdk::SpecialIds ids_;
  int64_t max_length_ = -1;
};

Schema electra_schema() {
  Schema s;
  s.component("encoder", Encoder::kKind,
                 "the discriminator (the encoder kept for fine-tuning), e.g. {type: transformer, preset: "
                 "electra-small}")
      .optional("generator", OptionType::Component,
                "the generator's encoder spec; unset: derived from the discriminator with generator_size and "
                "generator_layers (its embedding tables are always the discriminator's)")
      .kind(Encoder::kKind)
      .opt("generator_size", 0.25,
           "generator hidden size as a fraction of the discriminator's (ELECTRA-small 0.25, base 1/3; "
           "ELECTRA-Small++ 1.0); heads max(1, h/64), FFN 4h")
      .min(0)
      .opt("generator_layers", 1.0, "generator depth as a fraction of the discriminator's")
      .min(0)
      .opt("mask_prob", 0.15, "fraction of the candidate tokens masked in each sequence (ELECTRA-large: 0.25)")
      .min(0)
      .max(1)
      .opt("replace_mask", 0.85, "share of the masked positions that become [MASK]; the rest keep their token")
      .min(0)
      .max(1)
      .optional("max_predictions", OptionType::Int,
                "most masked positions per sequence (default: int((mask_prob + 0.005) * max_length), 19 at 128)")
      .min(1)
      .optional("max_length", OptionType::Int, "the data's sequence length (filled by the train stage from the dataset)")
      .min(1)
      .opt("temperature", 1.0, "sampling temperature of the generator's softmax")
      .min(1e-6);
  return sdk::special_id_options(s);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  registrar
      .add<Model>("electra",
                  "ELECTRA pretraining: a small generator fills masked positions, the discriminator (the encoder "
                  "kept) detects replaced tokens; embeddings shared",
                  electra_schema(),
                  [](const Options& o, const BuildContext& ctx) { return std::make_shared<ElectraModel>(o, ctx); })
      .with_example(parse_yaml("{type: electra, mask_id: 4, pad_id: 0, cls_id: 2, sep_id: 3, max_length: 64, "
                               "encoder: {type: transformer, vocab_size: 100, hidden_size: 64, embedding_size: 32, "
                               "num_layers: 2, num_heads: 2, intermediate_size: 128, max_positions: 64}}",
                               "<electra example>"));
  registrar
      .add<Model>("electra_discriminator",
                  "ELECTRA's discriminator with its replaced-token-detection head (Hugging Face's "
                  "ElectraForPreTraining): rtd_logits per token, > 0 meaning replaced",
                  Schema().component("encoder", Encoder::kKind,
                                     "the discriminator, e.g. {type: hf, path: electra-small-discriminator}"),
                  [](const Options& o, const BuildContext& ctx) {
                    return std::make_shared<ElectraDiscriminatorModel>(o, ctx);
                  })
      .with_example(parse_yaml("{type: electra_discriminator, encoder: {type: transformer, vocab_size: 100, "
                               "hidden_size: 64, embedding_size: 32, num_layers: 2, num_heads: 2, "
                               "intermediate_size: 128, max_positions: 64}}",
                               "<electra_discriminator example>"));
}
