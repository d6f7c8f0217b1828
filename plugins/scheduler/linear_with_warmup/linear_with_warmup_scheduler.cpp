// SPDX-License-Identifier: Apache-2.0
// Scheduler `linear_with_warmup`: Hugging Face's get_linear_schedule_with_warmup (transformers optimization.py), used
// by SPECTER's PyTorch Lightning script, Multi²SPE and the transformers example scripts:
//   factor = t / max(1, W)                              for t < W
//            max(0, (T - t) / max(1, T - W))            after,
// t the 0-based step (LambdaLR evaluates step 0 before the first update and steps after each). The ramp reaches 1
// exactly at W and the decay starts there. W is whole: warmup_steps, or warmup_fraction x T rounded up as the
// Trainer's warmup_ratio (warmup_rounding floor: Python's int(), as Multi²SPE computes it).
#include <algorithm>
#include <cmath>

#include <stagehand/optim.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/warmup.h>

namespace stagehand {
namespace {

class LinearWithWarmupScheduler : public Scheduler {
 public:
  explicit LinearWithWarmupScheduler(const Options& o) : warmup_(o) {
    SH_CHECK(o.get<std::string>("warmup_rounding") != "none",
             "scheduler/linear_with_warmup: warmup_rounding none; expected ceil or floor (Hugging Face's warmup is a "
             "whole number of steps)");
  }
  double factor(int64_t step, int64_t total) const override {
    sdk::check_step(step, total, "scheduler/linear_with_warmup");
    const double w = warmup_.length(total);
    const double t = static_cast<double>(step);
    if (t < w) return t / std::max(1.0, w);
    return std::max(0.0, (static_cast<double>(total) - t) / std::max(1.0, static_cast<double>(total) - w));
  }

 private:
  sdk::Warmup warmup_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  stagehand::Schema s;
  stagehand::sdk::warmup_options(s, 0.0, "ceil");
  registrar.add<stagehand::Scheduler>(
      "linear_with_warmup",
      "Hugging Face's get_linear_schedule_with_warmup: t/W up to W, then (T - t)/(T - W) down to 0 at the last step",
      s, [](const stagehand::Options& o) { return std::make_shared<stagehand::LinearWithWarmupScheduler>(o); });
}
