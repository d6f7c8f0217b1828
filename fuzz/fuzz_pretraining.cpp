// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: opening a pre-training examples file (pretraining_check.h), as the `pretraining` dataset does
// with whatever examples.bin it is given: the header against the file's size, with and without the CRC-32, then
// every example (at most 4096) row by row and token by token. Any input must be refused with a stagehand::Error or
// read entirely inside its bytes (AddressSanitizer watches a buffer of exactly the input's size); an accepted file
// gives lengths and ids inside the header's limits.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "pretraining_check.h"

namespace pt = stagehand::pretraining;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes, so that any read past the end is a heap overflow ASan reports.
  std::unique_ptr<unsigned char[]> bytes(new unsigned char[size ? size : 1]);
  if (size) std::memcpy(bytes.get(), data, size);
  for (bool verify : {false, true}) {
    pt::FileHeader h;
    try {
      h = pt::check_header(bytes.get(), size, "fuzz.bin", verify);
    } catch (const stagehand::Error&) {
      continue;
    }
    if (h.header_bytes > size || h.examples() * h.row_bytes != size - h.header_bytes) __builtin_trap();
    const unsigned char* rows = bytes.get() + h.header_bytes;
    const uint64_t n = h.examples() < 4096 ? h.examples() : 4096;
    for (uint64_t i = 0; i < n; ++i) {
      try {
        const pt::Row r = pt::row_at(h, rows, i, "fuzz.bin", "train", static_cast<int64_t>(i));
        if (r.length < 2 || r.length > h.max_length || r.a_length + 2 > r.length) __builtin_trap();
        for (int64_t j = 0; j < r.length; ++j)
          if (pt::id_at(h, r, j, "fuzz.bin", "train", static_cast<int64_t>(i)) >= h.vocab_size) __builtin_trap();
      } catch (const stagehand::Error&) {
      }
    }
    try {
      (void)pt::row_at(h, rows, h.examples(), "fuzz.bin", "train", static_cast<int64_t>(h.examples()));
      __builtin_trap();  // must be refused
    } catch (const stagehand::Error&) {
    }
  }
  return 0;
}
