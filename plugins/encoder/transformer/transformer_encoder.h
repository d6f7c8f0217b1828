// SPDX-License-Identifier: Apache-2.0
#pragma once
// The `transformer` encoder (transformer_encoder.cpp has its description). A class of its own here so that the
// `multifacet_transformer` encoder (multifacet_encoder.h) can build on it: it adds layers inside the blocks and
// facet tokens to the input through the protected hooks below, not through flags of this class.
#include <cstdint>
#include <string>

#include <stagehand/config.h>
#include <stagehand/encoder.h>
#include <stagehand/schema.h>

#include "transformer_blocks.h"

namespace stagehand::transformer {

/// The options of `transformer` and the configuration they give.
Schema transformer_schema();
TransformerConfig resolve_config(const Options& o);

class TransformerEncoder : public Encoder {
 public:
  /// Built and initialised (BERT's initialisation) from `seed`.
  TransformerEncoder(TransformerConfig c, uint64_t seed);

  const TransformerConfig& config() const { return cfg_; }

  EncoderOutput encode(const EncoderInput& in) override;
  int64_t hidden_size() const override { return cfg_.hidden_size; }
  int64_t num_layers() const override { return cfg_.num_layers; }
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t embedding_size() const override { return cfg_.embedding_size; }
  Tensor word_embeddings() override;
  Tensor pool(const EncoderOutput& out, const std::string& how) override;
  void share_embeddings(Encoder& from) override;
  ConfigNode spec() const override { return transformer_spec(); }

  /// The spec of this encoder as a plain `transformer`.
  ConfigNode transformer_spec() const;

 protected:
  /// Fails unless `in` is a (batch, length) integer input that fits the vocabulary and the position table.
  void check_input(const EncoderInput& in) const;
  /// The blocks over embedded `ids`, after_block() after each.
  EncoderOutput encode_ids(const Tensor& ids, const Tensor& attention_mask, const Tensor& token_type_ids,
                           bool all_layers);
  /// What block `index` hands on: `h`, its output, here.
  virtual Tensor after_block(int64_t index, const Tensor& h) { return h; }
  /// pool("facets"): the (B, K, H) facet states of the last hidden states `h`; here K = 1, the first token.
  virtual Tensor facet_states(const Tensor& h) { return h.narrow(1, 0, 1); }
  /// Block `index` (encoder.layer.<index>), to register further modules in it.
  torch::nn::Module& block(int64_t index);

 private:
  void init_weights(uint64_t seed);

  TransformerConfig cfg_;
  Embeddings embeddings_{nullptr};
  Dense project_{nullptr};
  Stack encoder_{nullptr};
  Pooler pooler_{nullptr};
};

}  // namespace stagehand::transformer
