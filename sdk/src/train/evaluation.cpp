// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/train/evaluation.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include <stagehand/distributed.h>
#include <stagehand/engine.h>
#include <stagehand/error.h>

namespace stagehand::sdk::train {

std::string format_metrics(const std::map<std::string, double>& m) {
  std::string s;
  for (const auto& [k, v] : m) {
    if (k.find('.') != std::string::npos) continue;  // per-class details go to the record only
    s += fmt::format("{}{}={:.4f}", s.empty() ? "" : " ", k, v);
  }
  return s;
}

Evaluation::Evaluation(StageContext& ctx, std::shared_ptr<const Dataset> data,
                       std::vector<std::shared_ptr<Evaluator>> evaluators, int64_t batch_size, Loss* loss,
                       std::function<void(Batch&)> prepare)
    : ctx_(ctx),
      data_(std::move(data)),
      evaluators_(std::move(evaluators)),
      batch_size_(batch_size),
      loss_(loss),
      prepare_(std::move(prepare)) {}

bool Evaluation::has(const std::string& split) const {
  return !split.empty() && data_->has_split(split) && data_->size(split) > 0;
}

std::map<std::string, double> Evaluation::run(Model& model, const std::string& split) const {
  // With several ranks, each runs the model over its share of the batches and all see every output.
  if (dist::active())
    return evaluate_split_data_parallel(model, *data_, split, evaluators_, batch_size_, loss_, prepare_);
  return evaluate_split(model, *data_, split, evaluators_, batch_size_, loss_, &ctx_, prepare_);
}

void Evaluation::log_values(int64_t step, const std::map<std::string, double>& m) const {
  std::vector<std::pair<std::string, double>> values;
  for (const auto& [k, v] : m) values.emplace_back("eval." + k, v);
  ctx_.log_values(step, values);
}

void Evaluation::log_line(int64_t step, const std::map<std::string, double>& m, bool improved) const {
  ctx_.info(fmt::format("step {}: {}{}", step, format_metrics(m), improved ? " (best so far)" : ""));
}

void Evaluation::check_ranks_agree(const std::string& metric, double score, int64_t step) {
  if (!dist::active()) return;
  // Every rank fed every batch's outputs to its evaluators, so they agree; make sure they do.
  const dist::World& world = dist::world();
  const int ranks = world.world_size;
  std::vector<double> agree{std::isfinite(score) ? score : 0.0};
  dist::all_reduce_sum(agree);
  const double mine = std::isfinite(score) ? score : 0.0;
  SH_CHECK(std::abs(agree[0] - ranks * mine) <= 1e-9 * std::max(1.0, std::abs(agree[0])),
           "data-parallel: rank {} measured {} {} at step {} but the ranks' mean is {}; their weights have drifted "
           "apart",
           world.rank, metric, mine, step, agree[0] / ranks);
}

}  // namespace stagehand::sdk::train
