// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BERT normalization and pre-tokenization in one pass over UTF-8 text, with the semantics of the Rust
/// `tokenizers` BertNormalizer followed by BertPreTokenizer:
///   1. clean: drop NUL, U+FFFD, control and format characters; whitespace becomes a boundary;
///   2. CJK ideographs become words of their own (tokenize_chinese_chars);
///   3. strip accents: canonical decomposition (NFD, with canonical reordering), then drop Mn marks;
///   4. lower-case (full mapping, character by character);
///   5. split on whitespace, and split every punctuation character off as a word of its own.
/// Every normalized character keeps the byte span of the original character it came from, assigned the way
/// tokenizers' alignment tracking does (positionally through NFD reordering), so token offsets match.
/// Optionally, special-token spellings that occur verbatim in the text are matched first and come out as
/// words of their own (Hugging Face does this for special tokens present in the vocabulary).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "unicode_tables.h"

namespace stagehand::wordpiece {

struct NormalizerOptions {
  bool lowercase = true;
  bool strip_accents = true;
  bool tokenize_chinese_chars = true;
};

/// One normalized character of a word: its byte offset in the word's normalized text and the byte span
/// [begin, end) of the original character it came from.
struct CharSpan {
  uint32_t pos;
  int32_t begin;
  int32_t end;
};

/// A pre-tokenized word. `chars` has `size + 1` entries; the last one only carries `pos == text.size()`.
struct Word {
  std::string_view text;
  const CharSpan* chars;
  int32_t size;
  int32_t begin() const { return chars[0].begin; }
  int32_t end() const { return chars[size - 1].end; }
};

/// Decodes one UTF-8 sequence at `p` (n > 0 bytes available). Invalid or truncated sequences decode as
/// U+FFFD covering one byte, which cleaning then drops, as a lossy UTF-8 conversion followed by BERT
/// cleaning would.
inline size_t decode_utf8(const unsigned char* p, size_t n, char32_t* out) noexcept {
  unsigned char b0 = p[0];
  if (b0 < 0x80) {
    *out = b0;
    return 1;
  }
  auto cont = [&](size_t i) { return i < n && (p[i] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (cont(1)) {
      *out = (char32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
      return 2;
    }
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (cont(1) && cont(2)) {
      char32_t c = (char32_t(b0 & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
      if (c >= 0x800 && (c < 0xD800 || c > 0xDFFF)) {
        *out = c;
        return 3;
      }
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (cont(1) && cont(2) && cont(3)) {
      char32_t c = (char32_t(b0 & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) | (char32_t(p[2] & 0x3F) << 6) |
                   (p[3] & 0x3F);
      if (c >= 0x10000 && c <= 0x10FFFF) {
        *out = c;
        return 4;
      }
    }
  }
  *out = 0xFFFD;
  return 1;
}

inline void append_utf8(std::string& s, char32_t c) {
  if (c < 0x80) {
    s.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    char b[2] = {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
    s.append(b, 2);
  } else if (c < 0x10000) {
    char b[3] = {static_cast<char>(0xE0 | (c >> 12)), static_cast<char>(0x80 | ((c >> 6) & 0x3F)),
                 static_cast<char>(0x80 | (c & 0x3F))};
    s.append(b, 3);
  } else {
    char b[4] = {static_cast<char>(0xF0 | (c >> 18)), static_cast<char>(0x80 | ((c >> 12) & 0x3F)),
                 static_cast<char>(0x80 | ((c >> 6) & 0x3F)), static_cast<char>(0x80 | (c & 0x3F))};
    s.append(b, 4);
  }
}

class BertPreTokenizer {
 public:
  /// `specials`: spellings matched verbatim in the raw text (leftmost, then longest); empty ones are ignored.
  explicit BertPreTokenizer(NormalizerOptions options = {}, std::vector<std::string> specials = {})
      : options_(options), specials_(std::move(specials)) {
    for (bool& b : special_first_) b = false;
    for (const std::string& s : specials_)
      if (!s.empty()) special_first_[static_cast<unsigned char>(s[0])] = true;
  }

  const NormalizerOptions& options() const { return options_; }
  const std::vector<std::string>& specials() const { return specials_; }

  /// Calls `sink.word(const Word&)` for every word and `sink.special(index, begin, end)` for every matched
  /// special token, in text order.
  template <class Sink>
  void run(std::string_view text, Sink& sink) const {
    Pass<Sink> pass(*this, sink);
    pass.run(text);
  }

 private:
  template <class Sink>
  class Pass {
   public:
    Pass(const BertPreTokenizer& owner, Sink& sink) : o_(owner.options_), owner_(owner), sink_(sink) {}

    void run(std::string_view text) {
      const auto* p = reinterpret_cast<const unsigned char*>(text.data());
      const size_t n = text.size();
      const bool match_specials = !owner_.specials_.empty();
      size_t i = 0;
      while (i < n) {
        unsigned char b = p[i];
        if (match_specials && owner_.special_first_[b]) {
          size_t len = 0;
          int k = owner_.match_special(text, i, &len);
          if (k >= 0) {
            boundary();
            sink_.special(k, static_cast<int32_t>(i), static_cast<int32_t>(i + len));
            i += len;
            continue;
          }
        }
        if (b < 0x80) {
          ascii(b, static_cast<int32_t>(i));
          ++i;
          continue;
        }
        char32_t c;
        size_t len = decode_utf8(p + i, n - i, &c);
        other(c, static_cast<int32_t>(i), static_cast<int32_t>(i + len));
        i += len;
      }
      boundary();
    }

   private:
    struct Span {
      int32_t begin, end;
    };
    struct Item {  // a decomposed character waiting in a run of non-starters
      char32_t cp;
      uint8_t ccc;
      bool consumes;  // first character of its original character's decomposition
      bool drop;      // a mark removed by accent stripping
    };
    struct NormChar {
      char32_t cp;
      int32_t begin, end;
    };

    void ascii(unsigned char b, int32_t at) {
      unicode::CharProps pr = unicode::props(b);
      if (pr.flags & unicode::kRemove) return;
      if (pr.flags & unicode::kSpace) {
        boundary();
        return;
      }
      if (!run_.empty()) close_run();
      char32_t c = (o_.lowercase && b >= 'A' && b <= 'Z') ? char32_t(b | 0x20) : char32_t(b);
      last_ = Span{at, at + 1};
      if (pr.flags & unicode::kPunct) {
        flush_word();
        word_.push_back(NormChar{c, at, at + 1});
        flush_word();
      } else {
        word_.push_back(NormChar{c, at, at + 1});
      }
    }

    void other(char32_t c, int32_t begin, int32_t end) {
      unicode::CharProps pr = unicode::props(c);
      if (pr.flags & unicode::kRemove) return;
      if (pr.flags & unicode::kSpace) {
        boundary();
        return;
      }
      const bool cjk = o_.tokenize_chinese_chars && (pr.flags & unicode::kCjk);
      if (cjk) boundary();
      const Span span{begin, end};
      if (!o_.strip_accents) {
        emit(c, pr, span);
      } else {
        char32_t buf[4] = {c};
        int m = (pr.flags & unicode::kDecomp) ? unicode::decompose(c, buf) : 1;
        for (int k = 0; k < m; ++k) {
          unicode::CharProps dp = buf[k] == c ? pr : unicode::props(buf[k]);
          const bool consumes = k == 0;
          const bool drop = (dp.flags & unicode::kMark) != 0;
          if (dp.ccc == 0) {
            if (!run_.empty()) close_run();
            if (consumes) last_ = span;
            if (!drop) emit(buf[k], dp, last_);
          } else {
            // Canonical ordering: a stable insertion sort by combining class within the run.
            size_t at = run_.size();
            while (at > 0 && run_[at - 1].ccc > dp.ccc) --at;
            run_.insert(run_.begin() + static_cast<std::ptrdiff_t>(at), Item{buf[k], dp.ccc, consumes, drop});
            if (consumes) run_spans_.push_back(span);
          }
        }
      }
      if (cjk) boundary();
    }

    // tokenizers assigns spans positionally through NFD: the k-th character that starts a decomposition
    // (in output order) takes the k-th original span, the others share the last span taken.
    void close_run() {
      size_t r = 0;
      for (const Item& it : run_) {
        if (it.consumes) last_ = run_spans_[r++];
        if (!it.drop) emit(it.cp, unicode::props(it.cp), last_);
      }
      run_.clear();
      run_spans_.clear();
    }

    void emit(char32_t c, unicode::CharProps pr, Span span) {
      if (o_.lowercase && (pr.flags & unicode::kLower)) {
        char32_t low[3];
        int m = unicode::to_lower(c, low);
        for (int k = 0; k < m; ++k) place(low[k], unicode::props(low[k]), span);
      } else {
        place(c, pr, span);
      }
    }

    void place(char32_t c, unicode::CharProps pr, Span span) {
      if (pr.flags & unicode::kSpace) {
        flush_word();
      } else if (pr.flags & unicode::kPunct) {
        flush_word();
        word_.push_back(NormChar{c, span.begin, span.end});
        flush_word();
      } else {
        word_.push_back(NormChar{c, span.begin, span.end});
      }
    }

    void boundary() {
      if (!run_.empty()) close_run();
      flush_word();
    }

    void flush_word() {
      if (word_.empty()) return;
      text_.clear();
      spans_.clear();
      for (const NormChar& nc : word_) {
        spans_.push_back(CharSpan{static_cast<uint32_t>(text_.size()), nc.begin, nc.end});
        append_utf8(text_, nc.cp);
      }
      spans_.push_back(CharSpan{static_cast<uint32_t>(text_.size()), 0, 0});
      Word w{text_, spans_.data(), static_cast<int32_t>(word_.size())};
      word_.clear();
      sink_.word(w);
    }

    const NormalizerOptions& o_;
    const BertPreTokenizer& owner_;
    Sink& sink_;
    std::vector<NormChar> word_;
    std::vector<Item> run_;
    std::vector<Span> run_spans_;
    Span last_{0, 0};
    std::string text_;
    std::vector<CharSpan> spans_;
  };

  int match_special(std::string_view text, size_t at, size_t* len) const {
    int best = -1;
    for (size_t k = 0; k < specials_.size(); ++k) {
      const std::string& s = specials_[k];
      if (s.empty() || s.size() <= *len) continue;
      if (text.compare(at, s.size(), s) == 0) {
        best = static_cast<int>(k);
        *len = s.size();
      }
    }
    return best;
  }

  NormalizerOptions options_;
  std::vector<std::string> specials_;
  bool special_first_[256];
};

}  // namespace stagehand::wordpiece
