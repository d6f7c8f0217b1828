// SPDX-License-Identifier: Apache-2.0
// Dataset `pretraining`: the examples a `pretraining_data` stage packed (ELECTRA's rules), read from its
// `examples.bin` (format: pretraining_format.h). The file is memory-mapped read-only: opening costs nothing
// whatever its size (besides the optional CRC check), the pages are shared between processes and dropped by the
// kernel under memory pressure, and any example is read at O(1) from its fixed-size row.
//
// Batches: input_ids, attention_mask and token_type_ids (B, T) int64, T = the longest example of the batch (not
// max_length), padding with the file's pad id. Segment ids are 0 over [CLS] A [SEP] and 1 over B [SEP].
// batch() only reads the read-only mapping and fills tensors it owns, so any number of threads may call it at once.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <stagehand/dataset.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/collate.h>

#include "pretraining_check.h"

namespace stagehand {
namespace {
namespace fs = std::filesystem;
using pretraining::FileHeader;

// A read-only mapping of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    SH_CHECK(fd >= 0, "pretraining: cannot open '{}' ({}); give the examples.bin a pretraining_data stage wrote",
             path.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw Error(fmt::format("pretraining: cannot stat '{}' ({})", path.string(), std::strerror(err)));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
      const int err = errno;
      ::close(fd);  // the mapping keeps the file open
      SH_CHECK(p != MAP_FAILED, "pretraining: cannot memory-map '{}' ({} bytes): {}", path.string(), size_,
               std::strerror(err));
      data_ = static_cast<const unsigned char*>(p);
    } else {
      ::close(fd);
    }
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

class PretrainingDataset : public Dataset {
 public:
  PretrainingDataset(const Options& o) : path_(o.path("file")), map_(path_) {
    h_ = pretraining::check_header(map_.data(), map_.size(), path_.string(), o.get<bool>("verify"));
    rows_ = map_.data() + h_.header_bytes;
  }

  std::vector<std::string> splits() const override {
    if (h_.validation_examples > 0) return {"train", "validation"};
    return {"train"};
  }

  int64_t size(const std::string& split) const override { return static_cast<int64_t>(range(split).second); }

  Batch batch(const std::string& split, const std::vector<int64_t>& indices) const override {
    const auto [first, count] = range(split);
    const int64_t b = static_cast<int64_t>(indices.size());
    // Lengths first: the batch is as wide as its longest example.
    std::vector<pretraining::Row> rows(indices.size());
    int64_t longest = 0;
    for (size_t r = 0; r < indices.size(); ++r) {
      const int64_t i = indices[r];
      SH_CHECK(i >= 0 && static_cast<uint64_t>(i) < count,
               "pretraining: example index {} is out of range for split '{}' ({} examples)", i, split, count);
      rows[r] = pretraining::row_at(h_, rows_, first + static_cast<uint64_t>(i), name_, split, i);
      longest = std::max(longest, rows[r].length);
    }
    sdk::PaddedTokens tokens(b, longest, h_.pad_id);
    Batch out;
    out.ids.reserve(indices.size());
    for (size_t r = 0; r < indices.size(); ++r) {
      const auto row = static_cast<int64_t>(r);
      for (int64_t j = 0; j < rows[r].length; ++j)
        tokens.set(row, j, pretraining::id_at(h_, rows[r], j, name_, split, indices[r]),
                   j >= rows[r].a_length + 2 ? 1 : 0);
      out.ids.push_back(fmt::format("{}:{}", split, indices[r]));
    }
    tokens.put(out);
    return out;
  }

  std::map<std::string, int64_t> hints() const override {
    std::map<std::string, int64_t> h = {{"vocab_size", h_.vocab_size},
                                        {"pad_id", h_.pad_id},
                                        {"cls_id", h_.cls_id},
                                        {"sep_id", h_.sep_id},
                                        {"max_length", h_.max_length}};
    if (h_.mask_id >= 0) h["mask_id"] = h_.mask_id;
    return h;
  }

 private:
  // (first row, number of rows) of a split.
  std::pair<uint64_t, uint64_t> range(const std::string& split) const {
    if (split == "train") return {0, h_.train_examples};
    if (split == "validation" && h_.validation_examples > 0) return {h_.train_examples, h_.validation_examples};
    throw Error(fmt::format("pretraining: '{}' has no split '{}'; its splits are: {}{}", path_.string(), split,
                            h_.validation_examples > 0 ? "train, validation" : "train",
                            split == "validation" ? " (give its pretraining_data stage validation_fraction > 0)" : ""));
  }

  fs::path path_;
  std::string name_ = path_.string();  // for errors, made once: row_at and id_at take it for every token
  MappedFile map_;
  FileHeader h_;
  const unsigned char* rows_ = nullptr;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Dataset>(
      "pretraining",
      "pre-training examples ([CLS] A [SEP] B [SEP]) packed by a pretraining_data stage, memory-mapped from its "
      "examples.bin",
      stagehand::Schema()
          .path("file", "examples.bin written by a pretraining_data stage (usually given by naming that stage)")
          .opt("verify", true, "check the CRC-32 of every example when opening (reads the whole file once)"),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::PretrainingDataset>(o); });
}
