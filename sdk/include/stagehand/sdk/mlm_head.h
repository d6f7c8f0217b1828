// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The output layer of masked-language-model pretraining, Hugging Face's BertLMPredictionHead: a transform dense
/// (hidden -> embedding) -> activation -> LayerNorm, then scores x . word_embeddings^T + bias over the
/// vocabulary, the decoder weight being the encoder's word embedding matrix (tied, so not a parameter here) and the
/// bias the caller's parameter. The `mlm` model registers the transform as cls.predictions.transform (bias
/// cls.predictions.bias, BERT's names); the `electra` model's generator as generator_predictions (bias
/// generator_lm_head.bias, ELECTRA's names). The transform's children are "dense" and "LayerNorm".
#include <cstdint>
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <stagehand/nn.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

/// `activation` of x: "gelu" (erf), "gelu_tanh" (tanh approximation, Hugging Face's gelu_new) or "relu", the names
/// of an encoder spec's activation; anything else is an error naming `who`.
STAGEHAND_SDK_API torch::Tensor activate(const torch::Tensor& x, const std::string& activation);
STAGEHAND_SDK_API void check_activation(const std::string& activation, const std::string& who);

/// dense (hidden -> embedding) -> activation -> LayerNorm. The dense weight is left for the owner to initialise
/// (from its own generator); its bias starts at zero, the LayerNorm at one and zero.
///
/// The activation and the LayerNorm's epsilon are the checkpoint's, as each architecture's head takes them:
/// BERT's and ALBERT's heads apply the config's hidden_act (ALBERT: gelu_new, the tanh approximation), RoBERTa's
/// and ELECTRA's generator head always the erf GELU; every head uses the config's layer_norm_eps (RoBERTa: 1e-5).
/// `activation` is an encoder spec's: "gelu" (erf), "gelu_tanh" or "relu".
class STAGEHAND_SDK_API MlmTransformImpl : public torch::nn::Module {
 public:
  MlmTransformImpl(int64_t hidden, int64_t embedding, const std::string& activation = "gelu",
                   double layer_norm_eps = 1e-12);
  torch::Tensor forward(const torch::Tensor& x);
  /// Scores over the vocabulary: forward(states) . word_embeddings^T + bias, (M, H) -> (M, V).
  torch::Tensor scores(const torch::Tensor& states, const torch::Tensor& word_embeddings, const torch::Tensor& bias);

  nn::Dense dense{nullptr};
  nn::LayerNorm norm{nullptr};

 private:
  std::string activation_;
};
TORCH_MODULE(MlmTransform);

}  // namespace stagehand::sdk
