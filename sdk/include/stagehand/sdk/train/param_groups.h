// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What trains and how fast: the model's parameters as the optimizer gets them. Frozen name prefixes do not train,
/// biases and norms skip weight decay (when the optimizer asks for that rule), and layer-wise learning-rate decay
/// scales each parameter's learning rate by its depth (ELECTRA): lr x decay^(L + 2 - depth) with the embeddings at
/// depth 0, encoder block i at i + 1, the rest of the encoder (pooler) at L + 1 and everything outside the encoder
/// (task heads) at L + 2, for an encoder of L blocks.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include <stagehand/model.h>
#include <stagehand/optim.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk::train {

struct ParamGroupOptions {
  std::vector<std::string> freeze;  ///< parameter-name prefixes (whole name components) that do not train
  double layerwise_lr_decay = 1.0;  ///< 1: every parameter at the base learning rate
  bool exclude_bias_and_norm = true;  ///< Optimizer::exclude_bias_and_norm_from_decay()
};

struct ParamGroups {
  std::vector<NamedParameter> params;   ///< for Optimizer::setup
  std::vector<torch::Tensor> trainable;  ///< the same tensors (clipping, the gradient reducer)
  int64_t frozen = 0;                    ///< tensors frozen by `freeze`
  int64_t values = 0;                    ///< trainable values
};

/// Whether weight decay skips a parameter of this name: biases, LayerNorm / layer_norm / norm weights.
STAGEHAND_SDK_API bool no_decay_name(const std::string& name);

/// The depth of a model parameter for layer-wise decay (see the file comment); `layers` is the encoder's L.
STAGEHAND_SDK_API int64_t param_depth(const std::string& name, int64_t layers);

/// decay^(layers + 2 - depth), exactly 1 when decay is 1.
STAGEHAND_SDK_API double layerwise_lr_scale(const std::string& name, int64_t layers, double decay);

/// The model's trainable parameters, each once (a tensor shared by two submodules, such as ELECTRA's tied
/// embeddings, under its first name). Frozen parameters get requires_grad false. Throws when nothing trains.
STAGEHAND_SDK_API ParamGroups build_param_groups(Model& model, const ParamGroupOptions& options);

}  // namespace stagehand::sdk::train
