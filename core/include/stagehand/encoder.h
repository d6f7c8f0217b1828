// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Encoders: token ids in, every layer's hidden states out. Heavy LibTorch headers live here, not in the
/// config/registry headers, so that code that does not touch tensors compiles fast.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "stagehand/config.h"
#include "stagehand/export.h"

namespace stagehand {

/// A batch of encoded text. Shapes (B, T), dtype int64; attention_mask 1 for real tokens, 0 for padding.
struct STAGEHAND_API EncoderInput {
  torch::Tensor input_ids;
  torch::Tensor attention_mask;
  torch::Tensor token_type_ids;  ///< may be undefined: all zeros
  /// false: the caller needs only the last layer (it pools it), so the encoder may return hidden_states holding
  /// the last layer's states alone and free each layer's output as soon as the next is computed (in inference,
  /// B x T x H per layer less at the peak). Encoders that ignore it return every layer.
  bool all_layers = true;
};

struct STAGEHAND_API EncoderOutput {
  /// hidden_states[0] is the embedding output (after the projection, if any), hidden_states[i] the output
  /// of block i (1-based); every tensor (B, T, H).
  std::vector<torch::Tensor> hidden_states;
  torch::Tensor attention_mask;  ///< (B, T), as given
  const torch::Tensor& last() const { return hidden_states.back(); }
};

/// Base class of encoder components. Parameter names follow Hugging Face's BERT/ELECTRA names (relative to the
/// model prefix: "embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight", ...), so
/// that checkpoints map one to one.
class STAGEHAND_API Encoder : public torch::nn::Module {
 public:
  static constexpr const char* kKind = "encoder";
  ~Encoder() override;

  virtual EncoderOutput encode(const EncoderInput& input) = 0;
  virtual int64_t hidden_size() const = 0;
  virtual int64_t num_layers() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t embedding_size() const = 0;
  /// The token embedding matrix (V, E), for output layers tied to it.
  virtual torch::Tensor word_embeddings() = 0;
  /// Pools (B, T, H) states to (B, H): "cls" (first token), "mean" (non-padding tokens), "pooler"
  /// (dense + tanh on [CLS]; throws if the encoder has no pooler).
  virtual torch::Tensor pool(const EncoderOutput& out, const std::string& how) = 0;
  /// The spec that rebuilds this architecture (`{type: NAME, ...}` with every option).
  virtual ConfigNode spec() const = 0;
  /// Makes this encoder use `from`'s input embeddings (token, position and type tables and their LayerNorm)
  /// instead of its own: afterwards both hold the very same tensors, as ELECTRA's generator and discriminator
  /// do. Throws stagehand::Error when the two encoders' embeddings differ in shape or the encoder type cannot
  /// share (the default).
  virtual void share_embeddings(Encoder& from);
};

}  // namespace stagehand
