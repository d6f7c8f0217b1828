// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Paper metadata for the `specter_triplets` and `papers` datasets: SPECTER's metadata.json and SciDocs'
/// paper_metadata_*.json, {paper_id: {"title": str|null, "abstract": str|null, ...}, ...}, read with a streaming
/// (SAX) parser (see paper_text.h). Tensor-free, so that fuzz/fuzz_specter.cpp compiles it without LibTorch.
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

namespace stagehand::specter {

namespace fs = std::filesystem;

/// The papers of a metadata file, in file order.
struct Metadata {
  fs::path file;
  std::vector<std::string> ids;
  std::vector<std::string> titles;     ///< "" where null or missing
  std::vector<std::string> abstracts;  ///< "" where null or missing
  std::unordered_map<std::string, int64_t> index;
  int64_t size() const { return static_cast<int64_t>(ids.size()); }
  /// Row of a paper id, or -1.
  int64_t find(const std::string& id) const {
    auto it = index.find(id);
    return it == index.end() ? -1 : it->second;
  }
  /// True when the paper has a title or an abstract that is not only white space.
  bool has_text(int64_t row) const;
};

/// Reads a metadata file; malformed JSON or a wrong shape is an Error with file:line:column.
Metadata read_metadata(const fs::path& file);

/// "file:line:column" of a byte offset into `data` (1-based line and column).
std::string position(const fs::path& file, const std::string& data, size_t offset);

}  // namespace stagehand::specter
