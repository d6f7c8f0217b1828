// SPDX-License-Identifier: Apache-2.0
// Model `mlm`: BERT's masked-language-model pretraining. The model masks its input itself, so any dataset of
// plain token ids pretrains it.
//   reads   input_ids (B, T) int64; attention_mask, token_type_ids (B, T) when the batch has them; mlm_positions
//           (B, T) bool when the caller chooses where to predict (fill-mask: `runner predict` on the [MASK]s typed
//           in a text): then nothing is masked or replaced, the input goes in as it is
//   returns mlm_logits (M, V)     scores over the vocabulary at the M masked positions only (row-major order)
//           mlm_labels (M) int64  the original ids there
//           mlm_input_ids (B, T)  what the encoder saw ([MASK], random and kept tokens), e.g. for ELECTRA
//           mlm_positions (B, T)  bool, true at the masked positions
//
// Masking (sdk::bert_mask, stagehand/sdk/masking.h): candidates are real tokens (attention_mask 1) that are not pad/cls/sep/mask; each is chosen with
// probability mask_prob (and every sequence with a candidate gets at least one); a chosen token becomes
// [MASK] with probability replace_mask, a random non-special id with probability replace_random, and stays
// otherwise. Training draws from LibTorch's default CPU generator, whatever the device, so that the train
// stage's checkpoint of that generator resumes the exact mask sequence; every draw has shape (B, T) so the
// number of draws does not depend on the data. Evaluation draws from a generator seeded with a constant on
// every call: the same batch gets the same masks at every evaluation, and the global generator is untouched.
//
// Output layer (Hugging Face's BertOnlyMLMHead, same parameter names; sdk::MlmTransform, stagehand/sdk/mlm_head.h):
//   cls.predictions.transform.dense (H -> E) -> GELU -> cls.predictions.transform.LayerNorm (eps 1e-12)
//   -> x . word_embeddings^T + cls.predictions.bias
// The decoder weight is the encoder's word embedding matrix itself (tied), so it is not a parameter here.
#include <algorithm>
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
// Any fixed value works; it only has to be the same at every evaluation.
constexpr uint64_t kEvalMaskSeed = 0x6d6c6d2d6576616cULL;

/// "cls.predictions": the transform and the output bias; the output weight is passed in (tied).
class PredictionsImpl : public torch::nn::Module {
 public:
  PredictionsImpl(int64_t hidden, int64_t embedding, int64_t vocab, const std::string& activation, double eps) {
    transform = register_module("transform", sdk::MlmTransform(hidden, embedding, activation, eps));
    bias = register_parameter("bias", torch::zeros({vocab}));
  }
  Tensor forward(const Tensor& states, const Tensor& word_embeddings) {
    return transform->scores(states, word_embeddings, bias);
  }
  sdk::MlmTransform transform{nullptr};
  Tensor bias;
};
TORCH_MODULE(Predictions);

/// "cls", so that names read "cls.predictions..." as in Hugging Face's BertForMaskedLM.
class ClsImpl : public torch::nn::Module {
 public:
  ClsImpl(int64_t hidden, int64_t embedding, int64_t vocab, const std::string& activation, double eps) {
    predictions = register_module("predictions", Predictions(hidden, embedding, vocab, activation, eps));
  }
  Predictions predictions{nullptr};
};
TORCH_MODULE(Cls);

class MlmModel : public Model {
 public:
  MlmModel(const Options& o, const BuildContext& ctx) {
    encoder_ = register_module("encoder", ctx.registry->create<Encoder>(o.node("encoder"), ctx));
    const int64_t enc_vocab = encoder_->vocab_size();
    vocab_size_ = o.has("vocab_size") ? o.get<int64_t>("vocab_size") : enc_vocab;
    m_.mask_prob = o.get<double>("mask_prob");
    m_.replace_mask = o.get<double>("replace_mask");
    m_.replace_random = o.get<double>("replace_random");

    SH_CHECK(vocab_size_ <= enc_vocab,
             "mlm: vocab_size is {} but the encoder's word embedding table has only {} rows; build the encoder "
             "with vocab_size >= {} (the tokenizer's vocabulary)",
             vocab_size_, enc_vocab, vocab_size_);
    ids_ = sdk::SpecialIds::read(o, "mlm");
    SH_CHECK(m_.replace_mask + m_.replace_random <= 1.0 + 1e-9,
             "mlm: replace_mask {} + replace_random {} exceeds 1; they are the shares of the masked tokens "
             "replaced by [MASK] and by a random token, the rest stay unchanged",
             m_.replace_mask, m_.replace_random);
    m_.mask_id = ids_.mask;
    m_.specials = ids_.never_masked();
    ids_.check_vocab(vocab_size_, "mlm");
    // Random replacements come from the longest run of ids with no special token in it: after the special tokens
    // at the start of the vocabularies we produce (and of BERT's, [PAD] 0 ... [MASK] 103) up to the end, or, in
    // RoBERTa's, from after </s> and <unk> up to <mask>, its last id.
    std::vector<int64_t> bounds{-1, vocab_size_};
    for (int64_t id : m_.specials)
      if (id >= 0 && id < vocab_size_) bounds.push_back(id);
    std::sort(bounds.begin(), bounds.end());
    for (size_t k = 1; k < bounds.size(); ++k)
      if (bounds[k] - bounds[k - 1] - 1 > m_.random_high - m_.random_low) {
        m_.random_low = bounds[k - 1] + 1;
        m_.random_high = bounds[k];
      }
    SH_CHECK(m_.random_low < m_.random_high, "mlm: no ordinary token ids: every id below vocab_size {} is special",
             vocab_size_);

    // The head's activation and epsilon are the encoder's, as the checkpoint's own head takes them: the config's
    // hidden_act (BERT, ALBERT: gelu_new) except RoBERTa's head (a position offset), which always uses the erf
    // GELU; layer_norm_eps always (RoBERTa: 1e-5).
    const ConfigNode enc_spec = encoder_->spec();
    const ConfigNode* act = enc_spec.is_map() ? enc_spec.find("activation") : nullptr;
    const ConfigNode* eps = enc_spec.is_map() ? enc_spec.find("layer_norm_eps") : nullptr;
    const ConfigNode* offset = enc_spec.is_map() ? enc_spec.find("position_offset") : nullptr;
    const bool roberta = offset && offset->is_int() && offset->as_int() > 0;
    cls_ = register_module("cls", Cls(encoder_->hidden_size(), encoder_->embedding_size(), enc_vocab,
                                      roberta || !act ? std::string("gelu") : act->as_string(),
                                      eps ? eps->as_double() : 1e-12));
    torch::NoGradGuard no_grad;
    at::Generator gen = at::detail::createCPUGenerator(derive_seed(ctx.seed, "mlm.cls"));
    cls_->predictions->transform->dense->weight.normal_(0.0, kInitStd, gen);
  }

  Batch forward(const Batch& batch) override {
    const Tensor& ids = batch.at("input_ids");
    SH_CHECK(ids.dim() == 2, "mlm: input_ids must be (batch, length), got {} dimension(s)", ids.dim());
    EncoderInput in;
    if (batch.has("attention_mask")) in.attention_mask = batch.at("attention_mask");
    if (batch.has("token_type_ids")) in.token_type_ids = batch.at("token_type_ids");
    sdk::Masked masked;
    if (batch.has("mlm_positions")) {  // the caller's positions (fill-mask): the input as it is, no masking drawn
      masked.input_ids = ids;
      masked.selected = batch.at("mlm_positions").to(torch::kBool);
      SH_CHECK(masked.selected.sizes() == ids.sizes(), "mlm: mlm_positions must have input_ids' shape");
    } else {
      masked = is_training()
                   ? sdk::bert_mask(ids, in.attention_mask, m_, c10::nullopt)
                   : sdk::bert_mask(ids, in.attention_mask, m_, at::detail::createCPUGenerator(kEvalMaskSeed));
    }
    in.input_ids = masked.input_ids;
    EncoderOutput enc = encoder_->encode(in);
    // Only the masked positions go through the output layer: the (M, V) product instead of (B*T, V).
    Tensor states = enc.last().index({masked.selected});
    Batch out;
    out.set("mlm_logits", cls_->predictions->forward(states, encoder_->word_embeddings()));
    out.set("mlm_labels", ids.index({masked.selected}).to(torch::kLong));
    out.set("mlm_input_ids", masked.input_ids);
    out.set("mlm_positions", masked.selected);
    return out;
  }

  std::shared_ptr<Encoder> encoder() override { return encoder_; }

  ConfigNode spec() const override {
    ConfigNode::MapEntries e;
    e.emplace_back("type", ConfigNode::of("mlm"));
    e.emplace_back("encoder", encoder_->spec());
    e.emplace_back("mask_prob", ConfigNode::of(m_.mask_prob));
    e.emplace_back("replace_mask", ConfigNode::of(m_.replace_mask));
    e.emplace_back("replace_random", ConfigNode::of(m_.replace_random));
    e.emplace_back("vocab_size", ConfigNode::of(vocab_size_));
    ids_.write(e);
    return ConfigNode::map(std::move(e));
  }

 private:
  std::shared_ptr<Encoder> encoder_;
  Cls cls_{nullptr};
  sdk::BertMasking m_;
  sdk::SpecialIds ids_;
  int64_t vocab_size_ = 0;
};

Schema mlm_schema() {
  Schema s;
  s.component("encoder", Encoder::kKind,
                 "the encoder: a spec such as {type: transformer, preset: bert-mini}, or the name of a stage that "
                 "provides one")
      .opt("mask_prob", 0.15, "probability that a non-special token is chosen for prediction")
      .min(0)
      .max(1)
      .opt("replace_mask", 0.8, "share of the chosen tokens replaced by [MASK]")
      .min(0)
      .max(1)
      .opt("replace_random", 0.1, "share of the chosen tokens replaced by a random token (the rest stay as they are)")
      .min(0)
      .max(1)
      .optional("vocab_size", OptionType::Int,
                "number of token ids of the tokenizer; random replacements stay below it (default: the encoder's)")
      .min(1);
  return sdk::special_id_options(s);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  registrar
      .add<Model>("mlm",
                  "BERT masked-language-model pretraining: masks its input, predicts the masked tokens with an "
                  "output layer tied to the word embeddings",
                  mlm_schema(),
                  [](const Options& o, const BuildContext& ctx) { return std::make_shared<MlmModel>(o, ctx); })
      .with_example(parse_yaml("{type: mlm, mask_id: 4, pad_id: 0, cls_id: 2, sep_id: 3, encoder: {type: "
                               "transformer, vocab_size: 100, hidden_size: 32, num_layers: 2, num_heads: 2, "
                               "intermediate_size: 64, max_positions: 64}}",
                               "<mlm example>"));
}
