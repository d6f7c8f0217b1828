// SPDX-License-Identifier: Apache-2.0
// stagehand::nn::dropout: inverted dropout with masks from a counter-based generator filled on all threads.
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "stagehand/nn.h"

namespace shnn = stagehand::nn;

TEST(Dropout, OffInEvaluationAndAtZero) {
  auto x = torch::randn({3, 5});
  EXPECT_TRUE(shnn::dropout(x, 0.1, false).is_same(x));
  EXPECT_TRUE(shnn::dropout(x, 0.0, true).is_same(x));
}

TEST(Dropout, KeepsOneMinusPScaledAndDropsTheRest) {
  torch::manual_seed(3);
  const double p = 0.1;
  const int64_t n = 1 << 20;
  auto x = torch::rand({n}) + 1.0f;  // no zeros of its own
  auto y = shnn::dropout(x, p, true);
  auto kept = y.ne(0);
  const double rate = kept.to(torch::kDouble).mean().item<double>();
  const double sigma = std::sqrt(p * (1 - p) / static_cast<double>(n));
  EXPECT_NEAR(rate, 1 - p, 5 * sigma);
  // Kept values are x / (1 - p) exactly as at::dropout computes them (x times the float scale).
  const auto scale = static_cast<float>(1.0 / (1.0 - p));
  EXPECT_TRUE(torch::equal(y.masked_select(kept), x.masked_select(kept) * scale));
  // Neighbours are independent: both of a pair (2k, 2k+1: the two halves of one 64-bit draw) dropped at rate p^2,
  // and so for elements 1 apart across pairs.
  auto dropped = kept.logical_not().to(torch::kDouble);
  const double both = (dropped.slice(0, 0, n - 1) * dropped.slice(0, 1, n)).mean().item<double>();
  EXPECT_NEAR(both, p * p, 5 * std::sqrt(p * p / static_cast<double>(n)));
}

TEST(Dropout, FollowsTheSeedTakesOneDrawAndIgnoresTheThreadCount) {
  auto x = torch::ones({7, 13});  // odd count: the last pair is half used
  torch::manual_seed(11);
  auto a = shnn::dropout(x, 0.3, true);
  auto after_a = torch::rand({4});
  torch::manual_seed(11);
  at::detail::getDefaultCPUGenerator().get<at::CPUGeneratorImpl>()->random64();
  EXPECT_TRUE(torch::equal(torch::rand({4}), after_a)) << "dropout should take exactly one 64-bit draw";

  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  torch::manual_seed(11);
  auto one = shnn::dropout(torch::ones({3000, 100}), 0.3, true);
  at::set_num_threads(2);
  torch::manual_seed(11);
  auto two = shnn::dropout(torch::ones({3000, 100}), 0.3, true);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one, two));

  torch::manual_seed(11);
  EXPECT_TRUE(torch::equal(shnn::dropout(x, 0.3, true), a));
  EXPECT_FALSE(torch::equal(shnn::dropout(x, 0.3, true), a)) << "a second call must draw a new mask";
}

TEST(Dropout, GradientIsTheMaskAndDtypesAndLayoutsAreKept) {
  torch::manual_seed(2);
  auto x = torch::randn({6, 10}).requires_grad_(true);
  auto y = shnn::dropout(x, 0.25, true);
  y.sum().backward();
  auto expected = y.detach().ne(0).to(torch::kFloat) * static_cast<float>(1.0 / 0.75);
  EXPECT_TRUE(torch::equal(x.grad(), expected));

  auto b = torch::ones({4, 9}, torch::kBFloat16);
  auto yb = shnn::dropout(b, 0.1, true);
  EXPECT_EQ(yb.scalar_type(), torch::kBFloat16);
  auto nz = yb.masked_select(yb.ne(0));
  EXPECT_TRUE(torch::equal(nz, torch::full_like(nz, static_cast<float>(1.0 / 0.9))));

  auto t = torch::randn({5, 8}).t();  // not contiguous
  auto yt = shnn::dropout(t, 0.5, true);
  EXPECT_EQ(yt.sizes(), t.sizes());
  EXPECT_TRUE(torch::equal(yt.ne(0), yt.ne(0) & t.ne(0)));
  EXPECT_TRUE(torch::allclose(yt.masked_select(yt.ne(0)), t.masked_select(yt.ne(0)) * 2.0f));
}

TEST(Uniform, InUnitIntervalUniformAndKeyedByTheGivenGenerator) {
  auto gen = at::detail::createCPUGenerator(42);
  auto u = shnn::uniform({1000, 1000}, gen);
  EXPECT_EQ(u.scalar_type(), torch::kFloat);
  EXPECT_GE(u.min().item<float>(), 0.0f);
  EXPECT_LT(u.max().item<float>(), 1.0f);
  // Mean 1/2 and variance 1/12 of U(0, 1), within 5 standard errors; deciles each hold a tenth.
  const double n = 1e6;
  EXPECT_NEAR(u.mean().item<double>(), 0.5, 5 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(u.var().item<double>(), 1.0 / 12, 5 * std::sqrt(1.0 / 180 / n));
  auto decile = (u * 10).floor().to(torch::kLong).flatten();
  auto counts = torch::bincount(decile, {}, 10).to(torch::kDouble) / n;
  EXPECT_LT((counts - 0.1).abs().max().item<double>(), 5 * std::sqrt(0.09 / n));
  // The same generator state gives the same draws; the default generator is left alone.
  torch::manual_seed(9);
  auto before = torch::rand({3});
  torch::manual_seed(9);
  auto again = shnn::uniform({4, 5}, at::detail::createCPUGenerator(42));
  EXPECT_TRUE(torch::equal(again, u.flatten().slice(0, 0, 20).view({4, 5})));
  EXPECT_TRUE(torch::equal(torch::rand({3}), before));
}
