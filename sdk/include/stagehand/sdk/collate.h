// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Batches of token sequences padded to their longest, as every dataset's batch() serves them: input_ids (the pad id
/// after a row's tokens), attention_mask (1 on tokens, 0 on padding) and token_type_ids (0 unless set), (B, T)
/// int64, T the longest row of the batch. Used by the datasets pretraining, sentence_pairs, specter, squad,
/// text_classification, text_corpus and token_classification.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include <stagehand/batch.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

/// Fails unless every index is in [0, size): "<owner>: <item> index 7 is out of range for split '<split>' (3
/// <item>s)".
STAGEHAND_SDK_API void check_indices(const std::vector<int64_t>& indices, int64_t size, const std::string& owner,
                                     const std::string& split, const std::string& item = "example");

/// The longest of the rows at `indices` of tokens stored back to back (row i: [offsets[i], offsets[i + 1])).
STAGEHAND_SDK_API int64_t longest_row(const std::vector<int64_t>& offsets, const std::vector<int64_t>& indices);

/// The three (rows, width) token tensors of a batch, filled row by row, then put into the batch.
class STAGEHAND_SDK_API PaddedTokens {
 public:
  PaddedTokens(int64_t rows, int64_t width, int64_t pad_id);

  int64_t width() const { return width_; }
  /// Token j of row r (j < width()).
  void set(int64_t r, int64_t j, int64_t id) {
    ids_[r * width_ + j] = id;
    mask_[r * width_ + j] = 1;
  }
  void set(int64_t r, int64_t j, int64_t id, int64_t type) {
    set(r, j, id);
    types_[r * width_ + j] = type;
  }
  /// Row r: the n ids (and token types) from `ids` (`types`), n <= width().
  template <class Id>
  void set_row(int64_t r, const Id* ids, int64_t n) {
    for (int64_t j = 0; j < n; ++j) set(r, j, static_cast<int64_t>(ids[j]));
  }
  template <class Id, class Type>
  void set_row(int64_t r, const Id* ids, const Type* types, int64_t n) {
    for (int64_t j = 0; j < n; ++j) set(r, j, static_cast<int64_t>(ids[j]), static_cast<int64_t>(types[j]));
  }
  /// Sets <prefix>input_ids, <prefix>attention_mask and <prefix>token_type_ids of `out`.
  void put(Batch& out, const std::string& prefix = "") const;

 private:
  int64_t width_;
  torch::Tensor input_ids_, attention_mask_, token_type_ids_;
  int64_t* ids_;
  int64_t* mask_;
  int64_t* types_;
};

}  // namespace stagehand::sdk
