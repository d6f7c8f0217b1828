// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/mlm_head.h"

#include <stagehand/error.h>

namespace stagehand::sdk {

MlmTransformImpl::MlmTransformImpl(int64_t hidden, int64_t embedding, const std::string& activation,
                                   double layer_norm_eps)
    : activation_(activation) {
  SH_CHECK(activation == "gelu" || activation == "gelu_tanh" || activation == "relu",
           "MLM head: activation '{}' is not one of gelu | gelu_tanh | relu", activation);
  dense = register_module("dense", nn::Dense(hidden, embedding));
  norm = register_module("LayerNorm", nn::LayerNorm(embedding, layer_norm_eps));
}

torch::Tensor MlmTransformImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = dense(x);
  if (activation_ == "gelu_tanh")
    h = at::gelu(h, "tanh");
  else if (activation_ == "relu")
    h = at::relu(h);
  else
    h = at::gelu(h);
  return norm(h);
}

torch::Tensor MlmTransformImpl::scores(const torch::Tensor& states, const torch::Tensor& word_embeddings,
                                       const torch::Tensor& bias) {
  return at::linear(forward(states), word_embeddings, bias);
}

}  // namespace stagehand::sdk
