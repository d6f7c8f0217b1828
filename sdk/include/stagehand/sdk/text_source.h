// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Texts as a dataset read them, before tokenizing: what a stage that works on words rather than token ids (the
/// `baseline` stage's TF-IDF features) needs from a classification dataset. A dataset implements TextSource beside
/// stagehand::Dataset; a stage asks for it with dynamic_cast<const sdk::TextSource*>(dataset) (nullptr: the dataset
/// does not share its texts). Its type info lives in the SDK library (the destructor is its key function), so the
/// cast works across plugins.
#include <string>
#include <vector>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

class STAGEHAND_SDK_API TextSource {
 public:
  virtual ~TextSource();
  /// The texts of `split`, example i's at index i (the index Dataset::batch takes). Throws for an unknown split.
  virtual const std::vector<std::string>& texts(const std::string& split) const = 0;
  /// The second texts of text pairs, indexed like `texts`; empty when the examples are single texts.
  virtual const std::vector<std::string>& text_pairs(const std::string& split) const = 0;
};

}  // namespace stagehand::sdk
