// SPDX-License-Identifier: Apache-2.0
#pragma once
/// One optimizer step's gradients from several micro-batches (gradient accumulation), with bf16 autocast and the
/// data-parallel sums. Each micro-batch's loss is divided by the number of micro-batches before its backward pass,
/// so that k micro-batches of B examples give the gradients of one batch of k x B (for a loss that is a mean over
/// equal micro-batches). With several ranks each rank's loss is also weighted by its share of the micro-batch, and
/// the gradients are summed over the ranks.
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <torch/types.h>

#include <stagehand/batch.h>
#include <stagehand/distributed.h>
#include <stagehand/model.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk::train {

/// The forward pass and the loss of one micro-batch: a scalar, plus named parts to log (e.g. {"mlm", "rtd"}).
using LossFn = std::function<torch::Tensor(const Batch& batch, std::map<std::string, torch::Tensor>& parts)>;

/// model.forward(batch), then loss.compute(outputs, batch, parts).
STAGEHAND_SDK_API LossFn model_loss(Model& model, Loss& loss);

struct MicroBatch {
  Batch batch;
  double weight = 1.0;  ///< this rank's share of the micro-batch (MicroBatches::weight); 1 in a single process
};

/// What a step measured: the mean loss over its micro-batches, the parts likewise, the real tokens it saw, and
/// whether a stop was asked for (after sum_over_ranks: on any rank).
struct StepStats {
  double loss = 0;
  std::map<std::string, double> parts;
  int64_t tokens = 0;
  bool stop = false;
};

struct Accumulation {
  int64_t micro_batches = 1;   ///< per optimizer step (`grad_accum`)
  bool bf16 = false;           ///< forward passes and losses under bf16 autocast (fp32 master weights)
  bool data_parallel = false;  ///< weight losses by the ranks' shares and arm the reducer
};

/// Runs `a.micro_batches` micro-batches from `next(0)`, `next(1)`, ... through `loss` and backward, adding to the
/// parameters' gradients (zero them first). With data_parallel, arms `reducer` before the last backward pass.
STAGEHAND_SDK_API StepStats accumulate_gradients(const Accumulation& a, const std::function<MicroBatch(int64_t)>& next,
                                                 const LossFn& loss, dist::GradientReducer* reducer);

/// Data-parallel: sums the gradients (reducer.reduce()) and the step's loss, parts, tokens and stop flag over the
/// ranks, so that every rank takes the same decisions. Call on every rank.
STAGEHAND_SDK_API void sum_over_ranks(StepStats& stats, dist::GradientReducer& reducer);

}  // namespace stagehand::sdk::train
