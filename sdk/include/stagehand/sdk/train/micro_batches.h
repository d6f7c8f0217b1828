// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The training split cut into micro-batches. Micro-batch k of a run (k = step x accumulation + a) holds the
/// examples [(k mod E) x B, (k mod E + 1) x B) of epoch k div E's order, a permutation that depends only on
/// (seed, epoch) (epoch_order); E micro-batches make an epoch, the last one short. So the data a step sees is a pure
/// function of the step, and a checkpoint needs no data cursor. With several data-parallel ranks each rank takes a
/// contiguous share of every micro-batch and weights its loss by that share.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <stagehand/batch.h>
#include <stagehand/dataset.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk::train {

/// Rank `rank`'s contiguous share of `n` examples among `ranks`: (first, count); the first n % ranks ranks get one
/// more.
STAGEHAND_SDK_API std::pair<int64_t, int64_t> rank_share(int64_t n, int rank, int ranks);

class STAGEHAND_SDK_API MicroBatches {
 public:
  /// `examples` in the split, `batch_size` per micro-batch (the whole batch, over every rank), `accum` per step.
  MicroBatches(int64_t examples, int64_t batch_size, int64_t accum, uint64_t seed, int rank = 0, int ranks = 1);

  int64_t per_epoch() const { return per_epoch_; }  ///< micro-batches in an epoch
  int64_t steps_per_epoch() const;                    ///< optimizer steps in an epoch, at least 1
  /// `steps` when given, else ceil(epochs x steps_per_epoch()).
  int64_t total_steps(std::optional<int64_t> steps, double epochs) const;
  /// This rank's examples of micro-batch k (dataset indices). A rank left without examples (a short last batch)
  /// gets the micro-batch's first one, with weight 0, so that every rank runs the same graph.
  std::vector<int64_t> indices(int64_t k) const;
  /// This rank's share of micro-batch k: the fraction of its examples this rank holds (1 in a single process).
  double weight(int64_t k) const;
  /// data.batch(split, indices(k)).
  Batch batch(const Dataset& data, const std::string& split, int64_t k) const;

 private:
  int64_t examples_, batch_size_, accum_, per_epoch_;
  uint64_t seed_;
  int rank_, ranks_;
};

}  // namespace stagehand::sdk::train
