// SPDX-License-Identifier: Apache-2.0
// Validating an `examples.bin` (pretraining_format.h) before any of it is used: the header against the file's
// size, and each row as it is read. Tensor-free and header-only: the `pretraining` dataset and
// fuzz/fuzz_pretraining.cpp include it. A file that passes check_header() can have every row read (row_at()) without
// reading outside it, whatever its bytes.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include <stagehand/error.h>

#include <stagehand/sdk/pretraining_format.h>

namespace stagehand::pretraining {

/// The header of the `size` bytes at `p` (the file `name`), checked; with `verify`, the payload's CRC-32 too.
inline FileHeader check_header(const unsigned char* p, size_t size, const std::string& name, bool verify) {
  const std::string& f = name;
  SH_CHECK(size >= 8 && std::memcmp(p, kMagic, 8) == 0,
           "'{}' is not a stagehand pretraining file (it does not start with \"SHPRETR1\"); give the examples.bin "
           "that a pretraining_data stage wrote",
           f);
  SH_CHECK(size >= kFixedHeaderBytes,
           "'{}' is truncated: expected at least {} bytes of header, found {}; run its pretraining_data stage again", f,
           kFixedHeaderBytes, size);
  FileHeader h = decode_fixed_header(p);
  SH_CHECK(h.version == kFormatVersion,
           "'{}' has pretraining format version {}, this build reads version {}; run its pretraining_data stage "
           "again with this build",
           f, h.version, kFormatVersion);
  const uint32_t spec_bytes = get_u32(p + 72);
  SH_CHECK(h.header_bytes % 8 == 0 && h.header_bytes >= kFixedHeaderBytes + uint64_t{spec_bytes},
           "'{}' has a corrupt header: header size {} cannot hold {} bytes of fields and a {}-byte tokenizer spec; "
           "run its pretraining_data stage again",
           f, h.header_bytes, kFixedHeaderBytes, spec_bytes);
  SH_CHECK(h.max_length >= 2 && h.max_length <= kMaxMaxLength && (h.id_bytes == 2 || h.id_bytes == 4) &&
               h.row_bytes == h.max_length * h.id_bytes + 4,
           "'{}' has a corrupt header: max_length {}, id width {} bytes, row size {} (expected max_length in "
           "2..65535, width 2 or 4, row size max_length * width + 4); run its pretraining_data stage again",
           f, h.max_length, h.id_bytes, h.row_bytes);
  // The example counts are 64-bit: a crafted count could make header_bytes + examples * row_bytes wrap around to
  // the file's real size and pass, and rows would then be read far outside the file (found by review while
  // writing fuzz_pretraining). Counts that no file could hold are refused first, by division.
  const uint64_t max_rows = (UINT64_MAX - h.header_bytes) / h.row_bytes;
  SH_CHECK(h.train_examples <= max_rows && h.validation_examples <= max_rows - h.train_examples,
           "'{}' has a corrupt header: {} + {} examples of {} bytes would not fit in any file; run its "
           "pretraining_data stage again",
           f, h.train_examples, h.validation_examples, h.row_bytes);
  const uint64_t expected = h.header_bytes + h.examples() * h.row_bytes;
  SH_CHECK(size >= expected,
           "'{}' is truncated: expected {} bytes ({} + {} examples of {} bytes), found {}; run its "
           "pretraining_data stage again",
           f, expected, h.header_bytes, h.examples(), h.row_bytes, size);
  SH_CHECK(size == expected,
           "'{}' has {} bytes after its last example (expected {} bytes in all); it is not a file the "
           "pretraining_data stage wrote, run that stage again",
           f, size - expected, expected);
  auto in_vocab = [&h](int32_t id) { return id >= 0 && id < h.vocab_size; };
  SH_CHECK(h.vocab_size > 0 && in_vocab(h.pad_id) && in_vocab(h.cls_id) && in_vocab(h.sep_id) &&
               (h.mask_id == -1 || in_vocab(h.mask_id)) && (h.id_bytes == 4 || h.vocab_size <= 65536),
           "'{}' has a corrupt header: vocab_size {}, pad {}, cls {}, sep {}, mask {} (expected ids inside the "
           "vocabulary); run its pretraining_data stage again",
           f, h.vocab_size, h.pad_id, h.cls_id, h.sep_id, h.mask_id);
  h.tokenizer_spec.assign(reinterpret_cast<const char*>(p) + kFixedHeaderBytes, spec_bytes);
  if (verify) {
    const uint32_t crc = crc32_update(0, p + h.header_bytes, size - h.header_bytes);
    SH_CHECK(crc == h.payload_crc32,
             "'{}' is corrupt: the CRC-32 of its examples is {:08x}, its header says {:08x}; run its "
             "pretraining_data stage again",
             f, crc, h.payload_crc32);
  }
  return h;
}

/// One row of a checked file: where it is, and its lengths, checked.
struct Row {
  const unsigned char* ids = nullptr;
  int64_t length = 0, a_length = 0;
};

/// Row `row` (0-based over train then validation) of the file whose rows start at `rows`; errors name it as example
/// `index` of `split` (formatted only when there is an error: this runs for every example of every batch).
inline Row row_at(const FileHeader& h, const unsigned char* rows, uint64_t row, const std::string& name,
                  const std::string& split, int64_t index) {
  SH_CHECK(row < h.examples(), "'{}': example {} of split '{}' is past its last example ({} in all)", name, index,
           split, h.examples());
  Row r;
  r.ids = rows + row * h.row_bytes;
  const unsigned char* tail = r.ids + static_cast<size_t>(h.max_length) * h.id_bytes;
  r.length = get_u16(tail);
  r.a_length = get_u16(tail + 2);
  SH_CHECK(r.length >= 2 && r.length <= h.max_length && r.a_length + 2 <= r.length,
           "'{}': example {} of split '{}' is corrupt (length {}, segment A {} tokens, max_length {}); run its "
           "pretraining_data stage again",
           name, index, split, r.length, r.a_length, h.max_length);
  return r;
}

/// Token `j` (< r.length) of a row, checked against the vocabulary.
inline int64_t id_at(const FileHeader& h, const Row& r, int64_t j, const std::string& name, const std::string& split,
                     int64_t index) {
  const unsigned char* q = r.ids + j * h.id_bytes;
  const int64_t id = h.id_bytes == 2 ? get_u16(q) : get_u32(q);
  SH_CHECK(id < h.vocab_size,
           "'{}': example {} of split '{}' holds id {} at position {}, outside the vocabulary of {}; run its "
           "pretraining_data stage again",
           name, index, split, id, j, h.vocab_size);
  return id;
}

}  // namespace stagehand::pretraining
