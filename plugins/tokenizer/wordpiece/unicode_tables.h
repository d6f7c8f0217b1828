// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Character facts for BERT normalization, as the Rust `tokenizers` library sees them. The data comes from
/// gen_unicode_tables.py (see there for how it differs from plain Unicode 14 data and why).
#include <cstddef>
#include <cstdint>

namespace stagehand::wordpiece::unicode {

enum Flag : uint8_t {
  kRemove = 1,   ///< dropped by text cleaning (NUL, U+FFFD, control and format characters)
  kSpace = 2,    ///< whitespace: becomes a word boundary
  kPunct = 4,    ///< punctuation: becomes a word of its own
  kMark = 8,     ///< non-spacing mark: dropped when stripping accents
  kDecomp = 16,  ///< has a canonical decomposition
  kLower = 32,   ///< has a lower-case mapping
  kCjk = 64,     ///< CJK ideograph: surrounded by spaces when tokenizing Chinese characters
};

struct CharProps {
  uint8_t flags;
  uint8_t ccc;  ///< canonical combining class
};

struct Mapping {
  char32_t cp;
  uint16_t offset;  ///< into kPool
  uint8_t length;
};

constexpr int kBlockShift = 7;  // must match BLOCK in gen_unicode_tables.py
extern const CharProps kProps[];
extern const uint16_t kStage1[];
extern const uint8_t kStage2[];

inline CharProps props(char32_t c) noexcept {
  if (c > 0x10FFFF) return kProps[0];
  uint32_t block = kStage1[c >> kBlockShift];
  return kProps[kStage2[(block << kBlockShift) | (c & ((1u << kBlockShift) - 1))]];
}

/// Full canonical decomposition of `c` (Hangul syllables included) into `out` (room for 4); returns the
/// number of code points written, 0 when `c` does not decompose.
int decompose(char32_t c, char32_t* out) noexcept;
/// Full lower-case mapping of `c` into `out` (room for 3); returns the number written, 0 when unchanged.
int to_lower(char32_t c, char32_t* out) noexcept;

}  // namespace stagehand::wordpiece::unicode
