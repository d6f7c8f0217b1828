// SPDX-License-Identifier: Apache-2.0
// DSE (Distilled Sentence Embedding): the `siamese` model's poolers and pair features (called directly on
// hand-made hidden states through plugins/model/siamese/poolers.h), the model end to end on a tiny `transformer`,
// the `dse` loss, the `regression` evaluator and the `classification` evaluator on one-logit binary outputs.
// Every expected number is worked out by hand in the comments; the regression metrics were also checked against
// scipy.stats.pearsonr / spearmanr 1.10.1 (0.29814239699997197 and 0.316227766016838 for the tied case).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "support/test_support.h"
#include "../plugins/model/siamese/poolers.h"
#include "plugin/loader.h"
#include "stagehand/model.h"
#include "stagehand/registry.h"

using namespace stagehand;
using torch::Tensor;

namespace {

using sh_test::error_of;

const char* const kTinyEncoder =
    "{type: transformer, vocab_size: 50, hidden_size: 16, num_layers: 2, num_heads: 2, intermediate_size: 32, "
    "max_positions: 32}";
constexpr int64_t kHidden = 16;

Registry& registry() {
  static Registry* reg = [] {
    auto* r = new Registry;
    static PluginLoader loader(*r);
    for (const char* name : {"encoder_transformer", "model_siamese", "loss_dse", "evaluator_regression",
                             "evaluator_classification"})
      loader.load(std::string(STAGEHAND_PLUGIN_DIR) + "/" + name + ".so", "test");
    return r;
  }();
  return *reg;
}

template <class T>
std::shared_ptr<T> make(const std::string& yaml, uint64_t seed = 1) {
  BuildContext ctx;
  ctx.registry = &registry();
  ctx.seed = seed;
  return registry().create<T>(parse_yaml(yaml, "test"), ctx);
}

std::shared_ptr<Model> make_siamese(const std::string& extra = "fc_dims: [8, 1]", uint64_t seed = 1) {
  auto m = make<Model>(fmt::format("{{type: siamese, num_top_layers: 2, {}, encoder: {}}}", extra, kTinyEncoder),
                       seed);
  m->eval();
  return m;
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

Tensor dbl(std::vector<double> v, std::vector<int64_t> shape) {
  return torch::tensor(v, torch::kDouble).reshape(shape);
}
Tensor ids(std::vector<int64_t> v, std::vector<int64_t> shape) {
  return torch::tensor(v, torch::kLong).reshape(shape);
}

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-6) {
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(torch::allclose(got.to(torch::kDouble), want.to(torch::kDouble), 0, tol))
      << "got\n" << got << "\nwant\n" << want;
}

// ---- hand-made hidden states: B = 2, T = 4, H = 2; row 0 is [CLS] w [SEP] <pad>, row 1 [CLS] w w [SEP].
// The embedding output (hidden_states[0]) is 1000 everywhere, so that any use of it shows; [CLS] holds +-9 and
// the padding 50/60, values no pooler may pick up.
std::vector<Tensor> hand_states() {
  Tensor emb = torch::full({2, 4, 2}, 1000.0, torch::kDouble);
  Tensor l1 = dbl({9, 9, 1, 2, 3, 4, 50, 50,  //
                   9, 9, 2, 0, 4, 2, 6, 4},
                  {2, 4, 2});
  Tensor l2 = dbl({-9, -9, 5, 6, 7, 8, 60, 60,  //
                   -9, -9, 0, 2, 2, 4, 4, 0},
                  {2, 4, 2});
  return {emb, l1, l2};
}
Tensor hand_mask() { return ids({1, 1, 1, 0, 1, 1, 1, 1}, {2, 4}); }

Tensor pool(const std::string& name, int64_t k = 2) {
  return siamese::pool_states(hand_states(), hand_mask(), siamese::parse_pooler(name), k);
}

}  // namespace

// ---- poolers

TEST(DsePoolers, ConcatTopMeanSkipsClsAndPaddingKeepsSep) {
  // Row 0 averages positions 1 and 2: layer 1 -> [(1+3)/2, (2+4)/2] = [2, 3], layer 2 -> [6, 7].
  // Row 1 averages positions 1..3: layer 1 -> [(2+4+6)/3, (0+2+4)/3] = [4, 2], layer 2 -> [2, 2].
  expect_close(pool("concat_top_mean"), dbl({2, 3, 6, 7, 4, 2, 2, 2}, {2, 4}));
  // k = 1 is the last layer alone.
  expect_close(pool("concat_top_mean", 1), dbl({6, 7, 2, 2}, {2, 2}));
  EXPECT_EQ(siamese::pooled_width(siamese::parse_pooler("concat_top_mean"), 768, 4), 3072);
  EXPECT_EQ(siamese::pooled_width(siamese::parse_pooler("mean_top_max"), 768, 4), 768);
}

TEST(DsePoolers, MeanTopMeanAveragesTheLayers) {
  // The average of the two layers' means: row 0 [(2+6)/2, (3+7)/2], row 1 [(4+2)/2, (2+2)/2].
  expect_close(pool("mean_top_mean"), dbl({4, 5, 3, 2}, {2, 2}));
}

TEST(DsePoolers, SqrtMeanDividesTheSumBySqrtLength) {
  // Sums: row 0 layer 1 [4, 6], layer 2 [12, 14] over 2 tokens; row 1 [12, 6], [6, 6] over 3 tokens.
  const double r2 = std::sqrt(2.0), r3 = std::sqrt(3.0);
  expect_close(pool("concat_top_sqrt_mean"), dbl({4 / r2, 6 / r2, 12 / r2, 14 / r2, 12 / r3, 6 / r3, 6 / r3, 6 / r3},
                                                 {2, 4}));
  expect_close(pool("mean_top_sqrt_mean"), dbl({8 / r2, 10 / r2, 9 / r3, 6 / r3}, {2, 2}));
}

TEST(DsePoolers, MaxOverKeptPositions) {
  // [CLS] (9) and padding (50, 60) are larger than every kept value, so they must not win.
  expect_close(pool("concat_top_max"), dbl({3, 4, 7, 8, 6, 4, 4, 4}, {2, 4}));
  // Average of the layers first: row 0 positions [3, 4], [5, 6]; row 1 [1, 1], [3, 3], [5, 2].
  expect_close(pool("mean_top_max"), dbl({5, 6, 5, 3}, {2, 2}));
}

TEST(DsePoolers, PlainMeanAndMaxUseTheLastLayerWithCls) {
  // Row 0: positions 0..2 of layer 2 -> [(-9+5+7)/3, (-9+6+8)/3]; row 1: positions 0..3 -> [-3/4, -3/4].
  expect_close(pool("mean"), dbl({1, 5.0 / 3.0, -0.75, -0.75}, {2, 2}));
  expect_close(pool("max"), dbl({7, 8, 4, 4}, {2, 2}));
}

TEST(DsePoolers, OnlyClsPoolsToZeros) {
  Tensor mask = ids({1, 0, 0, 0, 1, 1, 1, 1}, {2, 4});
  for (const char* name : {"concat_top_mean", "concat_top_sqrt_mean", "concat_top_max"}) {
    Tensor p = siamese::pool_states(hand_states(), mask, siamese::parse_pooler(name), 2);
    EXPECT_TRUE(torch::equal(p[0], torch::zeros({4}, torch::kDouble))) << name << ": " << p[0];
    EXPECT_TRUE(torch::isfinite(p).all().item<bool>()) << name;
  }
  EXPECT_NE(error_of([] { siamese::parse_pooler("concat_top_median"); }).find("is not one of"), std::string::npos);
  EXPECT_NE(error_of([] { pool("concat_top_mean", 3); }).find("num_top_layers is 3"), std::string::npos);
}

TEST(DsePairFeatures, AreUVProductAndAbsoluteDifference) {
  Tensor u = dbl({1, -2}, {1, 2}), v = dbl({3, 4}, {1, 2});
  // [u, v, u*v, |u-v|] = [1, -2, 3, 4, 3, -8, 2, 6]
  expect_close(siamese::pair_features(u, v), dbl({1, -2, 3, 4, 3, -8, 2, 6}, {1, 8}));
}

// ---- the model

namespace {
// Two sentences, each [CLS] w.. [SEP] with padding: s1 = [1, 7, 8, 2, 0], s2 = [1, 9, 10, 11, 2].
Batch pair_batch() {
  Batch b;
  b.set("a.input_ids", ids({1, 7, 8, 2, 0, 1, 9, 10, 11, 2}, {2, 5}));
  b.set("a.attention_mask", ids({1, 1, 1, 1, 0, 1, 1, 1, 1, 1}, {2, 5}));
  b.set("b.input_ids", ids({1, 9, 10, 11, 2, 1, 7, 8, 2, 0}, {2, 5}));
  b.set("b.attention_mask", ids({1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, {2, 5}));
  return b;
}
}  // namespace

TEST(SiameseModel, HeadIsTheFormulaOnItsNamedWeights) {
  auto model = make_siamese();
  Batch out = model->forward(pair_batch());
  Tensor u = out.at("a.embeddings"), v = out.at("b.embeddings");
  ASSERT_EQ(u.sizes(), (std::vector<int64_t>{2, 2 * kHidden}));
  // The embedding is concat_top_mean of the shared encoder's states.
  Tensor a_ids = pair_batch().at("a.input_ids"), a_mask = pair_batch().at("a.attention_mask");
  EncoderOutput enc = model->encoder()->encode({a_ids, a_mask, {}});
  expect_close(u, siamese::pool_states(enc.hidden_states, a_mask, siamese::parse_pooler("concat_top_mean"), 2), 1e-5);
  // logits = W1 relu(W0 [u, v, u*v, |u-v|] + b0) + b1
  Tensor f = torch::cat({u, v, u * v, (u - v).abs()}, 1);
  Tensor h = torch::relu(f.matmul(param(*model, "head.layers.0.weight").t()) + param(*model, "head.layers.0.bias"));
  Tensor want = h.matmul(param(*model, "head.layers.1.weight").t()) + param(*model, "head.layers.1.bias");
  ASSERT_EQ(out.at("logits").sizes(), (std::vector<int64_t>{2, 1}));
  expect_close(out.at("logits"), want, 1e-5);
  EXPECT_EQ(param(*model, "head.layers.0.weight").sizes(), (std::vector<int64_t>{8, 4 * 2 * kHidden}));
  EXPECT_TRUE(param(*model, "encoder.embeddings.word_embeddings.weight").defined());
}

TEST(SiameseModel, SameSentenceSameEmbeddingOnEitherSideAndAlone) {
  auto model = make_siamese();
  Batch out = model->forward(pair_batch());
  // s1 is a[0] and b[1], s2 is a[1] and b[0]; a and b went through the encoder as one batch of 4.
  expect_close(out.at("a.embeddings")[0], out.at("b.embeddings")[1], 1e-5);
  expect_close(out.at("a.embeddings")[1], out.at("b.embeddings")[0], 1e-5);
  // b padded to a different length takes the two-call path; the padding changes nothing.
  Batch longer = pair_batch();
  longer.set("b.input_ids", torch::cat({longer.at("b.input_ids"), torch::zeros({2, 3}, torch::kLong)}, 1));
  longer.set("b.attention_mask", torch::cat({longer.at("b.attention_mask"), torch::zeros({2, 3}, torch::kLong)}, 1));
  Batch out2 = model->forward(longer);
  expect_close(out2.at("b.embeddings"), out.at("b.embeddings"), 1e-5);
  expect_close(out2.at("logits"), out.at("logits"), 1e-5);
  // One sentence per example: embeddings only.
  Batch single;
  single.set("input_ids", pair_batch().at("a.input_ids"));
  single.set("attention_mask", pair_batch().at("a.attention_mask"));
  Batch alone = model->forward(single);
  EXPECT_FALSE(alone.has("logits"));
  expect_close(alone.at("embeddings"), out.at("a.embeddings"), 1e-5);
}

TEST(SiameseModel, ScoringFromCachedEmbeddingsEqualsScoringFromIds) {
  auto model = make_siamese();
  Batch out = model->forward(pair_batch());
  Batch cached;
  cached.set("a.embeddings", out.at("a.embeddings"));
  cached.set("b.embeddings", out.at("b.embeddings"));
  Batch scored = model->forward(cached);
  EXPECT_FALSE(scored.has("a.embeddings"));
  EXPECT_TRUE(torch::equal(scored.at("logits"), out.at("logits")));
  Batch half;
  half.set("a.embeddings", out.at("a.embeddings"));
  EXPECT_NE(error_of([&] { model->forward(half); }).find("needs both a.embeddings and b.embeddings"),
            std::string::npos);
}

TEST(SiameseModel, SpecRebuildsIt) {
  auto model = make_siamese("fc_dims: [8, 1], pooler: mean_top_sqrt_mean, additional_embedding_layer_size: 6");
  ConfigNode spec = model->spec();
  EXPECT_EQ(spec.at("pooler").as_string(), "mean_top_sqrt_mean");
  EXPECT_EQ(spec.at("num_top_layers").as_int(), 2);
  EXPECT_EQ(spec.at("additional_embedding_layer_size").as_int(), 6);
  EXPECT_EQ(spec.at("fc_dims").items().size(), 2u);
  EXPECT_EQ(spec.at("encoder").at("num_layers").as_int(), 2);
  BuildContext ctx;
  ctx.registry = &registry();
  ctx.seed = 99;  // another seed: the weights are copied below
  auto rebuilt = registry().create<Model>(spec, ctx);
  rebuilt->eval();
  auto src = model->named_parameters(true);
  auto dst = rebuilt->named_parameters(true);
  ASSERT_EQ(src.size(), dst.size());
  {
    torch::NoGradGuard no_grad;
    for (const auto& p : src) dst[p.key()].copy_(p.value());
  }
  EXPECT_TRUE(torch::equal(rebuilt->forward(pair_batch()).at("logits"), model->forward(pair_batch()).at("logits")));
  EXPECT_EQ(model->forward(pair_batch()).at("a.embeddings").size(1), 6);
}

TEST(SiameseModel, EmbeddingLayerAndDotHead) {
  auto model = make_siamese("head: dot, additional_embedding_layer_size: 6, pooler: mean_top_mean");
  Batch b = pair_batch();
  Batch out = model->forward(b);
  EncoderOutput enc = model->encoder()->encode({b.at("a.input_ids"), b.at("a.attention_mask"), {}});
  Tensor pooled = siamese::pool_states(enc.hidden_states, b.at("a.attention_mask"),
                                       siamese::parse_pooler("mean_top_mean"), 2);
  Tensor u = pooled.matmul(param(*model, "embedding_layer.weight").t()) + param(*model, "embedding_layer.bias");
  expect_close(out.at("a.embeddings"), u, 1e-5);
  // dot: u . v, one column.
  expect_close(out.at("logits"), (out.at("a.embeddings") * out.at("b.embeddings")).sum(1, true), 1e-6);
  for (const auto& p : model->named_parameters(true)) EXPECT_NE(p.key().rfind("head.", 0), 0u) << p.key();
}

TEST(SiameseModel, ClsPoolerIsTheEncodersPooler) {
  auto model = make_siamese("fc_dims: [8, 1], pooler: cls");
  Batch b = pair_batch();
  EncoderOutput enc = model->encoder()->encode({b.at("a.input_ids"), b.at("a.attention_mask"), {}});
  expect_close(model->forward(b).at("a.embeddings"), model->encoder()->pool(enc, "pooler"), 1e-5);
}

TEST(SiameseModel, HeadInitIsNnLinearsFromAPrivateSeed) {
  torch::manual_seed(42);
  Tensor before = torch::rand({3});
  torch::manual_seed(42);
  auto a = make_siamese("fc_dims: [8, 1]", 7);
  EXPECT_TRUE(torch::equal(torch::rand({3}), before)) << "building the model drew from the global generator";
  auto b = make_siamese("fc_dims: [8, 1]", 7);
  auto c = make_siamese("fc_dims: [8, 1]", 8);
  Tensor w = param(*a, "head.layers.0.weight"), bias = param(*a, "head.layers.0.bias");
  EXPECT_TRUE(torch::equal(w, param(*b, "head.layers.0.weight")));
  EXPECT_FALSE(torch::equal(w, param(*c, "head.layers.0.weight")));
  // uniform(-1/sqrt(in), 1/sqrt(in)) with in = 4 * 32 = 128: bound 0.0884; 1024 draws come close to it.
  const double bound = 1.0 / std::sqrt(128.0);
  EXPECT_LE(w.abs().max().item<double>(), bound);
  EXPECT_GT(w.abs().max().item<double>(), 0.95 * bound);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.01);
  EXPECT_LE(bias.abs().max().item<double>(), bound);
  EXPECT_GT(bias.abs().max().item<double>(), 0.0);
  // The second layer's bound is 1/sqrt(8).
  EXPECT_LE(param(*a, "head.layers.1.weight").abs().max().item<double>(), 1.0 / std::sqrt(8.0));
}

TEST(SiameseModel, OutputsFollowNumLabelsAndBadOptionsAreExplained) {
  auto spec_dims = [](const std::string& extra) {
    auto m = make_siamese(extra);
    std::vector<int64_t> dims;
    const ConfigNode spec = m->spec();
    for (const auto& d : spec.at("fc_dims").items()) dims.push_back(d.as_int());
    return dims;
  };
  EXPECT_EQ(spec_dims("num_labels: 2"), (std::vector<int64_t>{512, 1}));  // binary: one log-odds output
  EXPECT_EQ(spec_dims("num_labels: 3"), (std::vector<int64_t>{512, 3}));
  EXPECT_EQ(spec_dims("fc_dims: null"), (std::vector<int64_t>{512, 1}));
  EXPECT_EQ(spec_dims("num_labels: 2, fc_dims: [4, 2]"), (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(make_siamese("num_labels: 3, fc_dims: [4, 3]")->forward(pair_batch()).at("logits").sizes(),
            (std::vector<int64_t>{2, 3}));
  std::string err = error_of([] { make_siamese("num_labels: 3, fc_dims: [4, 5]"); });
  EXPECT_NE(err.find("fc_dims ends with 5 outputs but num_labels is 3"), std::string::npos) << err;
  err = error_of([] { make<Model>(fmt::format("{{type: siamese, num_top_layers: 3, encoder: {}}}", kTinyEncoder)); });
  EXPECT_NE(err.find("num_top_layers is 3 but the encoder has 2 layers"), std::string::npos) << err;
  err = error_of([] { make_siamese("head: dot, num_labels: 3"); });
  EXPECT_NE(err.find("head 'dot' gives one score per pair"), std::string::npos) << err;
  Batch only_a;
  only_a.set("a.input_ids", pair_batch().at("a.input_ids"));
  err = error_of([&] { make_siamese()->forward(only_a); });
  EXPECT_NE(err.find("a.input_ids but no b.input_ids"), std::string::npos) << err;
}

TEST(SiameseModel, NumLabelsComesFromTheDatasetHints) {
  // The train stage fills num_labels from the dataset: 2 classes give one log-odds output, 3 give three.
  ConfigNode spec = parse_yaml(fmt::format("{{type: siamese, num_top_layers: 2, encoder: {}}}", kTinyEncoder), "test");
  BuildContext ctx;
  ctx.registry = &registry();
  ctx.seed = 1;
  for (auto [labels, outputs] : {std::pair<int64_t, int64_t>{2, 1}, {3, 3}}) {
    auto model = registry().create<Model>(fill_hints(spec, "model", {{"num_labels", labels}}, registry()), ctx);
    EXPECT_EQ(model->forward(pair_batch()).at("logits").sizes(), (std::vector<int64_t>{2, outputs})) << labels;
  }
}

TEST(SiameseModel, GradientsReachEncoderAndHead) {
  auto model = make_siamese();
  model->train();
  model->forward(pair_batch()).at("logits").sum().backward();
  EXPECT_TRUE(param(*model, "head.layers.0.weight").grad().defined());
  EXPECT_TRUE(param(*model, "encoder.encoder.layer.1.attention.self.query.weight").grad().defined());
}

// ---- the dse loss

namespace {
double softplus(double x) { return std::log1p(std::exp(x)); }  // BCE of log-odds x for label 0; label 1: softplus(-x)
double compute(Loss& loss, const Batch& outputs, const Batch& batch, std::map<std::string, Tensor>* parts = nullptr) {
  std::map<std::string, Tensor> p;
  double v = loss.compute(outputs, batch, p).item<double>();
  if (parts) *parts = p;
  return v;
}
}  // namespace

TEST(DseLoss, BinaryIsBceAndTheTeachersLogOddsGap) {
  Batch out, batch;
  out.set("logits", dbl({0.5, -1.0}, {2, 1}));
  batch.set("labels", ids({1, 0}, {2}));
  batch.set("teacher.logits", dbl({0.2, 1.0, 1.5, -0.5}, {2, 2}));  // t = z1 - z0 = [0.8, -2.0]
  const double bce = (softplus(-0.5) + softplus(-1.0)) / 2;
  const double kd = ((0.5 - 0.8) * (0.5 - 0.8) + (-1.0 + 2.0) * (-1.0 + 2.0)) / 2;  // 0.545
  std::map<std::string, Tensor> parts;
  EXPECT_NEAR(compute(*make<Loss>("{type: dse}"), out, batch, &parts), 0.5 * bce + 0.5 * kd, 1e-12);
  EXPECT_NEAR(parts.at("task").item<double>(), bce, 1e-12);
  EXPECT_NEAR(parts.at("kd").item<double>(), 0.545, 1e-12);
  EXPECT_NEAR(compute(*make<Loss>("{type: dse, alpha: 0.2}"), out, batch), 0.8 * bce + 0.2 * kd, 1e-12);
  std::string err = error_of([&] { compute(*make<Loss>("{type: dse, binary_target: as_is}"), out, batch); });
  EXPECT_NE(err.find("differ in shape"), std::string::npos) << err;
  batch.set("labels", ids({2, 0}, {2}));
  err = error_of([&] { compute(*make<Loss>("{type: dse}"), out, batch); });
  EXPECT_NE(err.find("task 'bce' needs 0/1 labels"), std::string::npos) << err;
}

TEST(DseLoss, MultiClassIsCrossEntropyAndSummedSquares) {
  Batch out, batch;
  out.set("logits", dbl({1, 2, 3, 0, 0, 0}, {2, 3}));
  batch.set("labels", ids({2, 1}, {2}));
  batch.set("teacher.logits", dbl({1, 1, 1, 0, 1, 0}, {2, 3}));
  // -log softmax: row 0 class 2 -> log(1 + e^-1 + e^-2); row 1 -> log 3.
  const double ce = (std::log(1 + std::exp(-1.0) + std::exp(-2.0)) + std::log(3.0)) / 2;
  const double kd = ((0 + 1 + 4) + (0 + 1 + 0)) / 2.0;  // 3
  EXPECT_NEAR(compute(*make<Loss>("{type: dse, alpha: 0.25}"), out, batch), 0.75 * ce + 0.25 * kd, 1e-12);
}

TEST(DseLoss, RegressionIsMse) {
  Batch out, batch;
  out.set("logits", dbl({1.0, 2.0}, {2, 1}));
  batch.set("labels", dbl({1.5, 2.0}, {2}));
  batch.set("teacher.logits", dbl({2.0, 2.0}, {2, 1}));
  // mse = (0.25 + 0) / 2; kd = (1 + 0) / 2
  EXPECT_NEAR(compute(*make<Loss>("{type: dse}"), out, batch), 0.5 * 0.125 + 0.5 * 0.5, 1e-12);
  EXPECT_NEAR(compute(*make<Loss>("{type: dse, task: mse}"), out, batch), 0.5 * 0.125 + 0.5 * 0.5, 1e-12);
}

TEST(DseLoss, AlphaZeroNeedsNoTeacherAndAlphaOneNoLabels) {
  Batch out, labels_only, teacher_only;
  out.set("logits", dbl({0.5, -1.0}, {2, 1}));
  labels_only.set("labels", ids({1, 0}, {2}));
  teacher_only.set("teacher.logits", dbl({0.2, 1.0, 1.5, -0.5}, {2, 2}));
  std::map<std::string, Tensor> parts;
  EXPECT_NEAR(compute(*make<Loss>("{type: dse, alpha: 0}"), out, labels_only, &parts),
              (softplus(-0.5) + softplus(-1.0)) / 2, 1e-12);
  EXPECT_EQ(parts.at("kd").item<double>(), 0.0);
  EXPECT_NEAR(compute(*make<Loss>("{type: dse, alpha: 1}"), out, teacher_only, &parts), 0.545, 1e-12);
  EXPECT_EQ(parts.at("task").item<double>(), 0.0);
  std::string err = error_of([&] { compute(*make<Loss>("{type: dse}"), out, labels_only); });
  EXPECT_NE(err.find("no tensor 'teacher.logits'"), std::string::npos) << err;
}

TEST(DseLoss, GradientOfTheKdTermByHand) {
  // d/dz of alpha * mean_b (z_b - t_b)^2 = alpha * 2 (z_b - t_b) / B: [0.5 * 2 * -0.3 / 2, 0.5 * 2 * 1 / 2].
  Tensor z = dbl({0.5, -1.0}, {2, 1}).requires_grad_(true);
  Batch out, batch;
  out.set("logits", z);
  batch.set("teacher.logits", dbl({0.2, 1.0, 1.5, -0.5}, {2, 2}));
  std::map<std::string, Tensor> parts;
  make<Loss>("{type: dse, alpha: 1}")->compute(out, batch, parts).backward();
  expect_close(z.grad(), dbl({-0.3, 1.0}, {2, 1}), 1e-12);
}

// ---- evaluators

TEST(RegressionEvaluator, PearsonSpearmanMseByHand) {
  auto ev = make<Evaluator>("{type: regression}");
  EXPECT_EQ(ev->primary_metric(), "pearson");
  EXPECT_TRUE(ev->higher_is_better());
  // pred [1, 2, 3, 4], gold [1, 3, 2, 4]: deviations [-1.5, -.5, .5, 1.5] and [-1.5, .5, -.5, 1.5];
  // r = 4 / sqrt(5 * 5) = 0.8; the ranks are the values, so Spearman is 0.8 too; mse = (0 + 1 + 1 + 0) / 4.
  Batch out1, b1, out2, b2;
  out1.set("logits", dbl({1, 2}, {2, 1}));
  b1.set("labels", dbl({1, 3}, {2}));
  out2.set("logits", dbl({3, 4}, {2}));
  b2.set("labels", dbl({2, 4}, {2}));
  ev->add(out1, b1);
  ev->add(out2, b2);
  auto m = ev->compute();
  EXPECT_NEAR(m.at("pearson"), 0.8, 1e-12);
  EXPECT_NEAR(m.at("spearman"), 0.8, 1e-12);
  EXPECT_NEAR(m.at("mse"), 0.5, 1e-12);
  EXPECT_EQ(m.at("examples"), 4.0);

  // Ties: pred [1, 2, 2, 5], gold [2, 1, 4, 3].
  // Pearson: deviations [-1.5, -.5, -.5, 2.5] and [-.5, -1.5, 1.5, .5]: 2 / sqrt(9 * 5) = 2 / sqrt(45).
  // Spearman: pred ranks [1, 2.5, 2.5, 4] (average rank for the tie), gold ranks [2, 1, 4, 3]:
  // 1.5 / sqrt(4.5 * 5) = 1 / sqrt(10). mse = (1 + 1 + 4 + 4) / 4 = 2.5.
  ev->reset();
  Batch out3, b3;
  out3.set("logits", dbl({1, 2, 2, 5}, {4, 1}));
  b3.set("labels", torch::tensor({2.f, 1.f, 4.f, 3.f}));
  ev->add(out3, b3);
  m = ev->compute();
  EXPECT_NEAR(m.at("pearson"), 2.0 / std::sqrt(45.0), 1e-12);
  EXPECT_NEAR(m.at("spearman"), 1.0 / std::sqrt(10.0), 1e-12);
  EXPECT_NEAR(m.at("mse"), 2.5, 1e-12);
  EXPECT_EQ(m.at("examples"), 4.0);
}

TEST(RegressionEvaluator, ConstantScoresAndBadInputs) {
  auto ev = make<Evaluator>("{type: regression, primary: mse}");
  EXPECT_FALSE(ev->higher_is_better());
  Batch out, b;
  out.set("logits", dbl({3, 3, 3}, {3}));
  b.set("labels", dbl({1, 2, 3}, {3}));
  ev->add(out, b);
  auto m = ev->compute();
  EXPECT_EQ(m.at("pearson"), 0.0);  // undefined (scipy: NaN), reported as 0
  EXPECT_EQ(m.at("spearman"), 0.0);
  EXPECT_NEAR(m.at("mse"), (4.0 + 1.0 + 0.0) / 3.0, 1e-12);
  Batch wide;
  wide.set("logits", dbl({1, 2, 3, 4, 5, 6}, {3, 2}));
  std::string err = error_of([&] { ev->add(wide, b); });
  EXPECT_NE(err.find("expected one score per example"), std::string::npos) << err;
}

TEST(ClassificationEvaluatorOneLogit, PositiveLogOddsIsClassOne) {
  auto ev = make<Evaluator>("{type: classification, primary: accuracy}");
  Batch out, b;
  // Predictions: 2 > 0 -> 1, -1 -> 0, 0 -> 0 (only > 0 is class 1), 0.5 -> 1.
  out.set("logits", dbl({2.0, -1.0, 0.0, 0.5}, {4, 1}));
  b.set("labels", ids({1, 1, 0, 0}, {4}));
  ev->add(out, b);
  auto m = ev->compute();
  EXPECT_DOUBLE_EQ(m.at("accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(m.at("confusion.1.0"), 1.0);  // the -1.0
  EXPECT_DOUBLE_EQ(m.at("confusion.0.1"), 1.0);  // the 0.5
  EXPECT_DOUBLE_EQ(m.at("confusion.0.0"), 1.0);  // the 0.0
  EXPECT_DOUBLE_EQ(m.at("f1.1"), 0.5);            // precision 1/2, recall 1/2
}
