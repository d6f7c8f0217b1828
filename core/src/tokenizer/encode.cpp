// SPDX-License-Identifier: Apache-2.0
// Pair encoding, truncation and padding shared by every tokenizer.
#include <algorithm>
#include <exception>
#include <thread>

#include "stagehand/error.h"
#include "stagehand/tokenizer.h"

namespace stagehand {

size_t Encoding::length() const {
  size_t n = 0;
  for (auto m : attention_mask) n += m;
  return n;
}

std::vector<std::string> Tokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (auto& p : pieces(text)) out.push_back(std::move(p.token));
  return out;
}

std::vector<int32_t> Tokenizer::encode_ids(std::string_view text) const {
  std::vector<int32_t> out;
  for (const auto& p : pieces(text)) out.push_back(p.id);
  return out;
}

namespace {

void append_special(Encoding& e, int32_t id) {
  e.ids.push_back(id);
  e.type_ids.push_back(e.type_ids.empty() ? 0 : e.type_ids.back());
  e.attention_mask.push_back(1);
  e.special_tokens_mask.push_back(1);
  e.word_ids.push_back(-1);
  e.sequence_ids.push_back(-1);
  e.offsets.emplace_back(0, 0);
}

void append_pieces(Encoding& e, const std::vector<Piece>& ps, size_t n, int32_t type, int32_t seq) {
  for (size_t i = 0; i < n; ++i) {
    e.ids.push_back(ps[i].id);
    e.type_ids.push_back(type);
    e.attention_mask.push_back(1);
    e.special_tokens_mask.push_back(0);
    e.word_ids.push_back(ps[i].word);
    e.sequence_ids.push_back(seq);
    e.offsets.emplace_back(ps[i].begin, ps[i].end);
  }
}

void pad_to(Encoding& e, size_t length, int32_t pad_id) {
  while (e.ids.size() < length) {
    e.ids.push_back(pad_id);
    e.type_ids.push_back(0);
    e.attention_mask.push_back(0);
    e.special_tokens_mask.push_back(1);
    e.word_ids.push_back(-1);
    e.sequence_ids.push_back(-1);
    e.offsets.emplace_back(0, 0);
  }
}

// How many special tokens the layout adds around one text or a pair.
size_t special_count(const SpecialTokens& sp, bool pair, const EncodeOptions& o) {
  if (!o.add_special_tokens) return 0;
  switch (sp.layout) {
    case SpecialLayout::Bert: return pair ? 3 : 2;
    case SpecialLayout::Roberta: return pair ? 4 : 2;
    case SpecialLayout::None: return 0;
  }
  return 0;
}

// Drops pieces from the ends of a and b so that na + nb fits `budget`; returns how many were dropped.
size_t truncate(size_t& na, size_t& nb, bool pair, size_t budget, const EncodeOptions& o, size_t n_special) {
  if (na + nb <= budget) return 0;
  size_t over = na + nb - budget;
  switch (o.truncation) {
    case Truncation::None:
      fail("text is {} tokens long, over max_length {}; allow truncation or raise max_length", na + nb + n_special,
           o.max_length);
    case Truncation::OnlyFirst:
      SH_CHECK(na >= over, "cannot truncate the first text enough ({} tokens over, it has {})", over, na);
      na -= over;
      break;
    case Truncation::OnlySecond:
      SH_CHECK(pair && nb >= over, "cannot truncate the second text enough ({} tokens over, it has {})", over, nb);
      nb -= over;
      break;
    case Truncation::LongestFirst:
      // Same result as removing one token at a time from the longer text (the second on ties).
      while (na + nb > budget) {
        if (na > nb)
          --na;
        else
          --nb;
      }
      break;
  }
  return over;
}

Encoding build(const Tokenizer& tok, const std::vector<Piece>& pa, const std::vector<Piece>* pb,
               const EncodeOptions& o) {
  const SpecialTokens& sp = tok.special();
  const size_t n_special = special_count(sp, pb != nullptr, o);
  const bool specials = n_special > 0;
  if (specials) {
    SH_CHECK(sp.cls >= 0 && sp.sep >= 0,
             "the tokenizer's vocabulary has no '{}' or '{}' token, so special tokens cannot be added; set "
             "cls_token/sep_token to entries of the vocabulary",
             sp.cls_token, sp.sep_token);
  }
  size_t na = pa.size(), nb = pb ? pb->size() : 0;
  size_t dropped = 0;
  if (o.max_length > 0) {
    size_t limit = static_cast<size_t>(o.max_length);
    SH_CHECK(limit > n_special, "max_length {} leaves no room for text after {} special tokens", o.max_length,
             n_special);
    dropped = truncate(na, nb, pb != nullptr, limit - n_special, o, n_special);
  }
  Encoding e;
  e.ids.reserve(na + nb + n_special);
  if (specials) append_special(e, sp.cls);
  append_pieces(e, pa, na, 0, 0);
  if (specials) append_special(e, sp.sep);
  if (pb) {
    // RoBERTa: a second </s> opens b, and every type id stays 0; BERT and no layout: b's type ids are 1.
    const bool roberta = specials && sp.layout == SpecialLayout::Roberta;
    if (roberta) append_special(e, sp.sep);
    append_pieces(e, *pb, nb, roberta ? 0 : 1, 1);
    if (specials) {
      append_special(e, sp.sep);
      if (!roberta) e.type_ids.back() = 1;
    }
  }
  e.truncated = static_cast<int32_t>(dropped);
  if (o.padding == Padding::MaxLength && o.max_length > 0) {
    SH_CHECK(sp.pad >= 0, "padding needs a '{}' token in the vocabulary", sp.pad_token);
    pad_to(e, static_cast<size_t>(o.max_length), sp.pad);
  }
  return e;
}

}  // namespace

Encoding Tokenizer::encode(std::string_view a, const EncodeOptions& options) const {
  return build(*this, pieces(a), nullptr, options);
}

Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b, const EncodeOptions& options) const {
  auto pa = pieces(a);
  auto pb = pieces(b);
  return build(*this, pa, &pb, options);
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& a, const std::vector<std::string>* b,
                                              const EncodeOptions& options, int threads) const {
  SH_CHECK(!b || b->size() == a.size(), "encode_batch: {} first texts but {} second texts", a.size(), b->size());
  std::vector<Encoding> out(a.size());
  auto work = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) out[i] = b ? encode_pair(a[i], (*b)[i], options) : encode(a[i], options);
  };
  size_t n_threads = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), a.size() / 64 + 1));
  if (n_threads == 1) {
    work(0, a.size());
  } else {
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(n_threads);
    size_t chunk = (a.size() + n_threads - 1) / n_threads;
    for (size_t t = 0; t < n_threads; ++t) {
      pool.emplace_back([&, t] {
        try {
          work(t * chunk, std::min(a.size(), (t + 1) * chunk));
        } catch (...) {
          errors[t] = std::current_exception();
        }
      });
    }
    for (auto& th : pool) th.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }
  if (options.padding == Padding::Longest) {
    size_t longest = 0;
    for (const auto& e : out) longest = std::max(longest, e.ids.size());
    if (!out.empty()) SH_CHECK(special().pad >= 0, "padding needs a '{}' token in the vocabulary", special().pad_token);
    for (auto& e : out) pad_to(e, longest, special().pad);
  }
  return out;
}

}  // namespace stagehand
