// SPDX-License-Identifier: Apache-2.0
// Shared by the datasets `specter_triplets` and `papers` (plugin dataset_specter): reading paper metadata
// (SPECTER's metadata.json, SciDocs' paper_metadata_*.json), the text of a paper as SPECTER feeds it to BERT, the
// tokenized papers, and the (B, T) tensors of a batch.
//
// Metadata: {paper_id: {"title": str|null, "abstract": str|null, ...}, ...}; other fields (paper_id, authors,
// venue, ...) are skipped. The keys are the paper ids, in file order. It is read with a streaming (SAX) parser, so
// a metadata file of hundreds of thousands of papers is never held as a JSON tree. A key given twice keeps its
// first position and its last value, as Python's json.load does.
//
// Text of a paper (SPECTER's `title [SEP] abstract`, as its Hugging Face README builds it): the title's pieces, the
// tokenizer's [SEP], the abstract's pieces (a null or missing title or abstract is empty), cut to max_length - 2
// tokens, then [CLS] ... [SEP] around it; token types all 0. So the final [SEP] survives truncation and a paper
// without abstract reads `[CLS] title [SEP] [SEP]`. A paper whose title and abstract give no piece at all is an
// error naming it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <stagehand/batch.h>
#include <stagehand/config.h>
#include <stagehand/error.h>
#include <stagehand/registry.h>
#include <stagehand/schema.h>
#include <stagehand/tokenizer.h>

#include "metadata.h"

namespace stagehand {
class Dataset;
}

namespace stagehand::specter {

namespace fs = std::filesystem;

/// The text of one paper, and where it came from (for errors: "metadata.json: paper 'X'").
struct PaperText {
  std::string id;  ///< batch id
  const std::string* title = nullptr;
  const std::string* abstract = nullptr;
  std::string origin;
};

/// Tokenized papers: paper i is ids[offsets[i], offsets[i+1]).
struct TokenStore {
  std::vector<int32_t> ids;
  std::vector<int64_t> offsets{0};
  std::vector<std::string> paper_ids;
  int64_t size() const { return static_cast<int64_t>(paper_ids.size()); }
  int64_t length(int64_t i) const { return offsets[static_cast<size_t>(i) + 1] - offsets[static_cast<size_t>(i)]; }
};

/// Turns title and abstract into `[CLS] title [SEP] abstract [SEP]` ids (see the top of this file).
class PaperEncoder {
 public:
  PaperEncoder(std::shared_ptr<Tokenizer> tokenizer, int64_t max_length);
  /// The ids of one paper; throws when title and abstract give no piece (naming `origin`).
  std::vector<int32_t> encode(const std::string& title, const std::string& abstract, const std::string& origin) const;
  /// Encodes every paper on `threads` threads; the first failing paper (in order) is the error thrown.
  TokenStore encode_all(const std::vector<PaperText>& papers, int threads) const;
  const Tokenizer& tokenizer() const { return *tok_; }
  int32_t pad_id() const { return tok_->special().pad; }

 private:
  std::shared_ptr<Tokenizer> tok_;
  int64_t max_length_;
};

/// Builds the tokenizer of a `tokenizer` option and checks that it has [CLS], [SEP] and [PAD].
std::shared_ptr<Tokenizer> make_tokenizer(const Options& o, const BuildContext& ctx);

/// Sets `<prefix>input_ids`, `<prefix>attention_mask` and `<prefix>token_type_ids` (B, T) int64 of papers `rows`
/// of `store`, padded with `pad_id` to the longest of them.
void put_texts(Batch& batch, const std::string& prefix, const TokenStore& store, const std::vector<int64_t>& rows,
               int32_t pad_id);

/// The files of the Path options train_<suffix>, validation_<suffix>, test_<suffix> that are set, as (split, path)
/// in that order (the core resolved and checked them).
std::vector<std::pair<std::string, fs::path>> split_files(const Options& o, const std::string& suffix);

/// The split named `name` of `splits` (anything with a `name` member), or an error listing the ones there are.
template <class S>
const S& find_split(const std::vector<S>& splits, const std::string& name, const std::string& owner,
                    const std::string& where_from) {
  std::string have;
  for (const auto& s : splits) {
    if (s.name == name) return s;
    have += (have.empty() ? "" : ", ") + s.name;
  }
  throw Error(fmt::format("{} has no split '{}'; its splits are: {} ({})", owner, name, have, where_from));
}

/// "a, b, c" of up to `n` items, then "... (N in all)".
std::string list_some(const std::vector<std::string>& items, size_t n = 5);

// The two datasets of the plugin (specter_triplets.cpp, papers.cpp).
Schema specter_triplets_schema();
std::shared_ptr<Dataset> make_specter_triplets(const Options& o, const BuildContext& ctx);
Schema papers_schema();
std::shared_ptr<Dataset> make_papers(const Options& o, const BuildContext& ctx);

}  // namespace stagehand::specter
