// SPDX-License-Identifier: Apache-2.0
#include "albert_text.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <stagehand/error.h>

#include "lowercase.h"

namespace stagehand::spm {
namespace {

struct CodePoint {
  UChar32 c;
  uint32_t begin, end;  ///< bytes in the original
};

/// The code points of `text` with their byte spans (malformed bytes become U+FFFD, one byte each).
std::vector<CodePoint> code_points(std::string_view text, uint32_t base) {
  std::vector<CodePoint> out;
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const auto n = static_cast<int32_t>(text.size());
  for (int32_t i = 0; i < n;) {
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(s, i, n, c);
    if (c < 0) c = 0xFFFD;
    out.push_back({c, base + static_cast<uint32_t>(start), base + static_cast<uint32_t>(i)});
  }
  return out;
}

/// Python's str.split() white space, as near as ICU says it: the White_Space property.
bool is_space(UChar32 c) { return c == ' ' || (c >= 0x09 && c <= 0x0D) || u_isUWhiteSpace(c); }

void append(Normalized& out, UChar32 c, const CodePoint& from) {
  char buf[4];
  int32_t len = 0;
  U8_APPEND_UNSAFE(buf, len, c);
  for (int32_t k = 0; k < len; ++k) {
    out.text.push_back(buf[k]);
    out.begin.push_back(from.begin);
    out.end.push_back(from.end);
  }
}

/// remove_space: the words of the text joined by single spaces (Python's " ".join(text.strip().split())).
std::vector<CodePoint> collapse_spaces(const std::vector<CodePoint>& in) {
  std::vector<CodePoint> out;
  bool pending = false;
  for (const auto& cp : in) {
    if (is_space(cp.c)) {
      pending = !out.empty();
      continue;
    }
    if (pending) out.push_back({' ', cp.begin, cp.begin});
    pending = false;
    out.push_back(cp);
  }
  return out;
}

/// `` and '' -> " (AlbertTokenizer.preprocess_text's replacements, left to right).
std::vector<CodePoint> albert_quotes(const std::vector<CodePoint>& in) {
  std::vector<CodePoint> out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (i + 1 < in.size() && (in[i].c == '`' || in[i].c == '\'') && in[i + 1].c == in[i].c) {
      out.push_back({'"', in[i].begin, in[i + 1].end});
      ++i;
      continue;
    }
    out.push_back(in[i]);
  }
  return out;
}

/// NFKD, then every combining mark left out (unicodedata.combining(c) != 0).
std::vector<CodePoint> strip_accents(const std::vector<CodePoint>& in) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfkd = icu::Normalizer2::getNFKDInstance(status);
  SH_CHECK(U_SUCCESS(status) && nfkd != nullptr, "sentencepiece: ICU's NFKD normaliser is not available ({})",
           u_errorName(status));
  std::vector<CodePoint> out;
  for (const auto& cp : in) {
    icu::UnicodeString d;
    if (!nfkd->getDecomposition(cp.c, d)) d = icu::UnicodeString(cp.c);
    for (int32_t k = 0; k < d.length();) {
      const UChar32 c = d.char32At(k);
      k += U16_LENGTH(c);
      if (u_getCombiningClass(c) == 0) out.push_back({c, cp.begin, cp.end});
    }
  }
  return out;
}

}  // namespace

Normalized normalize(std::string_view text, uint32_t base, const TextOptions& o) {
  std::vector<CodePoint> cps = code_points(text, base);
  if (o.remove_space) cps = collapse_spaces(cps);
  if (o.albert_quirks) cps = albert_quotes(cps);
  if (!o.keep_accents) cps = strip_accents(cps);
  Normalized out;
  for (const auto& cp : cps)
    append(out, o.lowercase && cp.c >= 0 ? static_cast<UChar32>(lower_code_point(static_cast<uint32_t>(cp.c))) : cp.c,
           cp);
  return out;
}

std::vector<Segment> split_special(std::string_view text, const std::vector<std::string>& tokens,
                                   const std::vector<bool>& lstrip) {
  std::vector<Segment> out;
  uint32_t start = 0;
  for (uint32_t i = 0; i < text.size();) {
    int best = -1;
    for (size_t t = 0; t < tokens.size(); ++t)
      if (!tokens[t].empty() && text.compare(i, tokens[t].size(), tokens[t]) == 0 &&
          (best < 0 || tokens[t].size() > tokens[static_cast<size_t>(best)].size()))
        best = static_cast<int>(t);
    if (best < 0) {
      ++i;
      continue;
    }
    uint32_t left_end = i;
    if (lstrip[static_cast<size_t>(best)])
      while (left_end > start && is_space(static_cast<unsigned char>(text[left_end - 1]))) --left_end;
    if (left_end > start) out.push_back({start, left_end, -1});
    const auto len = static_cast<uint32_t>(tokens[static_cast<size_t>(best)].size());
    out.push_back({i, i + len, best});
    i += len;
    start = i;
  }
  if (start < text.size()) out.push_back({start, static_cast<uint32_t>(text.size()), -1});
  return out;
}

bool digit_comma(std::string_view piece) {
  const auto* s = reinterpret_cast<const uint8_t*>(piece.data());
  const auto n = static_cast<int32_t>(piece.size());
  if (n < 2 || piece.back() != ',') return false;
  int32_t i = n - 1;
  UChar32 c;
  U8_PREV(s, 0, i, c);  // the code point before the comma
  if (c < 0) return false;
  // Python's str.isdigit(): Numeric_Type Decimal or Digit (so superscript two counts, as it does there).
  const auto type = u_getIntPropertyValue(c, UCHAR_NUMERIC_TYPE);
  return type == U_NT_DECIMAL || type == U_NT_DIGIT;
}

}  // namespace stagehand::spm
