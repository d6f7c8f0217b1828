// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/train/model_selection.h"

#include <cmath>

#include <stagehand/engine.h>

namespace stagehand::sdk::train {

namespace fs = std::filesystem;

ModelSelector::ModelSelector(std::string metric, bool higher_is_better, int64_t patience, fs::path best_file)
    : metric_(std::move(metric)), higher_(higher_is_better), patience_(patience), best_file_(std::move(best_file)) {
  state_.best = higher_ ? -INFINITY : INFINITY;
}

ModelSelector ModelSelector::for_evaluators(const std::vector<std::shared_ptr<Evaluator>>& evaluators,
                                            int64_t patience, fs::path best_file) {
  if (evaluators.empty()) return ModelSelector("loss", false, patience, std::move(best_file));
  return ModelSelector(evaluators.front()->primary_metric(), evaluators.front()->higher_is_better(), patience,
                       std::move(best_file));
}

double ModelSelector::score(const std::map<std::string, double>& m) const {
  return m.count(metric_) ? m.at(metric_) : NAN;
}

bool ModelSelector::observe(int64_t step, const std::map<std::string, double>& metrics, Model& model, bool write) {
  const double s = score(metrics);
  const bool improved = std::isfinite(s) && (higher_ ? s > state_.best : s < state_.best);
  if (!improved) {
    ++state_.bad_evals;
    return false;
  }
  state_.best = s;
  state_.best_step = step;
  state_.bad_evals = 0;
  if (write) save_weights(best_file_, model);
  return true;
}

bool ModelSelector::patience_exhausted() const { return patience_ > 0 && state_.bad_evals >= patience_; }

bool ModelSelector::load_best(Model& model) const {
  if (state_.best_step < 0 || !fs::exists(best_file_)) return false;
  load_weights(best_file_, model);
  return true;
}

void ModelSelector::remove_file() const {
  std::error_code ec;
  fs::remove(best_file_, ec);
  fs::remove(best_file_.string() + ".sha256", ec);
}

}  // namespace stagehand::sdk::train
