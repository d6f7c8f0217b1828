// SPDX-License-Identifier: Apache-2.0
// The `mlp` head and the `classifier` and `mlm` models, loaded from their plugins as the runner loads them, on
// a tiny `transformer` encoder. Expected values are computed here from the components' own parameters with
// the formulas written out, so that a wrong layer order, activation or masking rule shows up as a mismatch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <torch/types.h>

#include "support/test_support.h"
#include "plugin/loader.h"
#include "stagehand/model.h"
#include "stagehand/registry.h"

using namespace stagehand;
using torch::Tensor;

namespace {

using sh_test::error_of;

const char* const kTinyEncoder =
    "{type: transformer, vocab_size: 50, hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32, "
    "max_positions: 32}";
constexpr int64_t kVocab = 50, kHidden = 16;
constexpr int64_t kPad = 0, kCls = 1, kSep = 2, kMask = 3, kFirstOrdinary = 4;

Registry& registry() {
  static Registry* reg = [] {
    auto* r = new Registry;
    static PluginLoader loader(*r);
    for (const char* name : {"encoder_transformer", "head_mlp", "model_classifier", "model_mlm"})
      loader.load(std::string(STAGEHAND_PLUGIN_DIR) + "/" + name + ".so", "test");
    return r;
  }();
  return *reg;
}

BuildContext context(uint64_t seed = 1) {
  BuildContext ctx;
  ctx.registry = &registry();
  ctx.seed = seed;
  return ctx;
}

template <class T>
std::shared_ptr<T> make(const std::string& yaml, uint64_t seed = 1) {
  return registry().create<T>(parse_yaml(yaml, "test"), context(seed));
}

std::string classifier_yaml(const std::string& extra = "num_labels: 3") {
  return fmt::format("{{type: classifier, {}, encoder: {}}}", extra, kTinyEncoder);
}

std::string mlm_yaml(const std::string& extra = "") {
  return fmt::format("{{type: mlm, vocab_size: 50, mask_id: 3, pad_id: 0, cls_id: 1, sep_id: 2{}{}, encoder: {}}}",
                     extra.empty() ? "" : ", ", extra, kTinyEncoder);
}

Tensor param(torch::nn::Module& m, const std::string& name) {
  auto params = m.named_parameters(true);
  const Tensor* p = params.find(name);
  if (!p) {
    ADD_FAILURE() << "no parameter " << name;
    return {};
  }
  return *p;
}

/// BERT-like rows: [CLS] body [SEP] [PAD]...; lengths in [min_len, t]; body ids in [kFirstOrdinary, body_high).
Batch text_batch(int64_t b, int64_t t, uint32_t seed, int64_t min_len = 3, int64_t body_high = kVocab) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> len_dist(min_len, t), id_dist(kFirstOrdinary, body_high - 1);
  Tensor ids = torch::full({b, t}, kPad, torch::kLong), mask = torch::zeros({b, t}, torch::kLong);
  auto pi = ids.accessor<int64_t, 2>();
  auto pm = mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t len = len_dist(rng);
    pi[i][0] = kCls;
    for (int64_t j = 1; j + 1 < len; ++j) pi[i][j] = id_dist(rng);
    pi[i][len - 1] = kSep;
    for (int64_t j = 0; j < len; ++j) pm[i][j] = 1;
  }
  Batch batch;
  batch.set("input_ids", ids);
  batch.set("attention_mask", mask);
  return batch;
}

Tensor gelu_erf(const Tensor& x) { return 0.5 * x * (1.0 + torch::erf(x / std::sqrt(2.0))); }

Tensor layer_norm_by_hand(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  Tensor mean = x.mean(-1, true);
  Tensor var = (x - mean).pow(2).mean(-1, true);
  return (x - mean) / torch::sqrt(var + eps) * w + b;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) { return torch::matmul(x, w.t()) + b; }

void randomize(const Tensor& t) {
  torch::NoGradGuard ng;
  t.uniform_(-0.5, 0.5);
}

}  // namespace

// ---------------------------------------------------------------------------------------------- head mlp

TEST(MlpHead, MatchesHandComputationForEveryActivation) {
  ASSERT_TRUE(registry().find("head", "mlp")) << "head_mlp.so not loaded from " << STAGEHAND_PLUGIN_DIR;
  torch::manual_seed(0);
  Tensor x = torch::randn({4, 8});
  for (const std::string act : {"relu", "tanh", "sigmoid", "gelu"}) {
    SCOPED_TRACE(act);
    auto head = make<Head>(
        fmt::format("{{type: mlp, in_features: 8, out_features: 3, hidden: [5], activation: {}, dropout: 0.0}}", act));
    Tensor w0 = param(*head, "layers.0.weight"), b0 = param(*head, "layers.0.bias");
    Tensor w1 = param(*head, "layers.1.weight"), b1 = param(*head, "layers.1.bias");
    ASSERT_EQ(w0.sizes(), (std::vector<int64_t>{5, 8}));
    ASSERT_EQ(w1.sizes(), (std::vector<int64_t>{3, 5}));
    EXPECT_EQ(head->named_parameters().size(), 4u);
    randomize(b0);  // zero at init; make sure they are used
    randomize(b1);
    Tensor h = linear(x, w0, b0);
    Tensor a = act == "relu"      ? torch::where(h > 0, h, torch::zeros_like(h))
               : act == "tanh"    ? (torch::exp(2 * h) - 1) / (torch::exp(2 * h) + 1)
               : act == "sigmoid" ? 1.0 / (1.0 + torch::exp(-h))
                                  : gelu_erf(h);
    Tensor expected = linear(a, w1, b1);
    torch::NoGradGuard ng;
    Tensor y = head->forward(x);
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{4, 3}));
    EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-6));
    // Token features (B, T, in): the same map on every position.
    Tensor x3 = torch::randn({2, 7, 8});
    Tensor y3 = head->forward(x3);
    ASSERT_EQ(y3.sizes(), (std::vector<int64_t>{2, 7, 3}));
    EXPECT_TRUE(torch::allclose(y3[1][4], head->forward(x3[1][4].unsqueeze(0))[0], 1e-6, 1e-6));
  }
}

TEST(MlpHead, NoHiddenLayersIsOneLinearLayer) {
  auto head = make<Head>("{type: mlp, in_features: 6, out_features: 2, dropout: 0.0}");
  ASSERT_EQ(head->named_parameters().size(), 2u);
  Tensor w = param(*head, "layers.0.weight"), b = param(*head, "layers.0.bias");
  randomize(b);
  Tensor x = torch::randn({5, 6});
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::allclose(head->forward(x), linear(x, w, b), 1e-6, 1e-6));
}

TEST(MlpHead, InitIsSeededNormalAndLeavesTheGlobalGeneratorAlone) {
  const std::string spec = "{type: mlp, in_features: 64, out_features: 32, hidden: [128]}";
  torch::manual_seed(42);
  Tensor before = torch::rand({3});
  torch::manual_seed(42);
  auto a = make<Head>(spec, 7);
  EXPECT_TRUE(torch::equal(torch::rand({3}), before)) << "building a head drew from the global generator";

  Tensor w = param(*a, "layers.0.weight");
  EXPECT_NEAR(w.std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.001);
  EXPECT_EQ(param(*a, "layers.0.bias").abs().sum().item<double>(), 0.0);
  EXPECT_EQ(param(*a, "layers.1.bias").abs().sum().item<double>(), 0.0);

  auto same = make<Head>(spec, 7), other = make<Head>(spec, 8);
  for (const auto& p : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), param(*same, p.key()))) << p.key();
    if (p.key().find("weight") != std::string::npos)
      EXPECT_FALSE(torch::equal(p.value(), param(*other, p.key()))) << p.key();
  }
}

TEST(MlpHead, BatchNormSitsBetweenLinearAndActivation) {
  auto head = make<Head>(
      "{type: mlp, in_features: 4, out_features: 2, hidden: [6], batch_norm: true, activation: tanh, dropout: 0.0}");
  Tensor w0 = param(*head, "layers.0.weight"), b0 = param(*head, "layers.0.bias");
  Tensor w1 = param(*head, "layers.1.weight"), b1 = param(*head, "layers.1.bias");
  Tensor gamma = param(*head, "norms.0.weight"), beta = param(*head, "norms.0.bias");
  randomize(gamma);
  randomize(beta);
  randomize(b0);
  auto buffers = head->named_buffers();
  ASSERT_TRUE(buffers.find("norms.0.running_mean"));
  ASSERT_TRUE(buffers.find("norms.0.running_var"));

  torch::manual_seed(1);
  Tensor x = torch::randn({10, 4});
  head->train();
  Tensor h = linear(x, w0, b0).detach();
  Tensor mean = h.mean(0), var = h.var(0, /*unbiased=*/false);
  Tensor expected = linear(torch::tanh((h - mean) / torch::sqrt(var + 1e-5) * gamma + beta), w1, b1);
  Tensor y = head->forward(x);
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-5));
  // Running statistics moved by momentum 0.1 from (0, 1); the variance is the unbiased one.
  Tensor rm = buffers["norms.0.running_mean"], rv = buffers["norms.0.running_var"];
  EXPECT_TRUE(torch::allclose(rm, 0.1 * mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(rv, 0.9 + 0.1 * h.var(0, /*unbiased=*/true), 1e-5, 1e-6));
  EXPECT_EQ(buffers["norms.0.num_batches_tracked"].item<int64_t>(), 1);

  // In eval mode the running statistics normalise.
  head->eval();
  torch::NoGradGuard ng;
  Tensor x2 = torch::randn({3, 4});
  Tensor h2 = linear(x2, w0, b0);
  Tensor expected2 = linear(torch::tanh((h2 - rm) / torch::sqrt(rv + 1e-5) * gamma + beta), w1, b1);
  EXPECT_TRUE(torch::allclose(head->forward(x2), expected2, 1e-5, 1e-5));
  EXPECT_EQ(head->forward(torch::randn({2, 5, 4})).sizes(), (std::vector<int64_t>{2, 5, 2}));
}

TEST(MlpHead, DropoutOnlyInTraining) {
  auto head = make<Head>("{type: mlp, in_features: 32, out_features: 32, dropout: 0.5}");
  Tensor w = param(*head, "layers.0.weight"), b = param(*head, "layers.0.bias");
  Tensor x = torch::ones({16, 32});
  torch::NoGradGuard ng;
  head->train();
  EXPECT_FALSE(torch::equal(head->forward(x), head->forward(x)));
  head->eval();
  Tensor y = head->forward(x);
  EXPECT_TRUE(torch::equal(y, head->forward(x)));
  EXPECT_TRUE(torch::allclose(y, linear(x, w, b), 1e-6, 1e-6));
}

TEST(MlpHead, MissingWidthsAndWrongInputsAreExplained) {
  EXPECT_NE(error_of([] { make<Head>("{type: mlp, out_features: 2}"); }).find("in_features is not set"),
            std::string::npos);
  EXPECT_NE(error_of([] { make<Head>("{type: mlp, in_features: 4}"); }).find("out_features is not set"),
            std::string::npos);
  auto head = make<Head>("{type: mlp, in_features: 4, out_features: 2}");
  std::string e = error_of([&] { head->forward(torch::zeros({3, 5})); });
  EXPECT_NE(e.find("in_features = 4"), std::string::npos) << e;
  EXPECT_NE(e.find("3, 5"), std::string::npos) << e;
}

// ---------------------------------------------------------------------------------------------- classifier

TEST(Classifier, FillsTheHeadWidthsAndReturnsLogits) {
  ASSERT_TRUE(registry().find("encoder", "transformer")) << "encoder_transformer.so not loaded";
  ASSERT_TRUE(registry().find("model", "classifier")) << "model_classifier.so not loaded";
  auto model = make<Model>(classifier_yaml());
  Batch batch = text_batch(4, 10, 1);
  Batch out = model->forward(batch);
  EXPECT_EQ(out.at("logits").sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(out.at("pooled").sizes(), (std::vector<int64_t>{4, kHidden}));
  EXPECT_EQ(param(*model, "head.layers.0.weight").sizes(), (std::vector<int64_t>{3, kHidden}));
  EXPECT_EQ(param(*model, "encoder.embeddings.word_embeddings.weight").sizes(),
            (std::vector<int64_t>{kVocab, kHidden}));
  ASSERT_NE(model->encoder(), nullptr);
  EXPECT_EQ(model->encoder()->hidden_size(), kHidden);

  ConfigNode spec = model->spec();
  EXPECT_EQ(spec.at("type").as_string(), "classifier");
  EXPECT_EQ(spec.at("num_labels").as_int(), 3);
  EXPECT_EQ(spec.at("pooling").as_string(), "cls");
  EXPECT_EQ(spec.at("head").at("in_features").as_int(), kHidden);
  EXPECT_EQ(spec.at("head").at("out_features").as_int(), 3);
  EXPECT_EQ(spec.at("head").at("activation").as_string(), "tanh");
  EXPECT_EQ(spec.at("encoder").at("hidden_size").as_int(), kHidden);
  EXPECT_EQ(spec.at("encoder").at("num_layers").as_int(), 1);

  // The spec rebuilds the same model: same parameter names and, under the same seed, the same values.
  auto again = registry().create<Model>(spec, context(1));
  auto pa = model->named_parameters(), pb = again->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), param(*again, p.key()))) << p.key();
}

TEST(Classifier, NumLabelsComesFromTheDatasetHints) {
  ConfigNode spec = parse_yaml(classifier_yaml("dropout: 0.1"), "test");
  std::string e = error_of([&] { registry().create<Model>(spec, context()); });
  EXPECT_NE(e.find("num_labels is not set"), std::string::npos) << e;

  ConfigNode filled = fill_hints(spec, "model", {{"num_labels", 5}}, registry());
  auto model = registry().create<Model>(filled, context());
  EXPECT_EQ(model->forward(text_batch(2, 6, 2)).at("logits").sizes(), (std::vector<int64_t>{2, 5}));

  // A head that fixes its width stands in for num_labels; one that contradicts the model is refused.
  auto by_head = make<Model>(classifier_yaml("head: {type: mlp, out_features: 4}"));
  EXPECT_EQ(by_head->forward(text_batch(2, 6, 2)).at("logits").size(1), 4);
  e = error_of([] { make<Model>(classifier_yaml("num_labels: 3, head: {type: mlp, in_features: 99}")); });
  EXPECT_NE(e.find("in_features: 99"), std::string::npos) << e;
  EXPECT_NE(e.find("needs 16"), std::string::npos) << e;
}

TEST(Classifier, PoolingVariants) {
  Batch batch = text_batch(5, 9, 3);
  for (const std::string pooling : {"cls", "mean", "pooler"}) {
    SCOPED_TRACE(pooling);
    auto model = make<Model>(classifier_yaml("num_labels: 2, pooling: " + pooling));
    model->eval();
    torch::NoGradGuard ng;
    Batch out = model->forward(batch);
    Tensor h = model->encoder()->encode({batch.at("input_ids"), batch.at("attention_mask"), {}}).last();
    Tensor expected;
    if (pooling == "cls") {
      expected = h.select(1, 0);
    } else if (pooling == "mean") {
      Tensor m = batch.at("attention_mask").to(torch::kFloat);
      expected = (h * m.unsqueeze(-1)).sum(1) / m.sum(1, true);
    } else {
      expected = torch::tanh(linear(h.select(1, 0), param(*model, "encoder.pooler.dense.weight"),
                                    param(*model, "encoder.pooler.dense.bias")));
    }
    EXPECT_TRUE(torch::allclose(out.at("pooled"), expected, 1e-5, 1e-6));
    // Default head: one linear layer over the pooled vector.
    EXPECT_TRUE(torch::allclose(out.at("logits"),
                                linear(expected, param(*model, "head.layers.0.weight"),
                                       param(*model, "head.layers.0.bias")),
                                1e-5, 1e-6));
  }
  // token_type_ids are optional: all zeros is the same as none.
  auto model = make<Model>(classifier_yaml());
  model->eval();
  Batch typed = batch;
  typed.set("token_type_ids", torch::zeros_like(batch.at("input_ids")));
  EXPECT_TRUE(torch::allclose(model->forward(batch).at("logits"), model->forward(typed).at("logits"), 1e-6, 1e-6));
}

TEST(Classifier, GradientsReachEncoderAndHead) {
  auto model = make<Model>(classifier_yaml("num_labels: 3, head: {type: mlp, hidden: [8], activation: relu}"));
  model->train();
  Batch batch = text_batch(6, 8, 4);
  Tensor logits = model->forward(batch).at("logits");
  Tensor loss = torch::nll_loss(torch::log_softmax(logits, 1), torch::tensor({0, 1, 2, 0, 1, 2}, torch::kLong));
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    if (p.key().rfind("encoder.pooler.", 0) == 0) continue;  // cls pooling does not use the pooler
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  EXPECT_TRUE(param(*model, "head.layers.1.weight").grad().defined());
  EXPECT_TRUE(param(*model, "encoder.encoder.layer.0.attention.self.query.weight").grad().defined());
}

TEST(Classifier, SameSeedSameInitialModel) {
  auto a = make<Model>(classifier_yaml("num_labels: 3, head: {type: mlp, hidden: [8]}"), 11);
  auto b = make<Model>(classifier_yaml("num_labels: 3, head: {type: mlp, hidden: [8]}"), 11);
  auto c = make<Model>(classifier_yaml("num_labels: 3, head: {type: mlp, hidden: [8]}"), 12);
  for (const auto& p : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), param(*b, p.key()))) << p.key();
    if (p.key().rfind("head.", 0) == 0 && p.key().find("weight") != std::string::npos)
      EXPECT_FALSE(torch::equal(p.value(), param(*c, p.key()))) << p.key();
  }
  // The head has a seed of its own: its weights are not the encoder generator's first draws.
  Tensor head_w = param(*a, "head.layers.0.weight").flatten();
  Tensor enc_w = param(*a, "encoder.embeddings.word_embeddings.weight").flatten();
  EXPECT_FALSE(torch::equal(head_w.narrow(0, 0, 8), enc_w.narrow(0, 0, 8)));
}

TEST(Classifier, DropoutOnlyInTraining) {
  auto model = make<Model>(classifier_yaml("num_labels: 3, dropout: 0.5"));
  Batch batch = text_batch(8, 8, 5);
  torch::NoGradGuard ng;
  model->train();
  EXPECT_FALSE(torch::equal(model->forward(batch).at("logits"), model->forward(batch).at("logits")));
  model->eval();
  EXPECT_TRUE(torch::equal(model->forward(batch).at("logits"), model->forward(batch).at("logits")));
}

// ---------------------------------------------------------------------------------------------- mlm

TEST(Mlm, MaskingStatistics) {
  ASSERT_TRUE(registry().find("model", "mlm")) << "model_mlm.so not loaded";
  auto model = make<Model>(mlm_yaml());
  model->train();
  torch::manual_seed(123);
  int64_t candidates = 0, selected = 0, to_mask = 0, to_other = 0, kept = 0, rows_without = 0;
  double expected_selected = 0;
  torch::NoGradGuard ng;
  for (uint32_t step = 0; step < 40; ++step) {
    Batch batch = text_batch(32, 24, 100 + step);
    Batch out = model->forward(batch);
    const Tensor& ids = batch.at("input_ids");
    Tensor cand = batch.at("attention_mask").ne(0) & ids.ge(kFirstOrdinary);
    Tensor pos = out.at("mlm_positions"), seen = out.at("mlm_input_ids");
    ASSERT_EQ(pos.sizes(), ids.sizes());
    ASSERT_EQ(pos.scalar_type(), torch::kBool);
    ASSERT_EQ((pos & cand.logical_not()).sum().item<int64_t>(), 0) << "a pad/cls/sep position was masked";
    ASSERT_TRUE(torch::equal(seen.masked_select(pos.logical_not()), ids.masked_select(pos.logical_not())))
        << "a position that was not selected changed";
    const int64_t m = pos.sum().item<int64_t>();
    ASSERT_EQ(out.at("mlm_logits").sizes(), (std::vector<int64_t>{m, kVocab}));
    ASSERT_EQ(out.at("mlm_labels").scalar_type(), torch::kLong);
    ASSERT_TRUE(torch::equal(out.at("mlm_labels"), ids.masked_select(pos)));
    Tensor orig = ids.masked_select(pos), now = seen.masked_select(pos);
    Tensor other = now.ne(kMask) & now.ne(orig);
    ASSERT_TRUE(now.masked_select(other).ge(kFirstOrdinary).all().item<bool>());
    ASSERT_TRUE(now.masked_select(other).lt(kVocab).all().item<bool>());
    rows_without += (cand.any(1) & pos.any(1).logical_not()).sum().item<int64_t>();
    // Each row's expected count: mask_prob * n, plus one when none of its n candidates was drawn.
    Tensor n = cand.sum(1).to(torch::kDouble);
    expected_selected += (0.15 * n + torch::pow(0.85, n) * n.gt(0)).sum().item<double>();
    candidates += cand.sum().item<int64_t>();
    selected += m;
    to_mask += now.eq(kMask).sum().item<int64_t>();
    to_other += other.sum().item<int64_t>();
    kept += now.eq(orig).sum().item<int64_t>();
  }
  EXPECT_EQ(rows_without, 0) << "every sequence with a candidate gets at least one masked token";
  ASSERT_GT(candidates, 10000);
  // Rows have 1 to 22 candidates, so the at-least-one rule lifts the overall rate from 0.15 to about 0.172.
  EXPECT_NEAR(double(selected) / expected_selected, 1.0, 0.03);
  EXPECT_NEAR(double(selected) / candidates, 0.172, 0.01);
  EXPECT_NEAR(double(to_mask) / selected, 0.8, 0.03);
  // A random replacement equal to the original (1 in 46) counts as kept.
  EXPECT_NEAR(double(to_other) / selected, 0.1 * 45 / 46, 0.02);
  EXPECT_NEAR(double(kept) / selected, 0.1 + 0.1 / 46, 0.02);
}

TEST(Mlm, AtLeastOneMaskedTokenPerSequence) {
  auto model = make<Model>(mlm_yaml("mask_prob: 0.01"));
  model->train();
  torch::manual_seed(5);
  Batch batch = text_batch(64, 6, 7, /*min_len=*/3);
  // Row 0 has no candidate at all: [CLS] [SEP] [PAD]...
  Tensor ids = batch.at("input_ids").clone(), mask = batch.at("attention_mask").clone();
  ids[0].fill_(kPad);
  ids[0][0] = kCls;
  ids[0][1] = kSep;
  mask[0].zero_();
  mask[0].narrow(0, 0, 2).fill_(1);
  batch.set("input_ids", ids);
  batch.set("attention_mask", mask);
  torch::NoGradGuard ng;
  Tensor per_row = model->forward(batch).at("mlm_positions").sum(1);
  EXPECT_EQ(per_row[0].item<int64_t>(), 0);
  EXPECT_TRUE(per_row.narrow(0, 1, 63).ge(1).all().item<bool>());
  // With 1 to 4 candidates and mask_prob 0.01, nearly every row has exactly the one the rule added.
  EXPECT_GE(per_row.eq(1).sum().item<int64_t>(), 55);
}

TEST(Mlm, LogitsAtMaskedPositionsMatchTheFullOutputLayer) {
  auto model = make<Model>(mlm_yaml());
  for (const char* name : {"cls.predictions.transform.dense.bias", "cls.predictions.transform.LayerNorm.weight",
                           "cls.predictions.transform.LayerNorm.bias", "cls.predictions.bias"})
    randomize(param(*model, name));  // their initial values (0 and 1) would hide a missing term
  model->eval();
  torch::NoGradGuard ng;
  Batch batch = text_batch(6, 12, 8);
  Batch out = model->forward(batch);
  Tensor h = model->encoder()->encode({out.at("mlm_input_ids"), batch.at("attention_mask"), {}}).last();
  Tensor x = gelu_erf(linear(h, param(*model, "cls.predictions.transform.dense.weight"),
                             param(*model, "cls.predictions.transform.dense.bias")));
  x = layer_norm_by_hand(x, param(*model, "cls.predictions.transform.LayerNorm.weight"),
                         param(*model, "cls.predictions.transform.LayerNorm.bias"), 1e-12);
  Tensor full = linear(x, model->encoder()->word_embeddings(), param(*model, "cls.predictions.bias"));  // (B,T,V)
  Tensor pos = out.at("mlm_positions");
  Tensor expected = full.index({pos});
  ASSERT_EQ(out.at("mlm_logits").sizes(), expected.sizes());
  EXPECT_GT(expected.size(0), 0);
  EXPECT_TRUE(torch::allclose(out.at("mlm_logits"), expected, 1e-4, 1e-5));
}

TEST(Mlm, OutputLayerIsTiedToTheWordEmbeddings) {
  auto model = make<Model>(mlm_yaml());
  auto params = model->named_parameters();
  // Hugging Face's names, and no decoder weight of its own: the only (V, E) matrix is the encoder's.
  for (const char* name : {"cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
                           "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
                           "cls.predictions.bias"})
    EXPECT_TRUE(params.find(name)) << name;
  EXPECT_EQ(param(*model, "cls.predictions.transform.dense.weight").sizes(), (std::vector<int64_t>{kHidden, kHidden}));
  EXPECT_EQ(param(*model, "cls.predictions.bias").sizes(), (std::vector<int64_t>{kVocab}));
  std::vector<std::string> vocab_matrices;
  for (const auto& p : params)
    if (p.value().sizes() == std::vector<int64_t>{kVocab, kHidden}) {
      vocab_matrices.push_back(p.key());
      EXPECT_EQ(p.value().data_ptr(), model->encoder()->word_embeddings().data_ptr());
    }
  EXPECT_EQ(vocab_matrices, std::vector<std::string>{"encoder.embeddings.word_embeddings.weight"});

  // Changing the embedding row of a token absent from the input changes that logit column only.
  model->eval();
  Batch batch = text_batch(4, 10, 9, 3, /*body_high=*/30);
  Batch before = model->forward(batch);
  int64_t absent = -1;  // ids in the batch stay below 30; eval masking may add a few random ones
  for (int64_t v = 30; v < kVocab && absent < 0; ++v)
    if (!before.at("mlm_input_ids").eq(v).any().item<bool>()) absent = v;
  ASSERT_GE(absent, 30);
  {
    torch::NoGradGuard ng;
    model->encoder()->word_embeddings()[absent].add_(0.5);
  }
  Batch after = model->forward(batch);
  Tensor delta = (after.at("mlm_logits") - before.at("mlm_logits")).abs().detach();
  EXPECT_GT(delta.select(1, absent).min().item<double>(), 0.0);
  delta.select(1, absent).zero_();
  EXPECT_EQ(delta.max().item<double>(), 0.0);

  // And the gradient of the output layer reaches that row.
  model->train();
  model->zero_grad();
  model->forward(batch).at("mlm_logits").sum().backward();
  Tensor g = param(*model, "encoder.embeddings.word_embeddings.weight").grad();
  ASSERT_TRUE(g.defined());
  EXPECT_GT(g[absent].abs().sum().item<double>(), 0.0);
}

TEST(Mlm, EvalMaskingIsDeterministicAndTrainingFollowsTheGlobalGenerator) {
  auto model = make<Model>(mlm_yaml());
  Batch batch = text_batch(8, 16, 10);
  torch::NoGradGuard ng;
  model->eval();
  torch::manual_seed(5);
  Tensor r1 = torch::rand({4});
  torch::manual_seed(5);
  Batch e1 = model->forward(batch);
  EXPECT_TRUE(torch::equal(torch::rand({4}), r1)) << "eval-mode masking drew from the global generator";
  torch::manual_seed(6);
  Batch e2 = model->forward(batch);
  EXPECT_TRUE(torch::equal(e1.at("mlm_positions"), e2.at("mlm_positions")));
  EXPECT_TRUE(torch::equal(e1.at("mlm_input_ids"), e2.at("mlm_input_ids")));
  EXPECT_TRUE(torch::equal(e1.at("mlm_logits"), e2.at("mlm_logits")));
  // The masks do not depend on the model's weights either.
  auto other = make<Model>(mlm_yaml(), 99);
  other->eval();
  EXPECT_TRUE(torch::equal(other->forward(batch).at("mlm_input_ids"), e1.at("mlm_input_ids")));

  model->train();
  torch::manual_seed(9);
  Batch t1 = model->forward(batch);
  torch::manual_seed(9);
  Batch t2 = model->forward(batch);
  torch::manual_seed(10);
  Batch t3 = model->forward(batch);
  EXPECT_TRUE(torch::equal(t1.at("mlm_positions"), t2.at("mlm_positions")));
  EXPECT_TRUE(torch::equal(t1.at("mlm_input_ids"), t2.at("mlm_input_ids")));
  EXPECT_FALSE(torch::equal(t1.at("mlm_positions"), t3.at("mlm_positions")));
}

TEST(Mlm, IdsComeFromTheDatasetHintsAndBadValuesAreExplained) {
  std::string enc_without_vocab =
      "{type: transformer, hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32, max_positions: 32}";
  ConfigNode spec = parse_yaml(fmt::format("{{type: mlm, encoder: {}}}", enc_without_vocab), "test");
  std::string e = error_of([&] { registry().create<Model>(spec, context()); });
  EXPECT_NE(e.find("mask_id is not set"), std::string::npos) << e;

  ConfigNode filled = fill_hints(
      spec, "model", {{"vocab_size", 40}, {"mask_id", 3}, {"pad_id", 0}, {"cls_id", 1}, {"sep_id", 2}}, registry());
  auto model = registry().create<Model>(filled, context());
  EXPECT_EQ(model->encoder()->vocab_size(), 40);
  ConfigNode s = model->spec();
  EXPECT_EQ(s.at("vocab_size").as_int(), 40);
  EXPECT_EQ(s.at("mask_id").as_int(), 3);
  EXPECT_EQ(s.at("sep_id").as_int(), 2);
  EXPECT_EQ(s.at("encoder").at("vocab_size").as_int(), 40);
  EXPECT_DOUBLE_EQ(s.at("mask_prob").as_double(), 0.15);
  // The spec rebuilds the same architecture.
  auto again = registry().create<Model>(s, context());
  EXPECT_EQ(again->named_parameters().size(), model->named_parameters().size());

  e = error_of([] { make<Model>(fmt::format("{{type: mlm, vocab_size: 60, mask_id: 3, encoder: {}}}", kTinyEncoder)); });
  EXPECT_NE(e.find("vocab_size is 60"), std::string::npos) << e;
  e = error_of([] { make<Model>(mlm_yaml("replace_random: 0.3")); });
  EXPECT_NE(e.find("exceeds 1"), std::string::npos) << e;
  e = error_of([] { make<Model>(fmt::format("{{type: mlm, mask_id: 50, encoder: {}}}", kTinyEncoder)); });
  EXPECT_NE(e.find("special token id 50"), std::string::npos) << e;
}
