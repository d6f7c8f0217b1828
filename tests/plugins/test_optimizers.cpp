// SPDX-License-Identifier: Apache-2.0
// Optimizers: parameter groups by (lr_scale, decay), no weight decay where decay is false, hand-computed
// updates, adamw against torch.optim.AdamW and against ELECTRA's / BertAdam's uncorrected update (with the train
// stage's per-tensor clipping) step by step, and a save/load round trip after which a resumed run continues bit for
// bit.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "stagehand/config.h"
#include "plugin/loader.h"
#include "stagehand/optim.h"
#include "stagehand/sdk/train/clip_gradients.h"

using namespace stagehand;

namespace {

class Optimizers : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"adamw", "adam", "sgd"}) {
      loader_.load(std::string(STAGEHAND_PLUGIN_DIR) + "/optimizer_" + name + ".so");
      ASSERT_TRUE(registry_.find("optimizer", name)) << "optimizer_" << name << ".so not loaded";
    }
  }
  std::shared_ptr<Optimizer> make(const std::string& yaml) {
    BuildContext ctx;
    ctx.registry = &registry_;
    ctx.seed = 1;
    return registry_.create<Optimizer>(parse_yaml(yaml, "test"), ctx);
  }
  Registry registry_;
  PluginLoader loader_{registry_};
};

torch::Tensor param(std::vector<double> v, torch::ScalarType dtype = torch::kDouble) {
  return torch::tensor(v, torch::kDouble).to(dtype).requires_grad_(true);
}

/// A tiny linear regression y = x W^T + b whose weight and bias sit in different groups (the weight with an
/// lr_scale, the bias without decay), so that the round trip covers several groups.
struct Tiny {
  torch::Tensor w, b;
  static Tiny init() {
    auto w = torch::linspace(-1.0, 1.0, 12).reshape({3, 4});
    return {w.clone().requires_grad_(true), torch::tensor({0.1f, -0.2f, 0.3f}).requires_grad_(true)};
  }
  Tiny copy() const { return {w.detach().clone().requires_grad_(true), b.detach().clone().requires_grad_(true)}; }
  std::vector<NamedParameter> params() {
    return {{"layer.weight", w, 0.5, true}, {"layer.bias", b, 1.0, false}};
  }
};

void fit(Optimizer& opt, Tiny& m, int from, int to) {
  auto x = torch::cos(torch::arange(24).reshape({6, 4}).to(torch::kFloat));
  auto y = torch::sin(torch::arange(18).reshape({6, 3}).to(torch::kFloat));
  for (int s = from; s < to; ++s) {
    opt.zero_grad();
    auto xs = x * (1.0 + 0.1 * s);
    auto loss = (xs.matmul(m.w.t()) + m.b - y).pow(2).mean();
    loss.backward();
    opt.step(opt.base_lr() * (1.0 - s / 20.0));
  }
}

std::string save(const Optimizer& opt) {
  torch::serialize::OutputArchive archive;
  opt.save(archive);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

void load(Optimizer& opt, const std::string& bytes) {
  torch::serialize::InputArchive archive;
  std::istringstream in(bytes);
  archive.load_from(in);
  opt.load(archive);
}

std::vector<double> doubles(const ConfigNode& list) {
  std::vector<double> v;
  for (const auto& x : list.items()) v.push_back(x.as_double());
  return v;
}

/// tests/data/optim/adamw_steps.json (written by make_optim_fixtures.py): three tensors, five updates with fixed
/// gradients and scheduled learning rates, and each reference's parameters after every update.
const ConfigNode& adamw_fixture() {
  static const ConfigNode f = load_yaml_file(std::string(STAGEHAND_TEST_DATA) + "/optim/adamw_steps.json");
  return f;
}

}  // namespace

TEST_F(Optimizers, AdamwFollowsEachReferenceStepByStep) {
  const ConfigNode& f = adamw_fixture();
  const auto& names = f.at("names").items();
  ASSERT_EQ(f.at("cases").size(), 3u);
  for (const auto& c : f.at("cases").items()) {
    SCOPED_TRACE(c.at("name").as_string());
    std::vector<torch::Tensor> tensors;
    std::vector<NamedParameter> params;
    for (size_t i = 0; i < names.size(); ++i) {
      std::vector<int64_t> shape;
      for (const auto& d : f.at("shapes").items()[i].items()) shape.push_back(d.as_int());
      tensors.push_back(torch::tensor(doubles(f.at("initial").items()[i]), torch::kDouble).reshape(shape)
                            .requires_grad_(true));
      params.push_back({names[i].as_string(), tensors.back(), f.at("lr_scale").items()[i].as_double(),
                        f.at("decay").items()[i].as_bool()});
    }
    auto opt = make(c.at("spec").as_string());
    opt->setup(params);
    const bool per_tensor = c.at("clip").as_string() == "per_tensor";
    const double clip_norm = per_tensor ? c.at("clip_norm").as_double() : 0.0;
    const auto lrs = doubles(f.at("lrs"));
    for (size_t k = 0; k < lrs.size(); ++k) {
      opt->zero_grad();
      for (size_t i = 0; i < tensors.size(); ++i)
        tensors[i].mutable_grad() = torch::tensor(doubles(f.at("gradients").items()[k].items()[i]), torch::kDouble)
                                        .reshape(tensors[i].sizes())
                                        .clone();  // not a view: zero_grad() detaches gradients in place
      sdk::train::clip_gradients(tensors, clip_norm, per_tensor);
      opt->step(lrs[k]);
      for (size_t i = 0; i < tensors.size(); ++i) {
        const auto expected = doubles(c.at("after_step").items()[k].items()[i]);
        const auto got = tensors[i].detach().flatten();
        for (size_t j = 0; j < expected.size(); ++j)
          EXPECT_NEAR(got[static_cast<int64_t>(j)].item<double>(), expected[j], 1e-14)
              << "update " << k + 1 << ", " << names[i].as_string() << "[" << j << "]";
      }
    }
  }
}

TEST_F(Optimizers, PerTensorClippingIsBertAdamsNotGlobal) {
  // BertAdam clips every parameter's gradient to norm 1 on its own: a small gradient beside a large one is kept,
  // where global clipping would shrink it too.
  auto big = param({3.0, 4.0});
  auto small = param({0.3, 0.4});
  auto a = big.detach().clone().requires_grad_(true);
  auto b = small.detach().clone().requires_grad_(true);
  for (auto* t : {&big, &small, &a, &b}) t->mutable_grad() = t->detach().clone();
  sdk::train::clip_gradients({big, small}, 1.0, true);
  EXPECT_NEAR(big.grad()[0].item<double>(), 3.0 / (5.0 + 1e-6), 1e-15);
  EXPECT_NEAR(big.grad()[1].item<double>(), 4.0 / (5.0 + 1e-6), 1e-15);
  EXPECT_EQ(small.grad()[0].item<double>(), 0.3) << "a gradient of norm 0.5 is below the limit and kept";
  sdk::train::clip_gradients({a, b}, 1.0, false);
  const double global = std::sqrt(25.0 + 0.25);
  EXPECT_NEAR(b.grad()[0].item<double>(), 0.3 / (global + 1e-6), 1e-15);
  sdk::train::clip_gradients({a, b}, 0.0, true);  // 0: off
  EXPECT_NEAR(b.grad()[0].item<double>(), 0.3 / (global + 1e-6), 1e-15);
}

TEST_F(Optimizers, AdamwWithoutBiasCorrectionFirstStepByHand) {
  // Step 1 without correction: m = 0.1 g, v = 0.001 g^2, update = 0.1 g / (sqrt(0.001) |g| + eps): about 3.16 lr
  // where torch's AdamW moves lr. Weight decay adds wd p to the update (lr x wd x p), none where decay is false.
  auto opt = make("{type: adamw, lr: 0.01, weight_decay: 0.5, bias_correction: false}");
  auto w = param({1.0});
  auto b = param({1.0});
  opt->setup({{"dense.weight", w, 1.0, true}, {"dense.bias", b, 1.0, false}});
  w.mutable_grad() = torch::full_like(w, 0.5);
  b.mutable_grad() = torch::full_like(b, 0.5);
  opt->step(0.01);
  const double update = 0.05 / (std::sqrt(0.001 * 0.25) + 1e-6);
  EXPECT_NEAR(w.item<double>(), 1.0 - 0.01 * (update + 0.5 * 1.0), 1e-15);
  EXPECT_NEAR(b.item<double>(), 1.0 - 0.01 * update, 1e-15);
  EXPECT_THROW(make("{type: adamw, lr: 0.01, bias_correction: false, amsgrad: true}"), Error);
}

TEST_F(Optimizers, AdamwSkipsDecayWhereDecayIsFalse) {
  // Zero gradients: Adam's own update is exactly 0, so only the decoupled decay p *= 1 - lr * wd acts.
  auto opt = make("{type: adamw, lr: 0.1, weight_decay: 0.5}");
  EXPECT_TRUE(opt->exclude_bias_and_norm_from_decay());
  EXPECT_EQ(opt->base_lr(), 0.1);
  auto w = param({1.0, 2.0});
  auto b = param({3.0});
  opt->setup({{"encoder.dense.weight", w, 1.0, true}, {"encoder.dense.bias", b, 1.0, false}});
  w.mutable_grad() = torch::zeros_like(w);
  b.mutable_grad() = torch::zeros_like(b);
  opt->step(0.1);
  EXPECT_NEAR(w[0].item<double>(), 0.95, 1e-15);
  EXPECT_NEAR(w[1].item<double>(), 1.9, 1e-15);
  EXPECT_EQ(b[0].item<double>(), 3.0) << "a decay=false parameter must not shrink";

  EXPECT_FALSE(make("{type: adamw, lr: 0.1, exclude_from_decay: false}")->exclude_bias_and_norm_from_decay());
}

TEST_F(Optimizers, SgdAppliesLrTimesLrScale) {
  auto opt = make("{type: sgd, lr: 0.1}");
  auto a = param({1.0});
  auto b = param({1.0});
  opt->setup({{"a", a, 1.0, true}, {"b", b, 0.5, true}});
  for (double lr : {0.1, 0.2}) {
    opt->zero_grad();
    a.mutable_grad() = torch::ones_like(a);
    b.mutable_grad() = torch::ones_like(b);
    opt->step(lr);
  }
  EXPECT_NEAR(a.item<double>(), 1.0 - 0.1 - 0.2, 1e-15);
  EXPECT_NEAR(b.item<double>(), 1.0 - 0.05 - 0.1, 1e-15);
}

TEST_F(Optimizers, AdamFirstStepByHand) {
  // Step 1: m = 0.1 g, v = 0.001 g^2; p -= lr / 0.1 * m / (sqrt(v / 0.001) + eps) = lr * g / (|g| + eps).
  auto opt = make("{type: adam, lr: 0.01}");
  auto p = param({1.0});
  opt->setup({{"p", p, 1.0, true}});
  p.mutable_grad() = torch::full_like(p, 0.5);
  opt->step(0.01);
  EXPECT_NEAR(p.item<double>(), 1.0 - 0.01 * 0.5 / (0.5 + 1e-8), 1e-14);

  // Adam's weight decay is L2 in the gradient: with decay, g = 0 + 0.1 * p still moves p by about lr.
  auto l2 = make("{type: adam, lr: 0.01, weight_decay: 0.1}");
  auto q = param({2.0});
  auto r = param({2.0});
  l2->setup({{"q", q, 1.0, true}, {"r", r, 1.0, false}});
  q.mutable_grad() = torch::zeros_like(q);
  r.mutable_grad() = torch::zeros_like(r);
  l2->step(0.01);
  EXPECT_NEAR(q.item<double>(), 2.0 - 0.01 * 0.2 / (0.2 + 1e-8), 1e-14);
  EXPECT_EQ(r.item<double>(), 2.0);
}

TEST_F(Optimizers, ResumedRunContinuesBitIdentically) {
  for (const char* spec : {"{type: adamw, lr: 0.01}", "{type: adamw, lr: 0.01, bias_correction: false}",
                           "{type: adam, lr: 0.01, weight_decay: 0.01, amsgrad: true}",
                           "{type: sgd, lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.01}"}) {
    SCOPED_TRACE(spec);
    Tiny a = Tiny::init();
    auto opt_a = make(spec);
    opt_a->setup(a.params());
    fit(*opt_a, a, 0, 5);
    const std::string state = save(*opt_a);
    Tiny at_save = a.copy();
    fit(*opt_a, a, 5, 10);

    Tiny b = at_save.copy();
    auto opt_b = make(spec);
    opt_b->setup(b.params());
    load(*opt_b, state);
    fit(*opt_b, b, 5, 10);
    EXPECT_TRUE(torch::equal(a.w, b.w)) << (a.w - b.w).abs().max().item<float>();
    EXPECT_TRUE(torch::equal(a.b, b.b)) << (a.b - b.b).abs().max().item<float>();

    // Without the saved state the continuation differs: the comparison above is not vacuous.
    Tiny c = at_save.copy();
    auto opt_c = make(spec);
    opt_c->setup(c.params());
    fit(*opt_c, c, 5, 10);
    EXPECT_FALSE(torch::equal(a.w, c.w));
  }
}

TEST_F(Optimizers, LoadRefusesAnotherOptimizerOrLayout) {
  Tiny a = Tiny::init();
  auto adamw = make("{type: adamw, lr: 0.01}");
  adamw->setup(a.params());
  fit(*adamw, a, 0, 2);
  const std::string state = save(*adamw);

  auto sgd = make("{type: sgd, lr: 0.1}");
  Tiny b = a.copy();
  sgd->setup(b.params());
  try {
    load(*sgd, state);
    FAIL() << "an adamw state was loaded into sgd";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer 'adamw'"), std::string::npos) << e.what();
  }

  auto other = make("{type: adamw, lr: 0.01}");
  Tiny c = a.copy();
  other->setup({{"layer.weight", c.w, 1.0, true}, {"layer.bias", c.b, 1.0, true}});  // one group, not two
  try {
    load(*other, state);
    FAIL() << "a state with another group layout was loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter group"), std::string::npos) << e.what();
  }

  auto fresh = make("{type: sgd, lr: 0.1}");
  EXPECT_THROW(fresh->step(0.1), Error);
  EXPECT_THROW(make("{type: adamw}"), Error);  // lr is required
  EXPECT_THROW(make("{type: adamw, lr: 0.1, betas: [0.9]}"), Error);
}
