// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/train/micro_batches.h"

#include <algorithm>
#include <cmath>

#include <stagehand/engine.h>

namespace stagehand::sdk::train {

std::pair<int64_t, int64_t> rank_share(int64_t n, int rank, int ranks) {
  const int64_t base = n / ranks, extra = n % ranks;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

MicroBatches::MicroBatches(int64_t examples, int64_t batch_size, int64_t accum, uint64_t seed, int rank, int ranks)
    : examples_(examples),
      batch_size_(batch_size),
      accum_(accum),
      per_epoch_((examples + batch_size - 1) / batch_size),
      seed_(seed),
      rank_(rank),
      ranks_(ranks) {}

int64_t MicroBatches::steps_per_epoch() const { return std::max<int64_t>(1, per_epoch_ / accum_); }

int64_t MicroBatches::total_steps(std::optional<int64_t> steps, double epochs) const {
  if (steps) return *steps;
  return static_cast<int64_t>(std::ceil(epochs * static_cast<double>(steps_per_epoch())));
}

std::vector<int64_t> MicroBatches::indices(int64_t k) const {
  const int64_t epoch = k / per_epoch_;
  const int64_t within = k % per_epoch_;
  auto order = epoch_order(examples_, seed_, epoch);  // cheap next to a training step
  std::vector<int64_t> idx(order.begin() + within * batch_size_,
                           order.begin() + std::min(examples_, (within + 1) * batch_size_));
  if (ranks_ == 1) return idx;
  const auto [first, count] = rank_share(static_cast<int64_t>(idx.size()), rank_, ranks_);
  return count > 0 ? std::vector<int64_t>(idx.begin() + first, idx.begin() + first + count)
                   : std::vector<int64_t>{idx.front()};
}

double MicroBatches::weight(int64_t k) const {
  if (ranks_ == 1) return 1.0;
  const int64_t within = k % per_epoch_;
  const int64_t n = std::min(examples_, (within + 1) * batch_size_) - within * batch_size_;
  return static_cast<double>(rank_share(n, rank_, ranks_).second) / static_cast<double>(n);
}

Batch MicroBatches::batch(const Dataset& data, const std::string& split, int64_t k) const {
  return data.batch(split, indices(k));
}

}  // namespace stagehand::sdk::train
