// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/train/progress.h"

#include <string>
#include <utility>
#include <vector>

namespace stagehand::sdk::train {

TrainLog::TrainLog(StageContext& ctx, int64_t total, int64_t log_every)
    : ctx_(ctx), total_(total), log_every_(log_every), bar_(ctx.progress("train", total)),
      start_(std::chrono::steady_clock::now()) {}

double TrainLog::seconds() const {
  if (seconds_ >= 0) return seconds_;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void TrainLog::step(int64_t step, const StepStats& s, double lr) {
  const double secs = seconds();
  const double tok_s = secs > 0 ? static_cast<double>(tokens_) / secs : 0;
  if (step % log_every_ == 0 || step == total_) {
    std::vector<std::pair<std::string, double>> values = {{"loss", s.loss}, {"lr", lr}};
    for (const auto& [k, v] : s.parts) values.emplace_back(k, v);
    if (secs > 0) values.emplace_back("tokens_per_s", tok_s);
    ctx_.log_values(step, values);
  }
  bar_->update(step, {{"loss", s.loss}, {"lr", lr}, {"tok/s", tok_s}});
}

void TrainLog::finish() {
  if (seconds_ >= 0) return;
  bar_->finish();
  seconds_ = seconds();
}

void TrainLog::record_timings() const {
  const double secs = seconds();
  ctx_.timing("train_seconds", secs);
  if (secs > 0) ctx_.timing("tokens_per_second", static_cast<double>(tokens_) / secs);
}

}  // namespace stagehand::sdk::train
