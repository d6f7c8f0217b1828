// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Choosing and replacing the tokens a masked-language-model objective predicts: BERT's masking (the `mlm` model)
/// and ELECTRA's (the `electra` model's generator input). Every draw has shape (B, T) and is made on the CPU from
/// `gen` (LibTorch's default CPU generator when empty), whatever the device, so the number of draws does not depend
/// on the data and a checkpoint of the default generator resumes the exact mask sequence.
#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <c10/util/Optional.h>
#include <torch/types.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

/// Masked input ids and the positions chosen for prediction.
struct Masked {
  torch::Tensor input_ids;  ///< (B, T), the ids the encoder sees
  torch::Tensor selected;   ///< (B, T) bool, true at the positions chosen for prediction
};

/// The tokens that may be chosen: real tokens (attention_mask != 0; all when it is undefined) that are none of
/// `specials`. (B, T) bool.
STAGEHAND_SDK_API torch::Tensor mask_candidates(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                                                const std::vector<int64_t>& specials);

/// BERT's masking (Devlin et al. 2019; Hugging Face's DataCollatorForLanguageModeling).
struct BertMasking {
  double mask_prob = 0.15;
  double replace_mask = 0.8;
  double replace_random = 0.1;
  int64_t mask_id = 0;
  std::vector<int64_t> specials;  ///< never chosen
  int64_t random_low = 0;         ///< random replacements are drawn from [random_low, random_high)
  int64_t random_high = 0;
};

/// Each candidate is chosen with probability mask_prob (and every sequence with a candidate gets at least one,
/// picked uniformly among its candidates); a chosen token becomes [MASK] with probability replace_mask, a random id
/// with probability replace_random, and stays otherwise. Draws: chosen, fallback pick, action, random id.
STAGEHAND_SDK_API Masked bert_mask(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                                   const BertMasking& m, c10::optional<at::Generator> gen);

/// ELECTRA's masking (google-research/electra, pretrain/pretrain_helpers.mask).
struct ElectraMasking {
  double mask_prob = 0.15;
  double replace_mask = 0.85;
  int64_t max_predictions = 19;
  int64_t mask_id = -1;
  std::vector<int64_t> specials;  ///< never chosen
};

/// Each sequence masks n = max(1, min(max_predictions, round(mask_prob * candidates))) positions drawn uniformly
/// without replacement (the TF code draws max_predictions positions with replacement and lets duplicates collapse,
/// so it masks slightly fewer than n; this masks exactly n, the rate the paper states); a masked position becomes
/// [MASK] with probability replace_mask and keeps its token otherwise (ELECTRA never substitutes a random token).
/// Draws: pick keys, action.
STAGEHAND_SDK_API Masked electra_mask(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                                      const ElectraMasking& m, c10::optional<at::Generator> gen);

}  // namespace stagehand::sdk
