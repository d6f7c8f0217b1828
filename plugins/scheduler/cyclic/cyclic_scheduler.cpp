// SPDX-License-Identifier: Apache-2.0
// Scheduler `cyclic`: torch.optim.lr_scheduler.CyclicLR (Smith 2017) as a factor of the maximum learning rate
// (the optimizer's `lr`): it climbs from base_factor to 1 over step_size_up steps and back over step_size_down.
//   triangular   constant amplitude
//   triangular2  amplitude halved every cycle
//   exp_range    amplitude scaled by gamma^step
// The SPECTER classifier trains with it. The schedule ignores the run's total.
#include <cmath>

#include <stagehand/optim.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/warmup.h>

namespace stagehand {
namespace {

class CyclicScheduler : public Scheduler {
 public:
  explicit CyclicScheduler(const Options& o)
      : base_(o.get<double>("base_factor")),
        up_(o.get<int64_t>("step_size_up")),
        down_(o.has("step_size_down") ? o.get<int64_t>("step_size_down") : up_),
        mode_(o.get<std::string>("mode")),
        gamma_(o.get<double>("gamma")) {}

  double factor(int64_t step, int64_t total) const override {
    sdk::check_step(step, total, "scheduler/cyclic");
    const double cycle_len = static_cast<double>(up_ + down_);
    const double up_ratio = static_cast<double>(up_) / cycle_len;
    const double t = static_cast<double>(step);
    const double cycle = std::floor(1.0 + t / cycle_len);
    const double x = 1.0 + t / cycle_len - cycle;
    const double height = x <= up_ratio ? x / up_ratio : (x - 1.0) / (up_ratio - 1.0);
    double scale = 1.0;
    if (mode_ == "triangular2") scale = 1.0 / std::pow(2.0, cycle - 1.0);
    if (mode_ == "exp_range") scale = std::pow(gamma_, t);
    return base_ + (1.0 - base_) * height * scale;
  }

 private:
  double base_;
  int64_t up_, down_;
  std::string mode_;
  double gamma_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Scheduler>(
      "cyclic", "torch's CyclicLR: cycles between base_factor and 1 (triangular, triangular2, exp_range)",
      stagehand::Schema()
          .opt("base_factor", 0.1, "lowest factor of the cycle (CyclicLR's base_lr / max_lr)")
          .min(0)
          .max(1)
          .opt("step_size_up", int64_t{2000}, "steps from the base to the peak")
          .min(1)
          .optional("step_size_down", stagehand::OptionType::Int,
                    "steps from the peak back to the base; null: step_size_up")
          .min(1)
          .choice("mode", "triangular", {"triangular", "triangular2", "exp_range"},
                  "amplitude policy: constant, halved each cycle, or gamma^step")
          .opt("gamma", 1.0, "decay base of mode exp_range (per step)")
          .min(0)
          .max(1),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::CyclicScheduler>(o); });
}
