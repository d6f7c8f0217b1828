// SPDX-License-Identifier: Apache-2.0
#include "unicode_tables.h"

#include <algorithm>

namespace stagehand::wordpiece::unicode {

extern const size_t kDecompositionCount;
extern const size_t kLowercaseCount;
#include "unicode_tables.inc"

namespace {

int lookup(const Mapping* table, size_t count, char32_t c, char32_t* out) noexcept {
  const Mapping* end = table + count;
  const Mapping* it = std::lower_bound(table, end, c, [](const Mapping& m, char32_t v) { return m.cp < v; });
  if (it == end || it->cp != c) return 0;
  for (int i = 0; i < it->length; ++i) out[i] = kPool[it->offset + i];
  return it->length;
}

// Hangul syllables decompose arithmetically (Unicode chapter 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = 19 * kNCount;

}  // namespace

int decompose(char32_t c, char32_t* out) noexcept {
  if (c >= kSBase && c < kSBase + kSCount) {
    char32_t s = c - kSBase;
    out[0] = kLBase + s / kNCount;
    out[1] = kVBase + (s % kNCount) / kTCount;
    char32_t t = s % kTCount;
    if (t == 0) return 2;
    out[2] = kTBase + t;
    return 3;
  }
  return lookup(kDecompositions, kDecompositionCount, c, out);
}

int to_lower(char32_t c, char32_t* out) noexcept { return lookup(kLowercase, kLowercaseCount, c, out); }

}  // namespace stagehand::wordpiece::unicode
