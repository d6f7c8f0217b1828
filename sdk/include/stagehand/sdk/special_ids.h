// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The special-token ids a pretraining model masks around ([MASK] replaces tokens; [PAD], [CLS], [SEP] are never
/// chosen): their options, checks and spec entries. Used by the `mlm` and `electra` model plugins; the train stage
/// fills the ids from the dataset's hints.
#include <cstdint>
#include <string>
#include <vector>

#include <stagehand/config.h>
#include <stagehand/schema.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

struct STAGEHAND_SDK_API SpecialIds {
  int64_t mask = -1, pad = -1, cls = -1, sep = -1;  // -1: not set

  /// Reads the four options; `owner` ("mlm", "electra") names the model in errors. [MASK] is required.
  static SpecialIds read(const Options& o, const std::string& owner);
  /// Ids never chosen for prediction: [MASK] and whichever of [PAD], [CLS], [SEP] are set.
  std::vector<int64_t> never_masked() const;
  /// Every set id must be a row of a `vocab`-id table.
  void check_vocab(int64_t vocab, const std::string& owner) const;
  /// Appends mask_id, pad_id, cls_id and sep_id (null where not set) to a spec.
  void write(ConfigNode::MapEntries& e) const;
};

/// Declares mask_id, pad_id, cls_id and sep_id.
STAGEHAND_SDK_API Schema& special_id_options(Schema& s);

}  // namespace stagehand::sdk
