// SPDX-License-Identifier: Apache-2.0
// Scheduler `slanted_triangular`: ULMFiT's slanted triangular learning rate (Howard & Ruder 2018, eq. 3) as
// AllenNLP names it: a short linear rise over cut = floor(T * cut_frac) steps, then a long linear fall, from
// 1/ratio to 1 and back to 1/ratio.
#include <cmath>

#include <stagehand/optim.h>
#include <stagehand/plugin.h>

#include "../common/warmup.h"

namespace stagehand {
namespace {

class SlantedTriangularScheduler : public Scheduler {
 public:
  explicit SlantedTriangularScheduler(const Options& o)
      : cut_frac_(o.get<double>("cut_frac")), ratio_(o.get<double>("ratio")) {}

  double factor(int64_t step, int64_t total) const override {
    scheduler_common::check_step(step, total, "scheduler/slanted_triangular");
    // At least one rising step, so that a run shorter than 1 / cut_frac does not divide by zero.
    const double cut = std::max(1.0, std::floor(static_cast<double>(total) * cut_frac_));
    const double t = static_cast<double>(step);
    double p = t < cut ? t / cut : 1.0 - (t - cut) / (cut * (1.0 / cut_frac_ - 1.0));
    p = std::max(0.0, p);
    return (1.0 + p * (ratio_ - 1.0)) / ratio_;
  }

 private:
  double cut_frac_, ratio_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Scheduler>(
      "slanted_triangular", "ULMFiT's slanted triangular schedule: short linear rise, long linear fall",
      stagehand::Schema()
          .opt("cut_frac", 0.1, "fraction of the steps spent rising")
          .min(1e-6)
          .max(1.0 - 1e-6)
          .opt("ratio", 32.0, "how much smaller the lowest factor is than the peak (lowest = 1 / ratio)")
          .min(1),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::SlantedTriangularScheduler>(o); });
}
