// SPDX-License-Identifier: Apache-2.0
// Scheduler `constant`: the base learning rate throughout, after an optional linear warmup from 0.
#include <stagehand/optim.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/warmup.h>

namespace stagehand {
namespace {

class ConstantScheduler : public Scheduler {
 public:
  explicit ConstantScheduler(const Options& o) : warmup_(o) {}
  double factor(int64_t step, int64_t total) const override {
    sdk::check_step(step, total, "scheduler/constant");
    return warmup_.factor(step, total);
  }

 private:
  sdk::Warmup warmup_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  stagehand::Schema s;
  stagehand::sdk::warmup_options(s, 0.0);
  registrar.add<stagehand::Scheduler>(
      "constant", "constant learning rate, with an optional linear warmup: min(1, t / warmup)", s,
      [](const stagehand::Options& o) { return std::make_shared<stagehand::ConstantScheduler>(o); });
}
