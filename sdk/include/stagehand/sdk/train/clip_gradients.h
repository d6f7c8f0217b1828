// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Gradient clipping of the Trainer (header-only: tests/plugins/test_optimizers.cpp checks this very code against
/// BertAdam).
///   global      torch.nn.utils.clip_grad_norm_ over all gradients together (ELECTRA's clip_by_global_norm, the
///               Hugging Face scripts);
///   per_tensor  every tensor's gradient clipped to max_norm on its own: BertAdam's max_grad_norm, which calls
///               clip_grad_norm_(p, max_grad_norm) for each parameter inside step() (DSE, SPECTER's bert_adam).
#include <vector>

#include <torch/types.h>
#include <torch/utils.h>
// clip_grad.h needs torch::Tensor declared first.
#include <torch/nn/utils/clip_grad.h>

namespace stagehand::sdk::train {

inline void clip_gradients(const std::vector<torch::Tensor>& params, double max_norm, bool per_tensor) {
  if (max_norm <= 0) return;
  if (!per_tensor) {
    torch::nn::utils::clip_grad_norm_(params, max_norm);
    return;
  }
  torch::NoGradGuard no_grad;
  for (const auto& p : params) {
    torch::Tensor g = p.grad();
    if (!g.defined()) continue;
    // clip_grad_norm_'s coefficient, min(1, max_norm / (norm + 1e-6)), kept on the device: LibTorch's
    // clip_grad_norm_ would copy each tensor's norm to the host, one synchronisation per tensor.
    g.mul_(torch::clamp(max_norm / (g.norm() + 1e-6), c10::nullopt, 1.0));
  }
}

}  // namespace stagehand::sdk::train
