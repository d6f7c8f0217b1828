// SPDX-License-Identifier: Apache-2.0
// Scheduler `slanted_triangular`: AllenNLP's SlantedTriangular (allennlp 0.9, learning_rate_schedulers/
// slanted_triangular.py), the schedule of SPECTER's original training, after ULMFiT's slanted triangular learning
// rate (Howard & Ruder 2018): with t = min(step + 1, T) and cut = int(T x cut_frac),
//   p = t / cut                      for t < cut
//       1 - (t - cut) / (T - cut)    after,                factor = (1 + p (ratio - 1)) / ratio,
// so the factor peaks at 1 at the cut and ends at 1 / ratio on the last step. AllenNLP's trainer counts updates
// from 1 (batch_num_total is incremented before step_batch), hence step + 1 for the project's 0-based step. Gradual
// unfreezing and discriminative fine-tuning (AllenNLP options SPECTER leaves off) are not part of it.
#include <algorithm>
#include <cmath>

#include <stagehand/optim.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/warmup.h>

namespace stagehand {
namespace {

class SlantedTriangularScheduler : public Scheduler {
 public:
  explicit SlantedTriangularScheduler(const Options& o)
      : cut_frac_(o.get<double>("cut_frac")), ratio_(o.get<double>("ratio")) {}

  double factor(int64_t step, int64_t total) const override {
    sdk::check_step(step, total, "scheduler/slanted_triangular");
    const double steps = static_cast<double>(total);
    const double t = static_cast<double>(std::min(step + 1, total));
    const double cut = std::floor(steps * cut_frac_);
    const double p = t < cut ? t / cut : 1.0 - (t - cut) / (steps - cut);
    return (1.0 + p * (ratio_ - 1.0)) / ratio_;
  }

 private:
  double cut_frac_, ratio_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Scheduler>(
      "slanted_triangular",
      "AllenNLP's slanted triangular schedule (SPECTER): linear rise over int(T x cut_frac) steps, long linear fall to "
      "1 / ratio",
      stagehand::Schema()
          .opt("cut_frac", 0.1, "fraction of the steps spent rising")
          .min(0)
          .max(1.0 - 1e-6)
          .opt("ratio", 32.0, "how much smaller the lowest factor is than the peak (lowest = 1 / ratio)")
          .min(1),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::SlantedTriangularScheduler>(o); });
}
