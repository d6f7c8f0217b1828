// SPDX-License-Identifier: Apache-2.0
// Scheduler `linear`: ELECTRA's schedule (google-research/electra model/optimization.py, create_optimizer): TF's
// polynomial_decay over the whole run multiplied by a linear warmup ramp,
//   factor = ((1 - f) * (1 - min(t, T) / T)^power + f) * min(1, t / W)
// with f = end_learning_rate / lr (ELECTRA: 0), t the 0-based step (TF's global_step before its increment) and W
// warmup_steps or T x warmup_fraction, not rounded (ELECTRA: max(T x warmup_proportion, warmup_steps), one of them
// 0). The warmup multiplies rather than replaces the decay, so the peak is slightly below 1 where warmup ends.
// BERT's TF code replaces the decay during warmup instead, which is not this shape; the Hugging Face shape is
// `linear_with_warmup`, BertAdam's `bert_warmup_linear`.
#include <cmath>

#include <stagehand/optim.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/warmup.h>

namespace stagehand {
namespace {

class LinearScheduler : public Scheduler {
 public:
  explicit LinearScheduler(const Options& o)
      : warmup_(o), final_(o.get<double>("final_factor")), power_(o.get<double>("power")) {}
  double factor(int64_t step, int64_t total) const override {
    sdk::check_step(step, total, "scheduler/linear");
    const double progress = static_cast<double>(std::min(step, total)) / static_cast<double>(total);
    const double decayed = (1.0 - final_) * std::pow(1.0 - progress, power_) + final_;
    return decayed * warmup_.factor(step, total);
  }

 private:
  sdk::Warmup warmup_;
  double final_, power_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  stagehand::Schema s;
  stagehand::sdk::warmup_options(s, 0.1, "none")
      .opt("final_factor", 0.0, "factor reached at the last step (TF polynomial_decay's end_learning_rate / lr)")
      .min(0)
      .max(1)
      .opt("power", 1.0, "exponent of the decay: 1 linear, >1 polynomial")
      .min(0);
  registrar.add<stagehand::Scheduler>(
      "linear",
      "ELECTRA's schedule: (polynomial) decay to final_factor over the whole run times a linear warmup ramp, "
      "(1 - t/T)^power * min(1, t/W)",
      s, [](const stagehand::Options& o) { return std::make_shared<stagehand::LinearScheduler>(o); });
}
