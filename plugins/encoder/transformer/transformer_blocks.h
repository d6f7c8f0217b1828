// SPDX-License-Identifier: Apache-2.0
#pragma once
// The blocks of the `transformer` encoder: BERT's modules in Hugging Face's layout and names (embeddings, self
// attention, residual outputs, feed-forward, the block stack, the pooler), and its configuration.
//
// The blocks are small modules of our own rather than torch::nn::Linear, Embedding and LayerNorm: those initialise
// themselves from the global RNG in their constructors, and the encoder must be initialised from its own seed
// without drawing from (or paying twice for) the global RNG.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <stagehand/nn.h>

namespace stagehand::transformer {

using torch::Tensor;

struct TransformerConfig {
  std::string preset;  // "" when none
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t embedding_size = 768;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t intermediate_size = 3072;
  std::string activation = "gelu";
  double hidden_dropout = 0.1;
  double attention_dropout = 0.1;
  int64_t max_positions = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  bool pooler = true;
  double init_std = 0.02;
  int64_t position_offset = 0;  // first row of the position table (RoBERTa: 2)
  bool shared_layers = false;   // one block's weights for every layer (ALBERT)
};

enum class Activation { Gelu, GeluTanh, Relu };
Activation parse_activation(const std::string& name);

/// A lookup table; parameter "weight" (rows, width), as an Embedding.
class TableImpl : public torch::nn::Module {
 public:
  TableImpl(int64_t rows, int64_t width);
  Tensor weight;
};
TORCH_MODULE(Table);

// Dense and LayerNorm come from stagehand/nn.h (initialised by the encoder).
using Dense = nn::Dense;
using DenseImpl = nn::DenseImpl;
using Norm = nn::LayerNorm;
using NormImpl = nn::LayerNormImpl;

class EmbeddingsImpl : public torch::nn::Module {
 public:
  explicit EmbeddingsImpl(const TransformerConfig& c);
  Tensor forward(const Tensor& ids, const Tensor& types);
  Table word{nullptr}, position{nullptr}, token_type{nullptr};
  Norm norm{nullptr};

 private:
  double dropout_;
  int64_t offset_;
};
TORCH_MODULE(Embeddings);

class SelfAttentionImpl : public torch::nn::Module {
 public:
  explicit SelfAttentionImpl(const TransformerConfig& c);
  /// x (B, T, H); mask_bias (B, 1, 1, T) added to the scores, or undefined. Returns the context (B, T, H).
  Tensor forward(const Tensor& x, const Tensor& mask_bias);
  Dense query{nullptr}, key{nullptr}, value{nullptr};

 private:
  int64_t heads_, head_size_;
  double dropout_;
};
TORCH_MODULE(SelfAttention);

/// dense -> dropout -> residual add -> LayerNorm: HF's "attention.output" and "output".
class ResidualOutputImpl : public torch::nn::Module {
 public:
  ResidualOutputImpl(const TransformerConfig& c, int64_t in);
  Tensor forward(const Tensor& x, const Tensor& residual);
  Dense dense{nullptr};
  Norm norm{nullptr};

 private:
  double dropout_;
};
TORCH_MODULE(ResidualOutput);

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const TransformerConfig& c);
  Tensor forward(const Tensor& x, const Tensor& mask_bias);
  SelfAttention self_attention{nullptr};
  ResidualOutput output{nullptr};
};
TORCH_MODULE(Attention);

class IntermediateImpl : public torch::nn::Module {
 public:
  explicit IntermediateImpl(const TransformerConfig& c);
  Tensor forward(const Tensor& x);
  Dense dense{nullptr};

 private:
  Activation activation_;
};
TORCH_MODULE(Intermediate);

/// One post-LayerNorm block.
class LayerImpl : public torch::nn::Module {
 public:
  explicit LayerImpl(const TransformerConfig& c);
  Tensor forward(const Tensor& x, const Tensor& mask_bias);
  Attention attention{nullptr};
  Intermediate intermediate{nullptr};
  ResidualOutput output{nullptr};
};
TORCH_MODULE(Layer);

/// HF's "encoder": holds the blocks as "layer.0", "layer.1", ... (with shared layers only "layer.0", which every
/// entry of `blocks` is).
class StackImpl : public torch::nn::Module {
 public:
  explicit StackImpl(const TransformerConfig& c);
  std::vector<Layer> blocks;  // typed access to the modules, one per layer
};
TORCH_MODULE(Stack);

class PoolerImpl : public torch::nn::Module {
 public:
  explicit PoolerImpl(const TransformerConfig& c);
  Tensor forward(const Tensor& first_token);
  Dense dense{nullptr};
};
TORCH_MODULE(Pooler);

}  // namespace stagehand::transformer
