// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Progress and metrics of a training loop: the progress bar (loss, lr, tokens/s), every `log_every` steps and at
/// the last one the step's loss, learning rate, loss parts and tokens/s in metrics.jsonl, and at the end the
/// timings train_seconds and tokens_per_second.
#include <chrono>
#include <cstdint>
#include <memory>

#include <stagehand/stage.h>

#include "stagehand/sdk/export.h"
#include "stagehand/sdk/train/accumulation.h"

namespace stagehand::sdk::train {

class STAGEHAND_SDK_API TrainLog {
 public:
  /// Starts the clock and the bar "train" of `total` steps.
  TrainLog(StageContext& ctx, int64_t total, int64_t log_every);
  /// Counts a step's tokens (before anything can fail, so that a stopped run's throughput counts them).
  void add_tokens(int64_t tokens) { tokens_ += tokens; }
  /// After optimizer step `step` (1-based) with learning rate `lr`.
  void step(int64_t step, const StepStats& stats, double lr);
  /// Ends the bar and stops the clock (idempotent).
  void finish();
  double seconds() const;  ///< training time so far, or until finish()
  int64_t tokens() const { return tokens_; }
  /// train_seconds and tokens_per_second as the stage's timings.
  void record_timings() const;

 private:
  StageContext& ctx_;
  int64_t total_, log_every_;
  std::unique_ptr<Progress> bar_;
  std::chrono::steady_clock::time_point start_;
  double seconds_ = -1;
  int64_t tokens_ = 0;
};

}  // namespace stagehand::sdk::train
