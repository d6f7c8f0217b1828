// SPDX-License-Identifier: Apache-2.0
// The stagehand pre-training example file (`examples.bin`), written by the `pretraining_data` stage and
// memory-mapped by the `pretraining` dataset (whose pretraining_check.h validates it). Header-only and free of
// LibTorch, so that fuzz/fuzz_pretraining.cpp compiles it without the SDK library. Every integer is little-endian,
// whatever the host.
//
//   offset  size  field
//   0       8     magic "SHPRETR1"
//   8       4     u32 format version (1)
//   12      4     u32 header_bytes: offset of the first row (a multiple of 8)
//   16      4     u32 max_length: ids per row ([CLS]/[SEP] included), 5..65535
//   20      4     u32 id_bytes: 2 (the vocabulary fits in uint16) or 4
//   24      4     u32 row_bytes = max_length * id_bytes + 4
//   28      4     u32 payload CRC-32 (IEEE 802.3 / zlib polynomial) of every byte from header_bytes to the end
//   32      8     u64 train examples
//   40      8     u64 validation examples
//   48      4     i32 vocab_size
//   52      4     i32 pad_id
//   56      4     i32 cls_id
//   60      4     i32 sep_id
//   64      4     i32 mask_id (-1: the vocabulary has none)
//   68      4     i32 unk_id (-1: none)
//   72      4     u32 spec_bytes: length of the tokenizer spec that follows
//   76      n     the tokenizer's spec as YAML (UTF-8), file paths relative to the folder of examples.bin
//   76+n          zero bytes up to header_bytes
//
// Then the rows, fixed size: the train examples, then the validation examples. Row i starts at
// header_bytes + i * row_bytes and holds
//   max_length ids (id_bytes each, unsigned; positions from `length` on hold pad_id)
//   u16 length:   tokens of the example, [CLS] and [SEP]s included (2..max_length)
//   u16 a_length: tokens of segment A, specials excluded; positions [0, a_length + 2) have segment id 0 and
//                 [a_length + 2, length) segment id 1 (none when length == a_length + 2: one segment).
// Fixed rows make every example readable at O(1) from any position: shuffling and resuming never replay data.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace stagehand::pretraining {

inline constexpr char kMagic[8] = {'S', 'H', 'P', 'R', 'E', 'T', 'R', '1'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kFixedHeaderBytes = 76;
inline constexpr uint32_t kMaxMaxLength = 65535;  // lengths are stored as uint16

struct FileHeader {
  uint32_t version = kFormatVersion;
  uint32_t header_bytes = 0;
  uint32_t max_length = 0;
  uint32_t id_bytes = 2;
  uint32_t row_bytes = 0;
  uint32_t payload_crc32 = 0;
  uint64_t train_examples = 0;
  uint64_t validation_examples = 0;
  int32_t vocab_size = 0;
  int32_t pad_id = -1, cls_id = -1, sep_id = -1, mask_id = -1, unk_id = -1;
  std::string tokenizer_spec;  // YAML

  uint64_t examples() const { return train_examples + validation_examples; }
  /// header_bytes for this spec: the fixed part and the spec, rounded up to a multiple of 8.
  uint32_t computed_header_bytes() const {
    return static_cast<uint32_t>((kFixedHeaderBytes + tokenizer_spec.size() + 7) / 8 * 8);
  }
};

// ---- little-endian encoding, independent of the host's byte order
inline void put_u16(unsigned char* p, uint16_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
}
inline void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void put_u64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline uint16_t get_u16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t get_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// The header bytes (header_bytes of them, padding included).
inline std::string encode_header(const FileHeader& h) {
  std::string out(h.header_bytes, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  std::memcpy(p, kMagic, 8);
  put_u32(p + 8, h.version);
  put_u32(p + 12, h.header_bytes);
  put_u32(p + 16, h.max_length);
  put_u32(p + 20, h.id_bytes);
  put_u32(p + 24, h.row_bytes);
  put_u32(p + 28, h.payload_crc32);
  put_u64(p + 32, h.train_examples);
  put_u64(p + 40, h.validation_examples);
  put_u32(p + 48, static_cast<uint32_t>(h.vocab_size));
  put_u32(p + 52, static_cast<uint32_t>(h.pad_id));
  put_u32(p + 56, static_cast<uint32_t>(h.cls_id));
  put_u32(p + 60, static_cast<uint32_t>(h.sep_id));
  put_u32(p + 64, static_cast<uint32_t>(h.mask_id));
  put_u32(p + 68, static_cast<uint32_t>(h.unk_id));
  put_u32(p + 72, static_cast<uint32_t>(h.tokenizer_spec.size()));
  std::memcpy(p + kFixedHeaderBytes, h.tokenizer_spec.data(), h.tokenizer_spec.size());
  return out;
}

/// Decodes the fixed part (the caller has checked that kFixedHeaderBytes are there and the magic matches).
inline FileHeader decode_fixed_header(const unsigned char* p) {
  FileHeader h;
  h.version = get_u32(p + 8);
  h.header_bytes = get_u32(p + 12);
  h.max_length = get_u32(p + 16);
  h.id_bytes = get_u32(p + 20);
  h.row_bytes = get_u32(p + 24);
  h.payload_crc32 = get_u32(p + 28);
  h.train_examples = get_u64(p + 32);
  h.validation_examples = get_u64(p + 40);
  h.vocab_size = static_cast<int32_t>(get_u32(p + 48));
  h.pad_id = static_cast<int32_t>(get_u32(p + 52));
  h.cls_id = static_cast<int32_t>(get_u32(p + 56));
  h.sep_id = static_cast<int32_t>(get_u32(p + 60));
  h.mask_id = static_cast<int32_t>(get_u32(p + 64));
  h.unk_id = static_cast<int32_t>(get_u32(p + 68));
  return h;
}

/// CRC-32 as zlib's crc32() computes it (reflected polynomial 0xEDB88320, initial and final xor 0xFFFFFFFF),
/// continued across calls: crc = crc32_update(crc, ...) starting from 0.
inline uint32_t crc32_update(uint32_t crc, const void* data, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

}  // namespace stagehand::pretraining
