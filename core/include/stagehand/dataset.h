// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Datasets read examples from files (tokenizing them with a tokenizer given as an option, usually the name of a
/// tokenizer stage) and serve batches by example index. Random access by index is what makes shuffling a pure
/// function of (seed, epoch) and resuming exact: no data is replayed or skipped.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "stagehand/batch.h"
#include "stagehand/export.h"

namespace stagehand {

class STAGEHAND_API Dataset {
 public:
  static constexpr const char* kKind = "dataset";
  virtual ~Dataset();

  /// Splits this dataset offers, e.g. {"train", "validation", "test"}.
  virtual std::vector<std::string> splits() const = 0;
  bool has_split(const std::string& split) const;
  /// Number of examples in a split (throws for an unknown split).
  virtual int64_t size(const std::string& split) const = 0;
  /// The batch of the examples at `indices` of `split`, padded to the longest example. Must be safe to call
  /// from several threads at once.
  virtual Batch batch(const std::string& split, const std::vector<int64_t>& indices) const = 0;
  /// Class names for classification datasets (index = class id); empty otherwise.
  virtual std::vector<std::string> labels() const { return {}; }
  /// What the model needs to know about the data, as option values a model spec may leave unset
  /// (e.g. {"num_labels": 2, "vocab_size": 8000, "pad_id": 0}); see `fill_hints`.
  virtual std::map<std::string, int64_t> hints() const { return {}; }
  // Typed data a dataset shares with the stages made for it, beyond tensors, goes through an interface of the
  // plugin SDK that the dataset also implements and the stage dynamic_casts to (e.g. squad::SquadSource in
  // stagehand/sdk/squad.h, for the SQuAD questions the `probe` stage scores against).
};

}  // namespace stagehand
