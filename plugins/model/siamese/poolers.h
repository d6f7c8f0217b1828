// SPDX-License-Identifier: Apache-2.0
#pragma once
// The pooling and pair-feature functions of model `siamese` (DSE, Barkan et al. 2019), header-only and torch-only
// so that tests call them on hand-made hidden states.
//
// Poolers (B, T, H) states of every layer + (B, T) mask -> (B, D):
//   concat_top_mean       Hcat = concat of the last k layers (B, T, k*H); u = sum_{t>=1} m_t Hcat_t / sum_{t>=1} m_t
//   mean_top_mean         the same over the average of the last k layers (B, T, H)
//   *_sqrt_mean           divide the sum by sqrt(sum_{t>=1} m_t) instead
//   *_max                 max over the positions t >= 1 with m_t = 1
//   mean, max             the last layer only, over every non-padding position ([CLS] included), like the encoder's
//                         own pool("mean")
//   cls                   is the encoder's pooler (dense + tanh on [CLS]) and lives in the model, not here.
// Position 0 ([CLS]) is left out of the top-layer poolers, [SEP] is kept, padding (m_t = 0) is left out. A sequence
// with no position left (only [CLS]) pools to a zero vector rather than NaN or -inf.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <torch/types.h>

#include <stagehand/error.h>

namespace stagehand::siamese {

enum class LayerMix { Concat, Mean, LastOnly };
enum class Reduce { Mean, SqrtMean, Max };

struct PoolerKind {
  LayerMix mix = LayerMix::Concat;
  Reduce reduce = Reduce::Mean;
  bool skip_first = true;  ///< leave position 0 ([CLS]) out
};

inline const std::vector<std::string>& pooler_names() {
  static const std::vector<std::string> names = {"concat_top_mean", "mean_top_mean", "concat_top_sqrt_mean",
                                                 "mean_top_sqrt_mean", "concat_top_max", "mean_top_max",
                                                 "cls", "mean", "max"};
  return names;
}

/// The kind of a pooler name other than "cls" (which the model handles through the encoder's pooler).
inline PoolerKind parse_pooler(const std::string& name) {
  PoolerKind k;
  if (name == "mean" || name == "max") {
    k.mix = LayerMix::LastOnly;
    k.reduce = name == "mean" ? Reduce::Mean : Reduce::Max;
    k.skip_first = false;
    return k;
  }
  const std::string concat = "concat_top_", mean = "mean_top_";
  std::string rest;
  if (name.rfind(concat, 0) == 0) {
    k.mix = LayerMix::Concat;
    rest = name.substr(concat.size());
  } else if (name.rfind(mean, 0) == 0) {
    k.mix = LayerMix::Mean;
    rest = name.substr(mean.size());
  }
  if (rest == "mean") {
    k.reduce = Reduce::Mean;
  } else if (rest == "sqrt_mean") {
    k.reduce = Reduce::SqrtMean;
  } else if (rest == "max") {
    k.reduce = Reduce::Max;
  } else {
    fail("model 'siamese': pooler '{}' is not one of concat_top_mean | mean_top_mean | concat_top_sqrt_mean | "
             "mean_top_sqrt_mean | concat_top_max | mean_top_max | cls | mean | max",
             name);
  }
  return k;
}

/// Width of the pooled vector for hidden size `hidden` and `k` top layers.
inline int64_t pooled_width(const PoolerKind& kind, int64_t hidden, int64_t k) {
  return kind.mix == LayerMix::Concat ? hidden * k : hidden;
}

/// The last `k` of `hidden_states` (each (B, T, H)), concatenated along the features (B, T, k*H, oldest layer first)
/// or averaged (B, T, H); LastOnly is the last layer.
inline torch::Tensor mix_top_layers(const std::vector<torch::Tensor>& hidden_states, LayerMix mix, int64_t k) {
  const int64_t n = static_cast<int64_t>(hidden_states.size());
  SH_CHECK(n > 0, "model 'siamese': the encoder returned no hidden states");
  if (mix == LayerMix::LastOnly) return hidden_states.back();
  // hidden_states[0] is the embedding output, not a layer: the top k layers are hidden_states[n-k .. n-1], k < n.
  SH_CHECK(k >= 1 && k < n, "model 'siamese': num_top_layers is {} but the encoder has {} layers; expected 1 <= "
           "num_top_layers <= the encoder's num_layers", k, n - 1);
  std::vector<torch::Tensor> top(hidden_states.end() - k, hidden_states.end());
  if (mix == LayerMix::Concat) return torch::cat(top, -1);
  return torch::stack(top, 0).mean(0);
}

/// Reduces (B, T, D) states over the positions whose mask is 1 (an undefined mask: every position), leaving
/// position 0 out when `skip_first`.
inline torch::Tensor reduce_positions(const torch::Tensor& h, const torch::Tensor& attention_mask, Reduce reduce,
                                      bool skip_first) {
  torch::Tensor mask = attention_mask.defined()
                           ? attention_mask.to(h.scalar_type())
                           : torch::ones({h.size(0), h.size(1)}, h.options());
  torch::Tensor x = h;
  if (skip_first) {
    x = h.narrow(1, 1, h.size(1) - 1);
    mask = mask.narrow(1, 1, mask.size(1) - 1);
  }
  torch::Tensor m = mask.unsqueeze(-1);             // (B, T', 1)
  torch::Tensor count = mask.sum(1, true);          // (B, 1)
  if (reduce == Reduce::Max) {
    torch::Tensor filled = x.masked_fill(m == 0, -std::numeric_limits<double>::infinity());
    torch::Tensor best = std::get<0>(filled.max(1));
    return torch::where(count > 0, best, torch::zeros_like(best));
  }
  torch::Tensor sum = (x * m).sum(1);
  torch::Tensor den = reduce == Reduce::SqrtMean ? count.sqrt() : count;
  return sum / den.clamp_min(1.0);
}

/// Pools every layer's states (hidden_states[0] = embeddings, then one per block) into (B, D).
inline torch::Tensor pool_states(const std::vector<torch::Tensor>& hidden_states, const torch::Tensor& attention_mask,
                                 const PoolerKind& kind, int64_t k) {
  return reduce_positions(mix_top_layers(hidden_states, kind.mix, k), attention_mask, kind.reduce, kind.skip_first);
}

/// DSE's pair features f = [u, v, u*v, |u-v|] (B, 4D).
inline torch::Tensor pair_features(const torch::Tensor& u, const torch::Tensor& v) {
  return torch::cat({u, v, u * v, (u - v).abs()}, -1);
}

}  // namespace stagehand::siamese
