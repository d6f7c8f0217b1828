// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What a loss reads: tensors by name from the model outputs or the batch, class targets flattened to (N, C) and
/// (N), and the accuracy a classification loss reports. Used by the loss plugins (cross_entropy, distillation, dse,
/// electra, mlm, triplet).
#include <cstdint>
#include <string>
#include <utility>

#include <torch/types.h>

#include <stagehand/batch.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

/// "(2, 3)" for error messages.
STAGEHAND_SDK_API std::string shape(const torch::Tensor& t);

/// The tensor `name` of the model outputs, else of the batch. Model outputs win over batch tensors of the same
/// name, so that a model that gathers masked positions can hand back labels matching its logits. Missing: an
/// error naming `owner`, the option that named the tensor and every tensor there is.
STAGEHAND_SDK_API const torch::Tensor& find_tensor(const Batch& outputs, const Batch& batch, const std::string& name,
                                                   const std::string& owner, const std::string& option);

/// (..., C) logits and (...) integer labels flattened to (N, C) and (N), so that sequence-level and token-level
/// targets take the same path.
STAGEHAND_SDK_API std::pair<torch::Tensor, torch::Tensor> flatten_class_targets(const torch::Tensor& logits,
                                                                                const torch::Tensor& labels,
                                                                                const std::string& owner);

/// Fraction of the labels other than `ignore_index` that the argmax of `logits` (N, C) gets right; 0 when every
/// label is ignored. Detached: it is only reported.
STAGEHAND_SDK_API torch::Tensor accuracy(const torch::Tensor& logits, const torch::Tensor& labels,
                                         int64_t ignore_index);

}  // namespace stagehand::sdk
