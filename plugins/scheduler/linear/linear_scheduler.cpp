// SPDX-License-Identifier: Apache-2.0
// Scheduler `linear`: BERT/ELECTRA's schedule, a polynomial decay over the whole run multiplied by a linear
// warmup, min(1, t / W) * (f + (1 - f) * (1 - t / T)^power). The warmup multiplies rather than replaces the
// decay (ELECTRA's optimization.py), so the peak is slightly below 1 when warmup ends.
#include <cmath>

#include <stagehand/optim.h>
#include <stagehand/plugin.h>

#include "../common/warmup.h"

namespace stagehand {
namespace {

class LinearScheduler : public Scheduler {
 public:
  explicit LinearScheduler(const Options& o)
      : warmup_(o), final_(o.get<double>("final_factor")), power_(o.get<double>("power")) {}
  double factor(int64_t step, int64_t total) const override {
    scheduler_common::check_step(step, total, "scheduler/linear");
    const double progress = std::min(1.0, static_cast<double>(step) / static_cast<double>(total));
    return warmup_.factor(step, total) * (final_ + (1.0 - final_) * std::pow(1.0 - progress, power_));
  }

 private:
  scheduler_common::Warmup warmup_;
  double final_, power_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  stagehand::Schema s;
  stagehand::scheduler_common::warmup_options(s, 0.1)
      .opt("final_factor", 0.0, "factor reached at the last step (TF polynomial_decay's end_learning_rate / lr)")
      .min(0)
      .max(1)
      .opt("power", 1.0, "exponent of the decay: 1 linear, >1 polynomial")
      .min(0);
  registrar.add<stagehand::Scheduler>(
      "linear", "linear warmup times (polynomial) decay to final_factor at the last step, as BERT/ELECTRA", s,
      [](const stagehand::Options& o) { return std::make_shared<stagehand::LinearScheduler>(o); });
}
