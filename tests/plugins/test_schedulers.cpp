// SPDX-License-Identifier: Apache-2.0
// Learning-rate schedules: hand-computed factors at step 0, the end of warmup, the middle and the end; ELECTRA's,
// Hugging Face's, BertAdam's and AllenNLP's schedules against their reference formulas (tests/data/optim/
// schedules.json, written by make_optim_fixtures.py); the cyclic schedule against PyTorch's own CyclicLR.
#include <gtest/gtest.h>

#include <cmath>

#include "stagehand/config.h"
#include "plugin/loader.h"
#include "stagehand/optim.h"

using namespace stagehand;

namespace {

class Schedulers : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"constant", "linear", "cosine", "cyclic", "slanted_triangular", "linear_with_warmup",
                             "bert_warmup_linear"}) {
      loader_.load(std::string(STAGEHAND_PLUGIN_DIR) + "/scheduler_" + name + ".so");
      ASSERT_TRUE(registry_.find("scheduler", name)) << "scheduler_" << name << ".so not loaded";
    }
  }
  std::shared_ptr<Scheduler> make(const std::string& yaml) {
    BuildContext ctx;
    ctx.registry = &registry_;
    ctx.seed = 1;
    return registry_.create<Scheduler>(parse_yaml(yaml, "test"), ctx);
  }
  Registry registry_;
  PluginLoader loader_{registry_};
};

constexpr double kTol = 1e-12;

}  // namespace

TEST_F(Schedulers, ConstantWithAndWithoutWarmup) {
  auto flat = make("{type: constant}");
  EXPECT_EQ(flat->factor(0, 100), 1.0);
  EXPECT_EQ(flat->factor(99, 100), 1.0);

  auto warm = make("{type: constant, warmup_steps: 4}");
  EXPECT_EQ(warm->factor(0, 100), 0.0);
  EXPECT_EQ(warm->factor(2, 100), 0.5);
  EXPECT_EQ(warm->factor(4, 100), 1.0);
  EXPECT_EQ(warm->factor(99, 100), 1.0);

  // 0.07 * 100 is 7.000000000000001 in doubles: the warmup is still 7 steps, not 8.
  auto frac = make("{type: constant, warmup_fraction: 0.07}");
  EXPECT_NEAR(frac->factor(3, 100), 3.0 / 7.0, kTol);
  EXPECT_EQ(frac->factor(7, 100), 1.0);
}

TEST_F(Schedulers, LinearIsElectrasWarmupTimesDecay) {
  // warmup_fraction 0.1 of 100 steps: W = 10; factor = min(1, t/10) * (1 - t/100).
  auto s = make("{type: linear}");
  EXPECT_EQ(s->factor(0, 100), 0.0);
  EXPECT_NEAR(s->factor(5, 100), 0.5 * 0.95, kTol);
  EXPECT_NEAR(s->factor(10, 100), 0.9, kTol);  // end of warmup: the decay already took 10%
  EXPECT_NEAR(s->factor(50, 100), 0.5, kTol);
  EXPECT_NEAR(s->factor(99, 100), 0.01, kTol);
  EXPECT_NEAR(s->factor(100, 100), 0.0, kTol);
  EXPECT_NEAR(s->factor(150, 100), 0.0, kTol);  // past the end it stays at final_factor

  // warmup_steps wins over the fraction; polynomial decay to a floor: 0.1 + 0.9 * (1 - t/10)^2.
  auto p = make("{type: linear, warmup_steps: 0, warmup_fraction: 0.5, final_factor: 0.1, power: 2.0}");
  EXPECT_NEAR(p->factor(0, 10), 1.0, kTol);
  EXPECT_NEAR(p->factor(5, 10), 0.1 + 0.9 * 0.25, kTol);
  EXPECT_NEAR(p->factor(9, 10), 0.1 + 0.9 * 0.01, kTol);
  EXPECT_NEAR(p->factor(10, 10), 0.1, kTol);

  auto w = make("{type: linear, warmup_steps: 20}");
  EXPECT_NEAR(w->factor(10, 100), 0.5 * 0.9, kTol);
  EXPECT_NEAR(w->factor(20, 100), 0.8, kTol);
}

TEST_F(Schedulers, CosineWarmsUpThenFollowsHalfACosine) {
  auto s = make("{type: cosine}");  // W = 10 of 100; the cosine spans steps 10..100
  EXPECT_EQ(s->factor(0, 100), 0.0);
  EXPECT_NEAR(s->factor(5, 100), 0.5, kTol);
  EXPECT_NEAR(s->factor(10, 100), 1.0, kTol);
  EXPECT_NEAR(s->factor(55, 100), 0.5, kTol);
  EXPECT_NEAR(s->factor(99, 100), 0.5 * (1.0 - std::cos(M_PI / 90.0)), kTol);
  EXPECT_NEAR(s->factor(100, 100), 0.0, kTol);

  auto m = make("{type: cosine, warmup_steps: 0, min_factor: 0.2}");
  EXPECT_NEAR(m->factor(0, 4), 1.0, kTol);
  EXPECT_NEAR(m->factor(1, 4), 0.2 + 0.4 * (1.0 + std::sqrt(0.5)), kTol);
  EXPECT_NEAR(m->factor(2, 4), 0.6, kTol);
  EXPECT_NEAR(m->factor(4, 4), 0.2, kTol);
}

TEST_F(Schedulers, CyclicMatchesTorchCyclicLR) {
  // lr of torch.optim.lr_scheduler.CyclicLR(SGD(lr=1), base_lr=0.1, max_lr=1.0, step_size_up=4,
  // step_size_down=2, mode=..., gamma=0.9 for exp_range) before each of the first 16 steps (PyTorch 1.13).
  const std::vector<double> triangular = {0.1,   0.325, 0.55, 0.775, 1.0,   0.55, 0.1,  0.325,
                                          0.55,  0.775, 1.0,  0.55,  0.1,   0.325, 0.55, 0.775};
  const std::vector<double> triangular2 = {0.1,    0.325,   0.55,   0.775,   1.0,   0.55,   0.1,   0.2125,
                                           0.325, 0.4375, 0.55, 0.325, 0.1, 0.15625, 0.2125, 0.26875};
  const std::vector<double> exp_range = {0.1,
                                         0.3025000000000001,
                                         0.4644999999999999,
                                         0.5920750000000001,
                                         0.6904899999999998,
                                         0.3657204999999998,
                                         0.1,
                                         0.2076168025000002,
                                         0.2937102444999999,
                                         0.3615088300750001,
                                         0.4138105960899998,
                                         0.24121476824050025,
                                         0.1,
                                         0.15719198113740246,
                                         0.2029455660473246,
                                         0.23897651416388813};
  auto t1 = make("{type: cyclic, base_factor: 0.1, step_size_up: 4, step_size_down: 2}");
  auto t2 = make("{type: cyclic, base_factor: 0.1, step_size_up: 4, step_size_down: 2, mode: triangular2}");
  auto ex = make("{type: cyclic, base_factor: 0.1, step_size_up: 4, step_size_down: 2, mode: exp_range, gamma: 0.9}");
  for (int64_t t = 0; t < 16; ++t) {
    EXPECT_NEAR(t1->factor(t, 1000), triangular[t], 1e-12) << "triangular step " << t;
    EXPECT_NEAR(t2->factor(t, 1000), triangular2[t], 1e-12) << "triangular2 step " << t;
    EXPECT_NEAR(ex->factor(t, 1000), exp_range[t], 1e-12) << "exp_range step " << t;
  }
  // By hand, symmetric default: base at 0, peak at step_size_up, half way at 2; exp_range at the first peak is
  // 0.1 + 0.9 * 0.9^4.
  auto sym = make("{type: cyclic, step_size_up: 4}");
  EXPECT_NEAR(sym->factor(0, 10), 0.1, kTol);
  EXPECT_NEAR(sym->factor(2, 10), 0.55, kTol);
  EXPECT_NEAR(sym->factor(4, 10), 1.0, kTol);
  EXPECT_NEAR(sym->factor(6, 10), 0.55, kTol);
  EXPECT_NEAR(sym->factor(8, 10), 0.1, kTol);
  EXPECT_NEAR(ex->factor(4, 10), 0.1 + 0.9 * 0.6561, kTol);
}

TEST_F(Schedulers, FactorsMatchTheReferenceFormulas) {
  const ConfigNode f = load_yaml_file(std::string(STAGEHAND_TEST_DATA) + "/optim/schedules.json");
  ASSERT_GE(f.at("cases").size(), 16u);
  for (const auto& c : f.at("cases").items()) {
    SCOPED_TRACE(c.at("name").as_string() + ": " + c.at("spec").as_string());
    auto s = make(c.at("spec").as_string());
    const int64_t total = c.at("total").as_int();
    const auto& steps = c.at("steps").items();
    const auto& factors = c.at("factors").items();
    ASSERT_EQ(steps.size(), factors.size());
    for (size_t i = 0; i < steps.size(); ++i)
      EXPECT_NEAR(s->factor(steps[i].as_int(), total), factors[i].as_double(), kTol)
          << "step " << steps[i].as_int() << " of " << total;
  }
}

TEST_F(Schedulers, ElectraWarmupIsNotRounded) {
  // ELECTRA: warmup = 25 x 0.1 = 2.5 steps, so step 1 gets 1 / 2.5 of the decayed rate (rounding up would give 1/3).
  auto s = make("{type: linear, warmup_fraction: 0.1}");
  EXPECT_NEAR(s->factor(1, 25), 0.4 * 0.96, kTol);
  EXPECT_NEAR(s->factor(2, 25), 0.8 * 0.92, kTol);
  EXPECT_NEAR(s->factor(3, 25), 0.88, kTol);
  auto up = make("{type: linear, warmup_fraction: 0.1, warmup_rounding: ceil}");
  EXPECT_NEAR(up->factor(1, 25), 0.96 / 3.0, kTol);
}

TEST_F(Schedulers, HuggingFaceLinearWarmsUpToOneThenDecaysToZero) {
  auto s = make("{type: linear_with_warmup, warmup_steps: 10}");
  EXPECT_EQ(s->factor(0, 100), 0.0);
  EXPECT_NEAR(s->factor(5, 100), 0.5, kTol);
  EXPECT_EQ(s->factor(10, 100), 1.0);  // the peak is 1, unlike ELECTRA's
  EXPECT_NEAR(s->factor(55, 100), 0.5, kTol);
  EXPECT_NEAR(s->factor(99, 100), 1.0 / 90.0, kTol);
  EXPECT_EQ(s->factor(100, 100), 0.0);
  EXPECT_EQ(s->factor(130, 100), 0.0);
}

TEST_F(Schedulers, BertWarmupLinearFollowsProgress) {
  // x = t / t_total; x / 0.1 during warmup, then (1 - x) / 0.9.
  auto s = make("{type: bert_warmup_linear}");
  EXPECT_EQ(s->factor(0, 100), 0.0);
  EXPECT_NEAR(s->factor(5, 100), 0.5, kTol);
  EXPECT_NEAR(s->factor(10, 100), 1.0, kTol);
  EXPECT_NEAR(s->factor(55, 100), 0.5, kTol);
  EXPECT_NEAR(s->factor(99, 100), 0.01 / 0.9, kTol);
  // DSE: t_total counts micro-batches, 2 per update: the last of 50 updates is at x = 0.49, factor 0.51 / 0.9.
  auto dse = make("{type: bert_warmup_linear, t_total_scale: 2}");
  EXPECT_NEAR(dse->factor(49, 50), 0.51 / 0.9, kTol);
}

TEST_F(Schedulers, SlantedTriangularIsAllenNlps) {
  // AllenNLP counts updates from 1: the first update (step 0) is t = 1 of cut = 10, the peak is the 10th update.
  auto s = make("{type: slanted_triangular}");  // cut = 10 of 100, ratio 32
  EXPECT_NEAR(s->factor(0, 100), (1.0 + 0.1 * 31.0) / 32.0, kTol);
  EXPECT_NEAR(s->factor(4, 100), 16.5 / 32.0, kTol);
  EXPECT_NEAR(s->factor(9, 100), 1.0, kTol);
  EXPECT_NEAR(s->factor(54, 100), 16.5 / 32.0, kTol);  // t = 55: p = 1 - 45 / 90
  EXPECT_NEAR(s->factor(99, 100), 1.0 / 32.0, kTol);
  EXPECT_NEAR(s->factor(120, 100), 1.0 / 32.0, kTol);

  auto r = make("{type: slanted_triangular, cut_frac: 0.25, ratio: 5.0}");  // cut = 2 of 8
  EXPECT_NEAR(r->factor(0, 8), (1.0 + 0.5 * 4.0) / 5.0, kTol);
  EXPECT_NEAR(r->factor(1, 8), 1.0, kTol);
  EXPECT_NEAR(r->factor(4, 8), (1.0 + 0.5 * 4.0) / 5.0, kTol);  // t = 5: p = 1 - 3/6
  // Shorter than 1 / cut_frac: cut = 0, no rise, p = 1 - t / T.
  EXPECT_NEAR(s->factor(0, 5), (1.0 + 0.8 * 31.0) / 32.0, kTol);
}

TEST_F(Schedulers, FactorsArePureFunctionsOfTheStep) {
  for (const char* spec : {"{type: linear}", "{type: cosine}", "{type: cyclic, step_size_up: 3}",
                           "{type: slanted_triangular}", "{type: constant, warmup_steps: 3}",
                           "{type: linear_with_warmup, warmup_fraction: 0.1}", "{type: bert_warmup_linear}"}) {
    auto a = make(spec);
    auto b = make(spec);
    std::vector<double> forward;
    for (int64_t t = 0; t <= 20; ++t) forward.push_back(a->factor(t, 20));
    for (int64_t t = 20; t >= 0; --t) EXPECT_EQ(b->factor(t, 20), forward[t]) << spec << " step " << t;
    for (double f : forward) EXPECT_TRUE(f >= 0.0 && f <= 1.0) << spec;
  }
}

TEST_F(Schedulers, RejectsBadArguments) {
  auto s = make("{type: linear}");
  EXPECT_THROW(s->factor(0, 0), Error);
  EXPECT_THROW(s->factor(-1, 10), Error);
  EXPECT_THROW(make("{type: cyclic, mode: triangle}"), Error);
  EXPECT_THROW(make("{type: linear, warmup_fraction: 1.5}"), Error);
  EXPECT_THROW(make("{type: linear, warmup_rounding: nearest}"), Error);
  EXPECT_THROW(make("{type: linear_with_warmup, warmup_rounding: none}"), Error);
  EXPECT_THROW(make("{type: bert_warmup_linear, warmup_fraction: 1.0}"), Error);
}
