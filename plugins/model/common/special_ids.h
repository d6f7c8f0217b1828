// SPDX-License-Identifier: Apache-2.0
#pragma once
// The special-token ids a pretraining model masks around ([MASK] replaces tokens; [PAD], [CLS], [SEP] are never
// chosen), shared by the `mlm` and `electra` models: their options, checks and spec entries. Header-only because
// plugins share nothing but the core. The train stage fills the ids from the dataset's hints.
#include <cstdint>
#include <string>
#include <vector>

#include <stagehand/config.h>
#include <stagehand/error.h>
#include <stagehand/schema.h>

namespace stagehand::model_common {

struct SpecialIds {
  int64_t mask = -1, pad = -1, cls = -1, sep = -1;  // -1: not set

  /// Reads the four options; `owner` ("mlm", "electra") names the model in errors. [MASK] is required.
  static SpecialIds read(const Options& o, const std::string& owner) {
    auto id = [&](const char* key) { return o.has(key) ? o.get<int64_t>(key) : int64_t{-1}; };
    SpecialIds s{id("mask_id"), id("pad_id"), id("cls_id"), id("sep_id")};
    SH_CHECK(s.mask >= 0,
             "{}: mask_id is not set; the train stage fills it from the dataset (a tokenizer with a [MASK] "
             "token), otherwise set mask_id to the id of the mask token",
             owner);
    return s;
  }
  /// Ids never chosen for prediction: [MASK] and whichever of [PAD], [CLS], [SEP] are set.
  std::vector<int64_t> never_masked() const {
    std::vector<int64_t> out = {mask};
    for (int64_t s : {pad, cls, sep})
      if (s >= 0) out.push_back(s);
    return out;
  }
  /// Every set id must be a row of a `vocab`-id table.
  void check_vocab(int64_t vocab, const std::string& owner) const {
    for (int64_t s : never_masked())
      SH_CHECK(s < vocab, "{}: special token id {} is outside the vocabulary of {} ids; the ids and vocab_size come "
                          "from different tokenizers",
               owner, s, vocab);
  }
  void write(ConfigNode::MapEntries& e) const {
    auto id = [](int64_t v) { return v >= 0 ? ConfigNode::of(v) : ConfigNode::null(); };
    e.emplace_back("mask_id", id(mask));
    e.emplace_back("pad_id", id(pad));
    e.emplace_back("cls_id", id(cls));
    e.emplace_back("sep_id", id(sep));
  }
};

/// Declares mask_id, pad_id, cls_id and sep_id.
inline Schema& special_id_options(Schema& s) {
  return s.optional("mask_id", OptionType::Int, "id of the [MASK] token (filled by the train stage from the dataset)")
      .min(0)
      .optional("pad_id", OptionType::Int, "id of the padding token, never masked (filled from the dataset)")
      .min(0)
      .optional("cls_id", OptionType::Int, "id of the [CLS] token, never masked (filled from the dataset)")
      .min(0)
      .optional("sep_id", OptionType::Int, "id of the [SEP] token, never masked (filled from the dataset)")
      .min(0);
}

}  // namespace stagehand::model_common
