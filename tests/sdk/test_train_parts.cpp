// SPDX-License-Identifier: Apache-2.0
// The Trainer's parts on their own (sdk/include/stagehand/sdk/train): parameter groups (freezing, no decay on biases
// and norms, layer-wise learning-rate scales by depth), gradient accumulation and bf16 autocast, the micro-batches'
// data-parallel shares, model selection with patience. tests/plugins/test_train_stage.cpp checks the same behaviour
// through the train stage end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>

#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include "support/test_support.h"
#include "support/plugin_support.h"
#include "stagehand/model.h"
#include "stagehand/sdk/train/accumulation.h"
#include "stagehand/sdk/train/micro_batches.h"
#include "stagehand/sdk/train/model_selection.h"
#include "stagehand/sdk/train/param_groups.h"

using namespace stagehand;
using namespace stagehand::sdk::train;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<Model> classifier(int64_t layers) {
  static Registry* reg = sh_test::load_plugins({"encoder_transformer", "model_classifier", "head_mlp"});
  return sh_test::make_component<Model>(
      *reg, fmt::format("{{type: classifier, num_labels: 3, encoder: {{type: transformer, vocab_size: 50, "
                        "hidden_size: 8, num_layers: {}, num_heads: 2, intermediate_size: 16, max_positions: 8}}}}",
                        layers));
}

// The depth rule of layer-wise decay, written out for the classifier's parameter names.
int64_t expected_depth(const std::string& name, int64_t layers) {
  std::smatch m;
  if (name.rfind("encoder.embeddings.", 0) == 0) return 0;
  if (std::regex_search(name, m, std::regex(R"(^encoder\.encoder\.layer\.(\d+)\.)"))) return std::stoll(m[1]) + 1;
  if (name.rfind("encoder.", 0) == 0) return layers + 1;  // the pooler
  return layers + 2;                                      // the head
}

}  // namespace

TEST(ParamGroups, LayerwiseScaleIsDecayToTheDepthGapForEveryParameter) {
  const int64_t layers = 3;
  auto model = classifier(layers);
  ParamGroupOptions o;
  o.layerwise_lr_decay = 0.8;
  const ParamGroups g = build_param_groups(*model, o);
  std::set<int64_t> depths;
  for (const auto& p : g.params) {
    const int64_t d = expected_depth(p.name, layers);
    EXPECT_EQ(param_depth(p.name, layers), d) << p.name;
    EXPECT_DOUBLE_EQ(p.lr_scale, std::pow(0.8, static_cast<double>(layers + 2 - d))) << p.name;
    depths.insert(d);
  }
  EXPECT_EQ(depths, (std::set<int64_t>{0, 1, 2, 3, 4, 5})) << "every depth from the embeddings to the head";
  // Decay 1 leaves every parameter at exactly the base learning rate.
  for (const auto& p : build_param_groups(*classifier(layers), {}).params) EXPECT_EQ(p.lr_scale, 1.0) << p.name;
}

TEST(ParamGroups, FrozenPrefixesDoNotTrainAndBiasesAndNormsSkipDecay) {
  auto model = classifier(2);
  ParamGroupOptions o;
  o.freeze = {"encoder.embeddings", "encoder.encoder.layer.0"};
  const ParamGroups g = build_param_groups(*model, o);
  int64_t frozen = 0, values = 0;
  for (const auto& p : model->named_parameters(true)) {
    const bool should_freeze = p.key().rfind("encoder.embeddings.", 0) == 0 || p.key().rfind("encoder.encoder.layer.0.", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), !should_freeze) << p.key();
    frozen += should_freeze;
  }
  for (const auto& p : g.params) {
    values += p.tensor.numel();
    const bool bias_or_norm = p.name.size() >= 4 && (p.name.compare(p.name.size() - 4, 4, "bias") == 0 ||
                                                     p.name.find("LayerNorm") != std::string::npos);
    EXPECT_EQ(p.decay, !bias_or_norm) << p.name;
  }
  EXPECT_EQ(g.frozen, frozen);
  EXPECT_EQ(g.values, values);
  EXPECT_EQ(g.trainable.size(), g.params.size());
  // A prefix matches whole name components: "encoder.encoder.layer.1" is not frozen by "encoder.encoder.layer.0"
  // and "encoder.embed" freezes nothing.
  EXPECT_EQ(build_param_groups(*classifier(2), {{"encoder.embed"}, 1.0, true}).frozen, 0);
  // Optimizers that decay everything get decay everywhere.
  for (const auto& p : build_param_groups(*classifier(2), {{}, 1.0, false}).params) EXPECT_TRUE(p.decay) << p.name;
  const std::string err = sh_test::error_of([] { build_param_groups(*classifier(1), {{"encoder", "head"}, 1.0, true}); });
  EXPECT_NE(err.find("nothing to train: every parameter is frozen (freeze: encoder, head)"), std::string::npos) << err;
}

namespace {

// A linear model whose loss is the mean over the batch, as the accumulation rule assumes.
struct Linear {
  torch::nn::Linear layer{torch::nn::LinearOptions(4, 3)};
  LossFn loss() {
    return [this](const Batch& b, std::map<std::string, torch::Tensor>& parts) {
      torch::Tensor y = layer->forward(b.at("x"));
      parts["y_mean"] = y.mean().detach();
      return (y - b.at("target")).pow(2).mean();
    };
  }
};

Batch rows(const torch::Tensor& x, const torch::Tensor& target, int64_t first, int64_t n) {
  Batch b;
  b.set("x", x.narrow(0, first, n));
  b.set("target", target.narrow(0, first, n));
  return b;
}

}  // namespace

TEST(Accumulation, KMicroBatchesGiveTheGradientOfOneBatchKTimesLarger) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({12, 4}), target = torch::randn({12, 3});
  auto grads = [&](int64_t k) {
    torch::manual_seed(5);
    Linear m;
    const int64_t n = 12 / k;
    const StepStats s = accumulate_gradients({k, false, false}, [&](int64_t a) { return MicroBatch{rows(x, target, a * n, n)}; },
                                             m.loss(), nullptr);
    return std::make_tuple(m.layer->weight.grad().clone(), m.layer->bias.grad().clone(), s);
  };
  const auto [w1, b1, s1] = grads(1);
  for (int64_t k : {2, 3, 4}) {
    const auto [wk, bk, sk] = grads(k);
    EXPECT_TRUE(torch::allclose(wk, w1, 1e-5, 1e-7)) << k << " micro-batches";
    EXPECT_TRUE(torch::allclose(bk, b1, 1e-5, 1e-7)) << k << " micro-batches";
    EXPECT_NEAR(sk.loss, s1.loss, 1e-6 * std::abs(s1.loss)) << "the step's loss is the mean over the micro-batches";
    EXPECT_NEAR(sk.parts.at("y_mean"), s1.parts.at("y_mean"), 1e-6);
  }
  // Without the division by k the gradient would be k times larger: the comparison tells.
  const auto [w2, b2, s2] = grads(2);
  EXPECT_FALSE(torch::allclose(2 * w2, w1, 1e-3, 1e-6));
}

TEST(Accumulation, Bf16RunsTheForwardPassInBfloat16AndKeepsFp32MasterWeights) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({8, 4}), target = torch::randn({8, 3});
  for (bool bf16 : {false, true}) {
    Linear m;
    torch::ScalarType seen = torch::kFloat32;
    LossFn inner = m.loss();
    LossFn loss = [&](const Batch& b, std::map<std::string, torch::Tensor>& parts) {
      seen = m.layer->forward(b.at("x")).scalar_type();
      return inner(b, parts);
    };
    accumulate_gradients({2, bf16, false}, [&](int64_t a) { return MicroBatch{rows(x, target, a * 4, 4)}; }, loss, nullptr);
    EXPECT_EQ(seen, bf16 ? torch::kBFloat16 : torch::kFloat32);
    EXPECT_EQ(m.layer->weight.scalar_type(), torch::kFloat32);
    EXPECT_EQ(m.layer->weight.grad().scalar_type(), torch::kFloat32);
  }
  // Autocast ends with the step: a forward pass afterwards is fp32 again.
  Linear after;
  EXPECT_EQ(after.layer->forward(x).scalar_type(), torch::kFloat32);
}

TEST(MicroBatches, RanksShareEveryMicroBatchOnceAndWeightsSumToOne) {
  const int64_t n = 23, batch = 5;
  const MicroBatches one(n, batch, 2, 42);
  EXPECT_EQ(one.per_epoch(), 5);
  EXPECT_EQ(one.steps_per_epoch(), 2);
  EXPECT_EQ(one.total_steps(std::nullopt, 1.5), 3);
  EXPECT_EQ(one.total_steps(7, 1.5), 7);
  for (int64_t k = 0; k < 12; ++k) {
    const std::vector<int64_t> whole = one.indices(k);
    EXPECT_EQ(static_cast<int64_t>(whole.size()), k % 5 == 4 ? 3 : 5) << k;  // the epoch's last micro-batch is short
    std::vector<int64_t> joined;
    double weights = 0;
    for (int r = 0; r < 4; ++r) {
      const MicroBatches mine(n, batch, 2, 42, r, 4);
      const auto part = mine.indices(k);
      if (mine.weight(k) > 0) joined.insert(joined.end(), part.begin(), part.end());
      EXPECT_DOUBLE_EQ(mine.weight(k), mine.weight(k) > 0 ? static_cast<double>(part.size()) / whole.size() : 0.0);
      weights += mine.weight(k);
    }
    EXPECT_EQ(joined, whole) << k;
    EXPECT_DOUBLE_EQ(weights, 1.0) << k;
  }
}

TEST(ModelSelector, OnlyStrictImprovementsCountAndPatienceStops) {
  sh_test::TempFolder dir;
  auto model = classifier(1);
  ModelSelector higher("f1", true, 2, dir / "best.pt");
  EXPECT_FALSE(higher.observe(1, {{"loss", 0.3}}, *model, true)) << "a missing metric is no improvement";
  EXPECT_TRUE(higher.observe(2, {{"f1", 0.5}}, *model, true));
  EXPECT_TRUE(fs::exists(dir / "best.pt"));
  EXPECT_FALSE(higher.observe(3, {{"f1", 0.5}}, *model, true)) << "equal is not better";
  EXPECT_FALSE(higher.patience_exhausted());
  EXPECT_FALSE(higher.observe(4, {{"f1", 0.4}}, *model, true));
  EXPECT_TRUE(higher.patience_exhausted());
  EXPECT_EQ(higher.state().best_step, 2);
  EXPECT_EQ(higher.state().best, 0.5);
  EXPECT_TRUE(higher.load_best(*model));
  higher.remove_file();
  EXPECT_FALSE(fs::exists(dir / "best.pt"));

  ModelSelector loss = ModelSelector::for_evaluators({}, 0, dir / "b2.pt");
  EXPECT_EQ(loss.metric(), "loss");
  EXPECT_TRUE(loss.observe(1, {{"loss", 0.7}}, *model, false));
  EXPECT_TRUE(loss.observe(2, {{"loss", 0.6}}, *model, false)) << "lower is better for the loss";
  EXPECT_FALSE(loss.observe(3, {{"loss", NAN}}, *model, false));
  for (int i = 0; i < 5; ++i) loss.observe(4 + i, {{"loss", 0.9}}, *model, false);
  EXPECT_FALSE(loss.patience_exhausted()) << "patience 0 never stops";
  EXPECT_FALSE(fs::exists(dir / "b2.pt")) << "write false: another rank writes";
}
