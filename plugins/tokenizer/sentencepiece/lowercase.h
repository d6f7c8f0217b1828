// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Lowercasing for `lowercase: true` (ALBERT's do_lower_case), shared by the plugin (encoding) and the
/// bridge (training) so both see the same text. Plain C++ with no dependency on purpose: it is compiled
/// into the bridge too.
///
/// Only capitals whose lowercase form has the same UTF-8 length are mapped (ASCII, Latin-1, Latin
/// Extended-A, Greek, Cyrillic), so byte offsets computed on the lowered text are valid in the original.
/// Everything else, including malformed UTF-8, passes through unchanged.
#include <cstdint>
#include <string>
#include <string_view>

namespace stagehand::spm {

inline uint32_t lower_code_point(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 0x20;
  if (c < 0xC0) return c;
  // Latin-1: À..Þ except the multiplication sign.
  if (c <= 0xDE) return c == 0xD7 ? c : c + 0x20;
  // Latin Extended-A pairs capital/small on even/odd code points, with three runs the other way round.
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;  // İ ı ĸ ŉ ſ
    const bool odd_capitals = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (c == 0x178) return 0xFF;  // Ÿ -> ÿ
    return odd_capitals ? (c % 2 == 1 ? c + 1 : c) : (c % 2 == 0 ? c + 1 : c);
  }
  // Greek capitals (no capital at U+03A2).
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 0x20;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 0x3F;
  // Cyrillic: Ѐ..Џ and А..Я.
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  return c;
}

inline std::string lowercase_utf8(std::string_view text) {
  std::string out(text);
  for (size_t i = 0; i < out.size();) {
    const auto b0 = static_cast<unsigned char>(out[i]);
    if (b0 < 0x80) {
      if (b0 >= 'A' && b0 <= 'Z') out[i] = static_cast<char>(b0 + 0x20);
      ++i;
      continue;
    }
    // Only two-byte sequences can change (every mapped capital above is below U+0800).
    if ((b0 & 0xE0) == 0xC0 && i + 1 < out.size()) {
      const auto b1 = static_cast<unsigned char>(out[i + 1]);
      if ((b1 & 0xC0) == 0x80) {
        const uint32_t c = (static_cast<uint32_t>(b0 & 0x1F) << 6) | (b1 & 0x3F);
        const uint32_t l = lower_code_point(c);
        if (l != c && l >= 0x80 && l < 0x800) {
          out[i] = static_cast<char>(0xC0 | (l >> 6));
          out[i + 1] = static_cast<char>(0x80 | (l & 0x3F));
        }
        i += 2;
        continue;
      }
    }
    ++i;
  }
  return out;
}

}  // namespace stagehand::spm
