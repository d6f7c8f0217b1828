// SPDX-License-Identifier: Apache-2.0
#include "byte_level.h"

#include <algorithm>

namespace stagehand::bpe {
namespace {

struct Run {
  char32_t first, last;
  CodepointClass cls;
};

constexpr Run kRuns[] = {
#include "codepoint_classes.inc"
};

struct AsciiTable {
  std::array<CodepointClass, 128> cls{};
  AsciiTable() {
    for (char32_t c = 0; c < 128; ++c) {
      const Run* r = std::upper_bound(std::begin(kRuns), std::end(kRuns), c,
                                      [](char32_t v, const Run& run) { return v < run.first; });
      cls[c] = (r - 1)->cls;
    }
  }
};

// One UTF-8 sequence at text[i]: the code point and its length, or (valid false) the length of the maximal
// ill-formed part that starts there (at least 1).
struct Decoded {
  char32_t cp;
  uint32_t len;
  bool valid;
};

Decoded decode_at(std::string_view text, size_t i) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (b0 < 0x80) return {b0, 1, true};
  uint32_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  char32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return {0xFFFD, 1, false};
  }
  uint32_t len = 1;
  for (uint32_t k = 0; k < need; ++k) {
    if (i + len >= text.size()) return {0xFFFD, len, false};
    const auto b = static_cast<unsigned char>(text[i + len]);
    if (b < (k == 0 ? lo : 0x80) || b > (k == 0 ? hi : 0xBF)) return {0xFFFD, len, false};
    cp = (cp << 6) | (b & 0x3F);
    ++len;
  }
  return {cp, len, true};
}

bool is_byte_printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); }

struct SymbolTables {
  std::array<char32_t, 256> to_symbol{};
  std::array<std::string, 256> spelling;
  std::array<int16_t, 0x144> to_byte{};  // symbols are below U+0144
  SymbolTables() {
    to_byte.fill(-1);
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      to_symbol[b] = is_byte_printable(b) ? static_cast<char32_t>(b) : next++;
      append_utf8(to_symbol[b], spelling[b]);
      to_byte[to_symbol[b]] = static_cast<int16_t>(b);
    }
  }
};

const SymbolTables& tables() {
  static const SymbolTables t;
  return t;
}

bool is_contraction(const std::vector<Char>& c, size_t i, size_t last, size_t& len) {
  if (c[i].cp != U'\'' || i + 1 >= last) return false;
  const char32_t a = c[i + 1].cp;
  if (a == U's' || a == U't' || a == U'm' || a == U'd') return len = 2, true;
  if (i + 2 >= last) return false;
  const char32_t b = c[i + 2].cp;
  if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l')) return len = 3, true;
  return false;
}

}  // namespace

CodepointClass codepoint_class(char32_t cp) {
  static const AsciiTable ascii;
  if (cp < 128) return ascii.cls[cp];
  if (cp > 0x10FFFF) return CodepointClass::kOther;
  const Run* r = std::upper_bound(std::begin(kRuns), std::end(kRuns), cp,
                                  [](char32_t v, const Run& run) { return v < run.first; });
  return (r - 1)->cls;
}

void decode_utf8(std::string_view text, uint32_t begin, uint32_t end, std::vector<Char>& out) {
  for (size_t i = begin; i < end;) {
    Decoded d = decode_at(text.substr(0, end), i);
    Char c;
    c.cp = d.cp;
    c.begin = static_cast<uint32_t>(i);
    c.len = d.len;
    c.cls = d.valid ? codepoint_class(d.cp) : CodepointClass::kOther;
    out.push_back(c);
    i += d.len;
  }
}

void split_gpt2(const std::vector<Char>& c, size_t first, size_t last,
                std::vector<std::pair<uint32_t, uint32_t>>& out) {
  using CC = CodepointClass;
  size_t i = first;
  while (i < last) {
    size_t len = 0;
    if (is_contraction(c, i, last, len)) {
      out.emplace_back(i, i + len);
      i += len;
      continue;
    }
    // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional U+0020, then a run of one class.
    const size_t k = (c[i].cp == U' ' && i + 1 < last && c[i + 1].cls != CC::kSpace) ? i + 1 : i;
    const CC cls = c[k].cls;
    size_t j = k;
    while (j < last && c[j].cls == cls) ++j;
    if (cls != CC::kSpace) {
      out.emplace_back(i, j);
      i = j;
      continue;
    }
    // "\s+(?!\S)": the run of white space, less its last character when something other follows; "\s+" when
    // that leaves nothing.
    const size_t end = (j == last || j - i == 1) ? j : j - 1;
    out.emplace_back(i, end);
    i = end;
  }
}

const std::array<char32_t, 256>& byte_to_symbol() { return tables().to_symbol; }

std::string symbols_of(std::string_view bytes) {
  const SymbolTables& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes) out += t.spelling[static_cast<unsigned char>(b)];
  return out;
}

bool bytes_of(std::string_view token, std::string& out) {
  const SymbolTables& t = tables();
  for (size_t i = 0; i < token.size();) {
    Decoded d = decode_at(token, i);
    if (!d.valid || d.cp >= t.to_byte.size() || t.to_byte[d.cp] < 0) return false;
    out += static_cast<char>(t.to_byte[d.cp]);
    i += d.len;
  }
  return true;
}

std::string lossy_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    Decoded d = decode_at(bytes, i);
    if (d.valid)
      out.append(bytes.substr(i, d.len));
    else
      out += "\xEF\xBF\xBD";
    i += d.len;
  }
  return out;
}

void append_utf8(char32_t c, std::string& s) {
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
}

}  // namespace stagehand::bpe
