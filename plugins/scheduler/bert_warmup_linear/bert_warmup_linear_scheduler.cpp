// SPDX-License-Identifier: Apache-2.0
// Scheduler `bert_warmup_linear`: BertAdam's default schedule 'warmup_linear' (pytorch_pretrained_bert 0.6.2
// WarmupLinearSchedule, as bundled by DSE and used by SPECTER's AllenNLP `bert_adam`), on the progress
// x = t / t_total of the 0-based step t (BertAdam's state['step'] before its increment):
//   factor = x / warmup                                 for x < warmup
//            max((x - 1) / (warmup - 1), 0)             after,
// so the ramp ends at warmup x t_total steps, not rounded, and warmup 0 gives 1 - x. t_total = T x t_total_scale:
// DSE's trainer passes the number of micro-batches (len(train_dl) x epochs) as t_total while BertAdam steps once per
// gradient_accumulation_steps of them, so its schedule stops half way down with 2; t_total_scale = grad_accum
// reproduces that.
#include <algorithm>

#include <stagehand/optim.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/warmup.h>

namespace stagehand {
namespace {

class BertWarmupLinearScheduler : public Scheduler {
 public:
  explicit BertWarmupLinearScheduler(const Options& o)
      : warmup_(o.get<double>("warmup_fraction")), scale_(o.get<double>("t_total_scale")) {
    SH_CHECK(warmup_ < 1.0, "scheduler/bert_warmup_linear: warmup_fraction {}; expected a value in [0, 1) as "
                            "BertAdam's warmup", warmup_);
  }
  double factor(int64_t step, int64_t total) const override {
    sdk::check_step(step, total, "scheduler/bert_warmup_linear");
    const double progress = static_cast<double>(step) / (static_cast<double>(total) * scale_);
    if (progress < warmup_) return progress / warmup_;
    return std::max((progress - 1.0) / (warmup_ - 1.0), 0.0);
  }

 private:
  double warmup_, scale_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Scheduler>(
      "bert_warmup_linear",
      "BertAdam's warmup_linear: x/warmup, then (1 - x)/(1 - warmup), x = step / (total x t_total_scale)",
      stagehand::Schema()
          .opt("warmup_fraction", 0.1, "BertAdam's warmup: the fraction of t_total spent warming up, in [0, 1)")
          .min(0)
          .max(1)
          .opt("t_total_scale", 1.0, "t_total = total steps x this; DSE's student trainer: its grad_accum")
          .min(1e-9),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::BertWarmupLinearScheduler>(o); });
}
