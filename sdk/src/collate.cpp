// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/collate.h"

#include <algorithm>

#include <stagehand/error.h>

namespace stagehand::sdk {

void check_indices(const std::vector<int64_t>& indices, int64_t size, const std::string& owner,
                   const std::string& split, const std::string& item) {
  for (int64_t i : indices)
    SH_CHECK(i >= 0 && i < size, "{}: {} index {} is out of range for split '{}' ({} {}s)", owner, item, i, split,
             size, item);
}

int64_t longest_row(const std::vector<int64_t>& offsets, const std::vector<int64_t>& indices) {
  int64_t longest = 0;
  for (int64_t i : indices) {
    const auto k = static_cast<size_t>(i);
    longest = std::max(longest, offsets[k + 1] - offsets[k]);
  }
  return longest;
}

PaddedTokens::PaddedTokens(int64_t rows, int64_t width, int64_t pad_id)
    : width_(width),
      input_ids_(torch::full({rows, width}, pad_id, torch::kInt64)),
      attention_mask_(torch::zeros({rows, width}, torch::kInt64)),
      token_type_ids_(torch::zeros({rows, width}, torch::kInt64)),
      ids_(input_ids_.data_ptr<int64_t>()),
      mask_(attention_mask_.data_ptr<int64_t>()),
      types_(token_type_ids_.data_ptr<int64_t>()) {}

void PaddedTokens::put(Batch& out, const std::string& prefix) const {
  out.set(prefix + "input_ids", input_ids_);
  out.set(prefix + "attention_mask", attention_mask_);
  out.set(prefix + "token_type_ids", token_type_ids_);
}

}  // namespace stagehand::sdk
