// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/mlm_head.h"

namespace stagehand::sdk {

namespace {
constexpr double kLayerNormEps = 1e-12;
}  // namespace

MlmTransformImpl::MlmTransformImpl(int64_t hidden, int64_t embedding) {
  dense = register_module("dense", nn::Dense(hidden, embedding));
  norm = register_module("LayerNorm", nn::LayerNorm(embedding, kLayerNormEps));
}

torch::Tensor MlmTransformImpl::forward(const torch::Tensor& x) { return norm(at::gelu(dense(x))); }

torch::Tensor MlmTransformImpl::scores(const torch::Tensor& states, const torch::Tensor& word_embeddings,
                                       const torch::Tensor& bias) {
  return at::linear(forward(states), word_embeddings, bias);
}

}  // namespace stagehand::sdk
