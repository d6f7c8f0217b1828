// SPDX-License-Identifier: Apache-2.0
#include "bpe_tokenizer.h"

#include <algorithm>

#include <stagehand/error.h>

#include "byte_level.h"

namespace stagehand::bpe {
namespace {

// White space as tokenizers' added-token stripping sees it (char::is_whitespace; the regex's \s class).
bool is_space(const Char& c) { return c.cls == CodepointClass::kSpace; }

std::vector<Char> chars_of(std::string_view text, uint32_t begin, uint32_t end) {
  std::vector<Char> out;
  decode_utf8(text, begin, end, out);
  return out;
}

// Leading and trailing white-space characters of an added token's span (the span is its token string).
std::pair<uint32_t, uint32_t> span_spaces(std::string_view text, uint32_t begin, uint32_t end) {
  std::vector<Char> cs = chars_of(text, begin, end);
  uint32_t lead = 0, trail = 0;
  while (lead < cs.size() && is_space(cs[lead])) ++lead;
  while (trail < cs.size() && is_space(cs[cs.size() - 1 - trail])) ++trail;
  return {lead, trail};
}

}  // namespace

BpeTokenizer::BpeTokenizer(std::shared_ptr<const BpeModel> model, TokenizerOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  size_ = model_->vocab().size();
  for (const AddedToken& t : options_.added) size_ = std::max(size_, t.id + 1);
  // Longest first: at one position the longest added token wins.
  std::stable_sort(options_.added.begin(), options_.added.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
}

// Cuts the added tokens of one pass out of the text segments: leftmost match first, the longest at one
// position; lstrip/rstrip widen a match over white space, never past the previous cut.
void BpeTokenizer::split_added(std::string_view text, bool normalized, std::vector<Segment>& segments) const {
  std::vector<Segment> out;
  for (const Segment& s : segments) {
    if (s.added >= 0) {
      out.push_back(s);
      continue;
    }
    uint32_t cut = s.begin;
    for (uint32_t p = s.begin; p < s.end; ++p) {
      int32_t found = -1;
      for (size_t k = 0; k < options_.added.size() && found < 0; ++k) {
        const AddedToken& t = options_.added[k];
        if (t.normalized == normalized && !t.content.empty() && t.content.size() <= s.end - p &&
            text.compare(p, t.content.size(), t.content) == 0)
          found = static_cast<int32_t>(k);
      }
      if (found < 0) continue;
      const AddedToken& t = options_.added[static_cast<size_t>(found)];
      uint32_t start = p, stop = p + static_cast<uint32_t>(t.content.size());
      if (t.lstrip) {
        std::vector<Char> before = chars_of(text, cut, start);
        while (!before.empty() && is_space(before.back())) start = before.back().begin, before.pop_back();
      }
      if (t.rstrip) {
        std::vector<Char> after = chars_of(text, stop, s.end);
        for (size_t i = 0; i < after.size() && is_space(after[i]); ++i) stop = after[i].begin + after[i].len;
      }
      if (start > cut) out.push_back({cut, start, -1});
      out.push_back({start, stop, found});
      cut = stop;
      p = stop - 1;
    }
    if (cut < s.end) out.push_back({cut, s.end, -1});
  }
  segments = std::move(out);
}

// One run of text (no added tokens): pre-tokens by GPT-2's regex, each merged by the model. Every byte of a
// pre-token stands for the code point it belongs to: a token's offsets are the span of the code points its
// bytes come from (the space add_prefix_space adds stands for the first code point).
void BpeTokenizer::tokenize_text(std::string_view text, const Segment& s, int32_t& word, std::vector<Token>& out,
                                 Spaces& spaces) const {
  std::vector<Char> cs;
  cs.reserve(s.end - s.begin + 1);
  if (options_.add_prefix_space && text[s.begin] != ' ') cs.push_back({U' ', s.begin, 0, CodepointClass::kSpace});
  decode_utf8(text, s.begin, s.end, cs);
  const Char& first_real = cs[cs[0].len == 0 ? 1 : 0];
  std::vector<std::pair<uint32_t, uint32_t>> words;
  split_gpt2(cs, 0, cs.size(), words);
  std::string bytes;
  std::vector<std::pair<int32_t, int32_t>> spans;  // per byte of the pre-token: its code point's span
  std::vector<WordPiece> pieces;
  for (const auto& [first, last] : words) {
    bytes.clear();
    spans.clear();
    for (uint32_t i = first; i < last; ++i) {
      const Char& c = cs[i];
      const Char& at = c.len == 0 ? first_real : c;
      const auto span = std::make_pair(static_cast<int32_t>(at.begin), static_cast<int32_t>(at.begin + at.len));
      if (c.len == 0) {
        bytes += ' ';
        spans.push_back(span);
      }
      for (uint32_t k = 0; k < c.len; ++k) {
        bytes += text[c.begin + k];
        spans.push_back(span);
      }
    }
    pieces.clear();
    model_->encode_word(bytes, pieces);
    for (const WordPiece& p : pieces) {
      out.push_back({p.id, spans[p.begin].first, spans[p.begin + p.len - 1].second, word});
      if (!options_.trim_offsets) continue;
      uint32_t lead = 0, trail = 0;
      while (lead < p.len && bytes[p.begin + lead] == ' ') ++lead;
      while (trail < p.len && bytes[p.begin + p.len - 1 - trail] == ' ') ++trail;
      spaces.emplace_back(lead, trail);
    }
    ++word;
  }
}

void BpeTokenizer::tokenize(std::string_view text, std::vector<Token>& out) const {
  std::vector<Segment> segments{{0, static_cast<uint32_t>(text.size()), -1}};
  if (options_.match_added && !options_.added.empty()) {
    split_added(text, false, segments);
    split_added(text, true, segments);
  }
  const size_t first = out.size();
  Spaces spaces;
  int32_t word = 0;
  for (const Segment& s : segments) {
    if (s.begin == s.end) continue;
    if (s.added >= 0) {
      out.push_back({options_.added[static_cast<size_t>(s.added)].id, static_cast<int32_t>(s.begin),
                     static_cast<int32_t>(s.end), word++});
      if (options_.trim_offsets) spaces.push_back(span_spaces(text, s.begin, s.end));
      continue;
    }
    tokenize_text(text, s, word, out, spaces);
  }
  if (options_.trim_offsets) trim(first, spaces, out);
}

// RoBERTa's (ByteLevel) offset trimming: a token's leading spaces move its begin right and its trailing spaces
// move its end left, never past each other; with add_prefix_space a first token keeps one leading space (the one
// the pre-tokenizer added).
void BpeTokenizer::trim(size_t first, const Spaces& spaces, std::vector<Token>& out) const {
  for (size_t i = first; i < out.size(); ++i) {
    auto [lead, trail] = spaces[i - first];
    Token& t = out[i];
    if (lead > 0) {
      const bool is_first = i == first || t.begin == 0;
      if (is_first && options_.trim_keeps_prefix && lead == 1) lead = 0;
      t.begin = std::min(t.begin + static_cast<int32_t>(lead), t.end);
    }
    if (trail > 0 && t.end >= static_cast<int32_t>(trail)) t.end = std::max(t.end - static_cast<int32_t>(trail), t.begin);
  }
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, const std::vector<int32_t>& skip) const {
  std::string bytes;
  for (int32_t id : ids) {
    SH_CHECK(id >= 0 && id < size_, "bpe tokenizer: id {} is out of range; expected 0..{}; use ids this tokenizer "
             "produced", id, size_ - 1);
    if (std::find(skip.begin(), skip.end(), id) != skip.end()) continue;
    auto added = std::find_if(options_.added.begin(), options_.added.end(),
                              [&](const AddedToken& t) { return t.id == id; });
    if (added != options_.added.end()) {
      if (!added->special) bytes += added->content;
      continue;
    }
    const std::string& t = model_->vocab().token(id);
    std::string b;
    bytes += bytes_of(t, b) ? b : t;  // not byte symbols (a special token of the vocabulary): as spelt
  }
  return lossy_utf8(bytes);
}

const std::string& BpeTokenizer::token(int32_t id) const {
  for (const AddedToken& t : options_.added)
    if (t.id == id) return t.content;
  return model_->vocab().token(id);
}

int32_t BpeTokenizer::find(std::string_view token) const {
  for (const AddedToken& t : options_.added)
    if (t.content == token) return t.id;
  return model_->vocab().find(token);
}

}  // namespace stagehand::bpe
