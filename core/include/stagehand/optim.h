// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Optimizers and learning-rate schedules.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include "stagehand/export.h"

namespace stagehand {

/// One trainable tensor as the train stage hands it to an optimizer: its full name (for exclusion rules such as
/// "no weight decay on bias and LayerNorm"), a learning-rate multiplier (layer-wise decay) and whether weight
/// decay applies.
struct STAGEHAND_API NamedParameter {
  std::string name;
  torch::Tensor tensor;
  double lr_scale = 1.0;
  bool decay = true;
};

class STAGEHAND_API Optimizer {
 public:
  static constexpr const char* kKind = "optimizer";
  virtual ~Optimizer();
  /// Called once, before the first step, with every trainable parameter.
  virtual void setup(const std::vector<NamedParameter>& params) = 0;
  /// The base learning rate (the `lr` option).
  virtual double base_lr() const = 0;
  /// One update with learning rate `lr` (base_lr x schedule factor); each parameter uses lr x its lr_scale.
  virtual void step(double lr) = 0;
  virtual void zero_grad() = 0;
  /// Whether weight decay should skip parameters named like biases and LayerNorm weights (the usual BERT rule);
  /// the train stage applies it when building NamedParameter::decay.
  virtual bool exclude_bias_and_norm_from_decay() const { return true; }
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;
};

/// A learning-rate schedule: a pure function of the step, so that resuming needs no state.
class STAGEHAND_API Scheduler {
 public:
  static constexpr const char* kKind = "scheduler";
  virtual ~Scheduler();
  /// Multiplier of the base learning rate at `step` (0-based, before the update) of `total` steps.
  virtual double factor(int64_t step, int64_t total) const = 0;
};

}  // namespace stagehand
