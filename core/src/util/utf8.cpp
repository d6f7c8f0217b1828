// SPDX-License-Identifier: Apache-2.0
#include "stagehand/utf8.h"

#include <cstdint>

#include <fmt/format.h>

namespace stagehand {

size_t invalid_utf8_at(std::string_view text, bool controls) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = p[i];
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      if (controls && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)) return i;
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string::npos;
}

std::string utf8_problem(std::string_view text) {
  const size_t bad = invalid_utf8_at(text);
  if (bad == std::string::npos) return {};
  return fmt::format("not valid UTF-8 (its byte {} is 0x{:02x}); re-save the file as UTF-8 (e.g. iconv -f latin1 -t "
                     "utf-8 FILE)",
                     bad + 1, static_cast<unsigned char>(text[bad]));
}

}  // namespace stagehand
