// SPDX-License-Identifier: Apache-2.0
// BERT's modules in Hugging Face's layout (transformer_blocks.h).
#include "transformer_blocks.h"

#include <cmath>

#include <torch/nn/modules/container/modulelist.h>

#include <stagehand/error.h>

namespace stagehand::transformer {
namespace {

Tensor maybe_dropout(const Tensor& x, double p, bool training) {
  return training && p > 0 ? stagehand::nn::dropout(x, p, true) : x;
}

}  // namespace

Activation parse_activation(const std::string& name) {
  if (name == "gelu") return Activation::Gelu;
  if (name == "gelu_tanh") return Activation::GeluTanh;
  if (name == "relu") return Activation::Relu;
  fail("transformer: activation '{}' is not one of gelu | gelu_tanh | relu", name);
}

TableImpl::TableImpl(int64_t rows, int64_t width) {
  weight = register_parameter("weight", torch::empty({rows, width}));
}

EmbeddingsImpl::EmbeddingsImpl(const TransformerConfig& c) : dropout_(c.hidden_dropout), offset_(c.position_offset) {
  word = register_module("word_embeddings", Table(c.vocab_size, c.embedding_size));
  position = register_module("position_embeddings", Table(c.max_positions, c.embedding_size));
  token_type = register_module("token_type_embeddings", Table(c.type_vocab_size, c.embedding_size));
  norm = register_module("LayerNorm", Norm(c.embedding_size, c.layer_norm_eps));
}

Tensor EmbeddingsImpl::forward(const Tensor& ids, const Tensor& types) {
  const int64_t t = ids.size(1);
  // Positions are offset..offset+T-1 for every row, so a slice of the table broadcasts instead of a gather.
  Tensor x = at::embedding(word->weight, ids) + position->weight.narrow(0, offset_, t);
  x = types.defined() ? x + at::embedding(token_type->weight, types) : x + token_type->weight.select(0, 0);
  return maybe_dropout(norm(x), dropout_, is_training());
}

SelfAttentionImpl::SelfAttentionImpl(const TransformerConfig& c)
    : heads_(c.num_heads), head_size_(c.hidden_size / c.num_heads), dropout_(c.attention_dropout) {
  query = register_module("query", Dense(c.hidden_size, c.hidden_size));
  key = register_module("key", Dense(c.hidden_size, c.hidden_size));
  value = register_module("value", Dense(c.hidden_size, c.hidden_size));
}

Tensor SelfAttentionImpl::forward(const Tensor& x, const Tensor& mask_bias) {
  const int64_t b = x.size(0), t = x.size(1);
  auto heads = [&](const Tensor& y) { return y.view({b, t, heads_, head_size_}).transpose(1, 2); };
  Tensor q = heads(query(x)), k = heads(key(x)), v = heads(value(x));
  // In-place scaling and masking: the matmul result is not needed by its own backward.
  Tensor scores = at::matmul(q, k.transpose(-1, -2)).div_(std::sqrt(static_cast<double>(head_size_)));
  if (mask_bias.defined()) scores.add_(mask_bias);
  Tensor probs = maybe_dropout(at::softmax(scores, -1), dropout_, is_training());
  return at::matmul(probs, v).transpose(1, 2).reshape({b, t, heads_ * head_size_});
}

ResidualOutputImpl::ResidualOutputImpl(const TransformerConfig& c, int64_t in) : dropout_(c.hidden_dropout) {
  dense = register_module("dense", Dense(in, c.hidden_size));
  norm = register_module("LayerNorm", Norm(c.hidden_size, c.layer_norm_eps));
}

Tensor ResidualOutputImpl::forward(const Tensor& x, const Tensor& residual) {
  return norm(maybe_dropout(dense(x), dropout_, is_training()) + residual);
}

AttentionImpl::AttentionImpl(const TransformerConfig& c) {
  self_attention = register_module("self", SelfAttention(c));
  output = register_module("output", ResidualOutput(c, c.hidden_size));
}

Tensor AttentionImpl::forward(const Tensor& x, const Tensor& mask_bias) {
  return output(self_attention(x, mask_bias), x);
}

IntermediateImpl::IntermediateImpl(const TransformerConfig& c) : activation_(parse_activation(c.activation)) {
  dense = register_module("dense", Dense(c.hidden_size, c.intermediate_size));
}

Tensor IntermediateImpl::forward(const Tensor& x) {
  Tensor y = dense(x);
  switch (activation_) {
    case Activation::Gelu: return at::gelu(y);
    case Activation::GeluTanh: return at::gelu(y, "tanh");
    case Activation::Relu: return at::relu(y);
  }
  return y;
}

LayerImpl::LayerImpl(const TransformerConfig& c) {
  attention = register_module("attention", Attention(c));
  intermediate = register_module("intermediate", Intermediate(c));
  output = register_module("output", ResidualOutput(c, c.intermediate_size));
}

Tensor LayerImpl::forward(const Tensor& x, const Tensor& mask_bias) {
  Tensor a = attention(x, mask_bias);
  return output(intermediate(a), a);
}

StackImpl::StackImpl(const TransformerConfig& c) {
  torch::nn::ModuleList list;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    blocks.push_back(c.shared_layers && i > 0 ? blocks.front() : Layer(c));
    if (!c.shared_layers || i == 0) list->push_back(blocks.back());
  }
  register_module("layer", list);
}

PoolerImpl::PoolerImpl(const TransformerConfig& c) {
  dense = register_module("dense", Dense(c.hidden_size, c.hidden_size));
}

Tensor PoolerImpl::forward(const Tensor& first_token) { return at::tanh(dense(first_token)); }

}  // namespace stagehand::transformer
