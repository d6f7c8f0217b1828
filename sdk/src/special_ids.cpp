// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/special_ids.h"

#include <stagehand/error.h>

namespace stagehand::sdk {

SpecialIds SpecialIds::read(const Options& o, const std::string& owner) {
  auto id = [&](const char* key) { return o.has(key) ? o.get<int64_t>(key) : int64_t{-1}; };
  SpecialIds s{id("mask_id"), id("pad_id"), id("cls_id"), id("sep_id")};
  SH_CHECK(s.mask >= 0,
           "{}: mask_id is not set; the train stage fills it from the dataset (a tokenizer with a [MASK] "
           "token), otherwise set mask_id to the id of the mask token",
           owner);
  return s;
}

std::vector<int64_t> SpecialIds::never_masked() const {
  std::vector<int64_t> out = {mask};
  for (int64_t s : {pad, cls, sep})
    if (s >= 0) out.push_back(s);
  return out;
}

void SpecialIds::check_vocab(int64_t vocab, const std::string& owner) const {
  for (int64_t s : never_masked())
    SH_CHECK(s < vocab, "{}: special token id {} is outside the vocabulary of {} ids; the ids and vocab_size come "
                        "from different tokenizers",
             owner, s, vocab);
}

void SpecialIds::write(ConfigNode::MapEntries& e) const {
  auto id = [](int64_t v) { return v >= 0 ? ConfigNode::of(v) : ConfigNode::null(); };
  e.emplace_back("mask_id", id(mask));
  e.emplace_back("pad_id", id(pad));
  e.emplace_back("cls_id", id(cls));
  e.emplace_back("sep_id", id(sep));
}

Schema& special_id_options(Schema& s) {
  return s.optional("mask_id", OptionType::Int, "id of the [MASK] token (filled by the train stage from the dataset)")
      .min(0)
      .optional("pad_id", OptionType::Int, "id of the padding token, never masked (filled from the dataset)")
      .min(0)
      .optional("cls_id", OptionType::Int, "id of the [CLS] token, never masked (filled from the dataset)")
      .min(0)
      .optional("sep_id", OptionType::Int, "id of the [SEP] token, never masked (filled from the dataset)")
      .min(0);
}

}  // namespace stagehand::sdk
