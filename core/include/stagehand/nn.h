// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Small building blocks for plugins. Dense and LayerNorm exist because torch::nn::Linear and torch::nn::LayerNorm
/// initialise themselves from the global RNG when constructed: a component that draws its initial weights from a
/// private generator (so that building it neither depends on nor disturbs the global RNG) uses these instead and
/// initialises `weight` itself. Parameter names are LibTorch's / Hugging Face's ("weight", "bias").
#include <cstdint>

#include <ATen/autocast_mode.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "stagehand/export.h"

namespace stagehand::nn {

/// bf16 autocast on CPU for the forward pass and the loss while it lives (when `on`); weights, gradients and the
/// optimizer stay fp32. Restores the previous state and clears autocast's cast cache when it ends.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool on) : on_(on) {
    if (on_) {
      prev_ = at::autocast::is_cpu_enabled();
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
  }
  ~Bf16Autocast() {
    if (on_) {
      at::autocast::set_cpu_enabled(prev_);
      at::autocast::clear_cache();
    }
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool on_;
  bool prev_ = false;
};

/// Inverted dropout: while `training` and p > 0, x * mask where mask is 1/(1-p) with probability 1-p and 0
/// otherwise (in x's dtype), as at::dropout; else x itself. The mask comes from a counter-based generator
/// (splitmix64 of a key and the element's index) filled on all intra-op threads, where LibTorch 1.13's CPU
/// bernoulli_ draws one element at a time on one thread (without MKL it was the largest single cost of a bf16
/// training step: docs/performance.md). The key is one draw from LibTorch's default CPU generator, so masks follow
/// torch::manual_seed and a checkpoint's RNG state exactly, and do not depend on the thread count.
STAGEHAND_API torch::Tensor dropout(const torch::Tensor& x, double p, bool training);

/// Uniform float32 samples in [0, 1) (24 random bits each), a CPU tensor of `sizes`, filled on all intra-op threads
/// from the same counter-based generator as dropout, keyed by one draw from `generator` (LibTorch's default CPU
/// generator when none is given). For large draws such as ELECTRA's Gumbel noise over the vocabulary.
STAGEHAND_API torch::Tensor uniform(at::IntArrayRef sizes, c10::optional<at::Generator> generator = c10::nullopt);

/// y = x W^T + b. `weight` (out, in) is left uninitialised for the owner to fill; `bias` (out) starts at zero.
class DenseImpl : public torch::nn::Module {
 public:
  DenseImpl(int64_t in, int64_t out) {
    weight = register_parameter("weight", torch::empty({out, in}));
    bias = register_parameter("bias", torch::zeros({out}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return at::linear(x, weight, bias); }
  torch::Tensor weight, bias;
};
TORCH_MODULE(Dense);

/// LayerNorm over the last dimension; `weight` starts at one, `bias` at zero.
class LayerNormImpl : public torch::nn::Module {
 public:
  explicit LayerNormImpl(int64_t width, double eps = 1e-12) : width_(width), eps_(eps) {
    weight = register_parameter("weight", torch::ones({width}));
    bias = register_parameter("bias", torch::zeros({width}));
  }
  // Runs in the weights' dtype: under bf16 autocast the input arrives as bf16, and CPU autocast in LibTorch 1.13
  // does not cover layer_norm, whose kernel wants matching dtypes.
  torch::Tensor forward(const torch::Tensor& x) {
    return at::layer_norm(x.to(weight.scalar_type()), {width_}, weight, bias, eps_);
  }
  torch::Tensor weight, bias;

 private:
  int64_t width_;
  double eps_;
};
TORCH_MODULE(LayerNorm);

}  // namespace stagehand::nn
