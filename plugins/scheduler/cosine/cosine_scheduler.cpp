// SPDX-License-Identifier: Apache-2.0
// Scheduler `cosine`: linear warmup to 1, then half a cosine from 1 down to min_factor at the last step.
#include <cmath>

#include <stagehand/optim.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/warmup.h>

namespace stagehand {
namespace {

class CosineScheduler : public Scheduler {
 public:
  explicit CosineScheduler(const Options& o) : warmup_(o), min_(o.get<double>("min_factor")) {}
  double factor(int64_t step, int64_t total) const override {
    sdk::check_step(step, total, "scheduler/cosine");
    const double w = warmup_.length(total);
    const double t = static_cast<double>(step);
    if (t < w) return t / w;
    const double span = std::max(1.0, static_cast<double>(total) - w);
    const double progress = std::min(1.0, (t - w) / span);
    return min_ + (1.0 - min_) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }

 private:
  sdk::Warmup warmup_;
  double min_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  stagehand::Schema s;
  stagehand::sdk::warmup_options(s, 0.1)
      .opt("min_factor", 0.0, "factor at the end of the cosine")
      .min(0)
      .max(1);
  registrar.add<stagehand::Scheduler>(
      "cosine", "linear warmup, then half-cosine decay from 1 to min_factor", s,
      [](const stagehand::Options& o) { return std::make_shared<stagehand::CosineScheduler>(o); });
}
