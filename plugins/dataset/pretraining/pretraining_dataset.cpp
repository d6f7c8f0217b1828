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

#include "pretraining_format.h"

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
    const std::string f = path_.string();
    const unsigned char* p = map_.data();
    const size_t size = map_.size();
    SH_CHECK(size >= 8 && std::memcmp(p, pretraining::kMagic, 8) == 0,
             "'{}' is not a stagehand pretraining file (it does not start with \"SHPRETR1\"); give the "
             "examples.bin that a pretraining_data stage wrote",
             f);
    SH_CHECK(size >= pretraining::kFixedHeaderBytes,
             "'{}' is truncated: expected at least {} bytes of header, found {}; run its pretraining_data stage again",
             f, pretraining::kFixedHeaderBytes, size);
    h_ = pretraining::decode_fixed_header(p);
    SH_CHECK(h_.version == pretraining::kFormatVersion,
             "'{}' has pretraining format version {}, this build reads version {}; run its pretraining_data stage "
             "again with this build",
             f, h_.version, pretraining::kFormatVersion);
    const uint32_t spec_bytes = pretraining::get_u32(p + 72);
    SH_CHECK(h_.header_bytes % 8 == 0 && h_.header_bytes >= pretraining::kFixedHeaderBytes + uint64_t{spec_bytes},
             "'{}' has a corrupt header: header size {} cannot hold {} bytes of fields and a {}-byte tokenizer spec; "
             "run its pretraining_data stage again",
             f, h_.header_bytes, pretraining::kFixedHeaderBytes, spec_bytes);
    SH_CHECK(h_.max_length >= 2 && h_.max_length <= pretraining::kMaxMaxLength &&
                 (h_.id_bytes == 2 || h_.id_bytes == 4) && h_.row_bytes == h_.max_length * h_.id_bytes + 4,
             "'{}' has a corrupt header: max_length {}, id width {} bytes, row size {} (expected max_length in "
             "2..65535, width 2 or 4, row size max_length * width + 4); run its pretraining_data stage again",
             f, h_.max_length, h_.id_bytes, h_.row_bytes);
    const uint64_t expected = h_.header_bytes + h_.examples() * h_.row_bytes;
    SH_CHECK(size >= expected,
             "'{}' is truncated: expected {} bytes ({} + {} examples of {} bytes), found {}; run its "
             "pretraining_data stage again",
             f, expected, h_.header_bytes, h_.examples(), h_.row_bytes, size);
    SH_CHECK(size == expected,
             "'{}' has {} bytes after its last example (expected {} bytes in all); it is not a file the "
             "pretraining_data stage wrote, run that stage again",
             f, size - expected, expected);
    SH_CHECK(h_.vocab_size > 0 && in_vocab(h_.pad_id) && in_vocab(h_.cls_id) && in_vocab(h_.sep_id) &&
                 (h_.mask_id == -1 || in_vocab(h_.mask_id)) && (h_.id_bytes == 4 || h_.vocab_size <= 65536),
             "'{}' has a corrupt header: vocab_size {}, pad {}, cls {}, sep {}, mask {} (expected ids inside the "
             "vocabulary); run its pretraining_data stage again",
             f, h_.vocab_size, h_.pad_id, h_.cls_id, h_.sep_id, h_.mask_id);
    h_.tokenizer_spec.assign(reinterpret_cast<const char*>(p) + pretraining::kFixedHeaderBytes, spec_bytes);
    if (o.get<bool>("verify")) {
      const uint32_t crc = pretraining::crc32_update(0, p + h_.header_bytes, size - h_.header_bytes);
      SH_CHECK(crc == h_.payload_crc32,
               "'{}' is corrupt: the CRC-32 of its examples is {:08x}, its header says {:08x}; run its "
               "pretraining_data stage again",
               f, crc, h_.payload_crc32);
    }
    rows_ = p + h_.header_bytes;
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
    std::vector<const unsigned char*> rows(indices.size());
    std::vector<int64_t> lengths(indices.size()), a_lengths(indices.size());
    int64_t longest = 0;
    for (size_t r = 0; r < indices.size(); ++r) {
      const int64_t i = indices[r];
      SH_CHECK(i >= 0 && static_cast<uint64_t>(i) < count,
               "pretraining: example index {} is out of range for split '{}' ({} examples)", i, split, count);
      rows[r] = rows_ + (first + static_cast<uint64_t>(i)) * h_.row_bytes;
      const unsigned char* tail = rows[r] + static_cast<size_t>(h_.max_length) * h_.id_bytes;
      lengths[r] = pretraining::get_u16(tail);
      a_lengths[r] = pretraining::get_u16(tail + 2);
      SH_CHECK(lengths[r] >= 2 && lengths[r] <= h_.max_length && a_lengths[r] + 2 <= lengths[r],
               "'{}': example {} of split '{}' is corrupt (length {}, segment A {} tokens, max_length {}); run its "
               "pretraining_data stage again",
               path_.string(), i, split, lengths[r], a_lengths[r], h_.max_length);
      longest = std::max(longest, lengths[r]);
    }
    auto input_ids = torch::full({b, longest}, static_cast<int64_t>(h_.pad_id), torch::kInt64);
    auto mask = torch::zeros({b, longest}, torch::kInt64);
    auto types = torch::zeros({b, longest}, torch::kInt64);
    int64_t* ids_p = input_ids.data_ptr<int64_t>();
    int64_t* mask_p = mask.data_ptr<int64_t>();
    int64_t* type_p = types.data_ptr<int64_t>();
    Batch out;
    out.ids.reserve(indices.size());
    for (size_t r = 0; r < indices.size(); ++r) {
      const int64_t off = static_cast<int64_t>(r) * longest;
      for (int64_t j = 0; j < lengths[r]; ++j) {
        const unsigned char* q = rows[r] + j * h_.id_bytes;
        const int64_t id = h_.id_bytes == 2 ? pretraining::get_u16(q) : pretraining::get_u32(q);
        SH_CHECK(id < h_.vocab_size,
                 "'{}': example {} of split '{}' holds id {} at position {}, outside the vocabulary of {}; run its "
                 "pretraining_data stage again",
                 path_.string(), indices[r], split, id, j, h_.vocab_size);
        ids_p[off + j] = id;
        mask_p[off + j] = 1;
        type_p[off + j] = j >= a_lengths[r] + 2 ? 1 : 0;
      }
      out.ids.push_back(fmt::format("{}:{}", split, indices[r]));
    }
    out.set("input_ids", input_ids);
    out.set("attention_mask", mask);
    out.set("token_type_ids", types);
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
  bool in_vocab(int32_t id) const { return id >= 0 && id < h_.vocab_size; }

  // (first row, number of rows) of a split.
  std::pair<uint64_t, uint64_t> range(const std::string& split) const {
    if (split == "train") return {0, h_.train_examples};
    if (split == "validation" && h_.validation_examples > 0) return {h_.train_examples, h_.validation_examples};
    throw Error(fmt::format("pretraining: '{}' has no split '{}'; its splits are: {}{}", path_.string(), split,
                            h_.validation_examples > 0 ? "train, validation" : "train",
                            split == "validation" ? " (give its pretraining_data stage validation_fraction > 0)" : ""));
  }

  fs::path path_;
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
