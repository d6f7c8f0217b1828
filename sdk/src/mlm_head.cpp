// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/mlm_head.h"

#include <stagehand/error.h>

namespace stagehand::sdk {

void check_activation(const std::string& activation, const std::string& who) {
  SH_CHECK(activation == "gelu" || activation == "gelu_tanh" || activation == "relu",
           "{}: activation '{}' is not one of gelu | gelu_tanh | relu", who, activation);
}

torch::Tensor activate(const torch::Tensor& x, const std::string& activation) {
  if (activation == "gelu_tanh") return at::gelu(x, "tanh");
  if (activation == "relu") return at::relu(x);
  check_activation(activation, "activate");
  return at::gelu(x);
}

MlmTransformImpl::MlmTransformImpl(int64_t hidden, int64_t embedding, const std::string& activation,
                                   double layer_norm_eps)
    : activation_(activation) {
  check_activation(activation, "MLM head");
  dense = register_module("dense", nn::Dense(hidden, embedding));
  norm = register_module("LayerNorm", nn::LayerNorm(embedding, layer_norm_eps));
}

torch::Tensor MlmTransformImpl::forward(const torch::Tensor& x) {
  return norm(activate(dense(x), activation_));
}

torch::Tensor MlmTransformImpl::scores(const torch::Tensor& states, const torch::Tensor& word_embeddings,
                                       const torch::Tensor& bias) {
  return at::linear(forward(states), word_embeddings, bias);
}

}  // namespace stagehand::sdk
