// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Evaluating a model during and after training: the evaluators' metrics (plus the loss) on a split, shared over
/// the ranks of a data-parallel run (every rank gets every metric, exactly those of one process), logged to
/// metrics.jsonl as eval.<metric> and as one line "step N: metric=value ...".
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <stagehand/batch.h>
#include <stagehand/dataset.h>
#include <stagehand/model.h>
#include <stagehand/stage.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk::train {

/// "accuracy=0.9000 macro_f1=0.8800": the metrics without a dot in their name (per-class details go to the
/// record only), four decimals.
STAGEHAND_SDK_API std::string format_metrics(const std::map<std::string, double>& metrics);

class STAGEHAND_SDK_API Evaluation {
 public:
  /// `prepare`, when set, adds to each batch what the loss needs beyond the data (Teacher::prepare).
  Evaluation(StageContext& ctx, std::shared_ptr<const Dataset> data, std::vector<std::shared_ptr<Evaluator>> evaluators,
             int64_t batch_size, Loss* loss, std::function<void(Batch&)> prepare);

  /// Whether the dataset has `split` with examples.
  bool has(const std::string& split) const;
  /// The metrics of `model` on `split` (evaluate_split; evaluate_split_data_parallel with several ranks).
  std::map<std::string, double> run(Model& model, const std::string& split) const;
  /// eval.<metric> at `step` to metrics.jsonl.
  void log_values(int64_t step, const std::map<std::string, double>& metrics) const;
  /// "step N: <format_metrics>" and " (best so far)" when `improved`.
  void log_line(int64_t step, const std::map<std::string, double>& metrics, bool improved) const;
  /// Data-parallel: fails unless every rank measured the same `score` of `metric` (their weights agree).
  static void check_ranks_agree(const std::string& metric, double score, int64_t step);

 private:
  StageContext& ctx_;
  std::shared_ptr<const Dataset> data_;
  std::vector<std::shared_ptr<Evaluator>> evaluators_;
  int64_t batch_size_;
  Loss* loss_;
  std::function<void(Batch&)> prepare_;
};

}  // namespace stagehand::sdk::train
