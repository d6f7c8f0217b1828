// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Model selection and early stopping: each evaluation's primary metric (the first evaluator's, else the loss) is
/// compared with the best so far; a strict improvement keeps the model's weights in a file, and `patience`
/// evaluations in a row without one stop training. The state is part of every checkpoint, so that a resumed run
/// selects the model an uninterrupted one selects.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <stagehand/model.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk::train {

struct Selection {
  double best = 0;          ///< the best score so far (+-infinity before the first evaluation)
  int64_t best_step = -1;   ///< its step, -1 before the first improvement
  int64_t bad_evals = 0;    ///< evaluations since the last improvement
};

class STAGEHAND_SDK_API ModelSelector {
 public:
  /// `metric` and its direction; `patience` 0 never stops; `best_file` holds the best weights.
  ModelSelector(std::string metric, bool higher_is_better, int64_t patience, std::filesystem::path best_file);
  /// The first evaluator's primary metric and direction, or "loss" (lower is better) without evaluators.
  static ModelSelector for_evaluators(const std::vector<std::shared_ptr<Evaluator>>& evaluators, int64_t patience,
                                      std::filesystem::path best_file);

  const std::string& metric() const { return metric_; }
  Selection& state() { return state_; }
  const Selection& state() const { return state_; }
  const std::filesystem::path& best_file() const { return best_file_; }

  /// Judges the evaluation at `step`: true when its metric is finite and strictly better than the best so far, and
  /// then the model's weights go to best_file (when `write`: one rank writes). Otherwise counts a bad evaluation.
  bool observe(int64_t step, const std::map<std::string, double>& metrics, Model& model, bool write);
  /// The metric's value in `metrics`, NaN when absent.
  double score(const std::map<std::string, double>& metrics) const;
  /// `patience` evaluations in a row without improvement (never with patience 0).
  bool patience_exhausted() const;
  /// Loads the best weights into `model`; false when there was no improvement or the file is gone.
  bool load_best(Model& model) const;
  /// Deletes best_file and its checksum.
  void remove_file() const;

 private:
  std::string metric_;
  bool higher_;
  int64_t patience_;
  std::filesystem::path best_file_;
  Selection state_;
};

}  // namespace stagehand::sdk::train
