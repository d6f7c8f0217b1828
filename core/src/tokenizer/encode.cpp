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

// Which text each framed token comes from (sequence id 0 / 1, -1 for special tokens) and its piece's details.
void describe(Encoding& e, const FramedIds& f, const std::vector<Piece>& pa, const std::vector<Piece>* pb) {
  const size_t n = f.ids.size();
  e.attention_mask.assign(n, 1);
  e.special_tokens_mask.assign(n, 1);
  e.word_ids.assign(n, -1);
  e.sequence_ids.assign(n, -1);
  e.offsets.assign(n, {0, 0});
  auto fill = [&](const std::vector<Piece>& ps, int32_t begin, int32_t end, int32_t seq) {
    for (int32_t i = begin; i < end; ++i) {
      const Piece& p = ps[static_cast<size_t>(i - begin)];
      const auto k = static_cast<size_t>(i);
      e.special_tokens_mask[k] = 0;
      e.word_ids[k] = p.word;
      e.sequence_ids[k] = seq;
      e.offsets[k] = {p.begin, p.end};
    }
  };
  fill(pa, f.a_begin, f.a_end, 0);
  if (pb) fill(*pb, f.b_begin, f.b_end, 1);
}

std::vector<int32_t> first_ids(const std::vector<Piece>& ps, size_t n) {
  std::vector<int32_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = ps[i].id;
  return ids;
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
  const auto n_special =
      o.add_special_tokens ? static_cast<size_t>(special_token_count(sp, pb != nullptr)) : size_t{0};
  size_t na = pa.size(), nb = pb ? pb->size() : 0;
  size_t dropped = 0;
  if (o.max_length > 0) {
    size_t limit = static_cast<size_t>(o.max_length);
    SH_CHECK(limit > n_special, "max_length {} leaves no room for text after {} special tokens", o.max_length,
             n_special);
    dropped = truncate(na, nb, pb != nullptr, limit - n_special, o, n_special);
  }
  const std::vector<int32_t> ids_b = pb ? first_ids(*pb, nb) : std::vector<int32_t>{};
  FramedIds f = frame_ids(sp, first_ids(pa, na), pb ? &ids_b : nullptr, o.add_special_tokens);
  Encoding e;
  describe(e, f, pa, pb);
  e.ids = std::move(f.ids);
  e.type_ids = std::move(f.type_ids);
  e.truncated = static_cast<int32_t>(dropped);
  if (o.padding == Padding::MaxLength && o.max_length > 0) {
    SH_CHECK(sp.pad >= 0, "padding needs a '{}' token in the vocabulary", sp.pad_token);
    pad_to(e, static_cast<size_t>(o.max_length), sp.pad);
  }
  return e;
}

}  // namespace

int32_t special_token_count(const SpecialTokens& special, bool pair) {
  switch (special.layout) {
    case SpecialLayout::Bert: return pair ? 3 : 2;
    case SpecialLayout::Roberta: return pair ? 4 : 2;
    case SpecialLayout::None: return 0;
  }
  return 0;
}

FramedIds frame_ids(const SpecialTokens& special, const std::vector<int32_t>& a, const std::vector<int32_t>* b,
                    bool add_special_tokens) {
  const SpecialLayout layout = add_special_tokens ? special.layout : SpecialLayout::None;
  const bool specials = layout != SpecialLayout::None;
  SH_CHECK(!specials || (special.cls >= 0 && special.sep >= 0),
           "the tokenizer's vocabulary has no '{}' or '{}' token, so special tokens cannot be added; set "
           "cls_token/sep_token to entries of the vocabulary",
           special.cls_token, special.sep_token);
  FramedIds f;
  auto put = [&](int32_t id, int32_t type) {
    f.ids.push_back(id);
    f.type_ids.push_back(type);
  };
  auto here = [&] { return static_cast<int32_t>(f.ids.size()); };
  f.ids.reserve(a.size() + (b ? b->size() : 0) + 4);
  f.type_ids.reserve(f.ids.capacity());
  if (specials) put(special.cls, 0);
  f.a_begin = here();
  for (int32_t id : a) put(id, 0);
  f.a_end = here();
  if (specials) put(special.sep, 0);
  if (b) {
    // RoBERTa: a second </s> opens b, and every type id stays 0; BERT and no layout: b's type ids are 1.
    const int32_t type = layout == SpecialLayout::Roberta ? 0 : 1;
    if (layout == SpecialLayout::Roberta) put(special.sep, 0);
    f.b_begin = here();
    for (int32_t id : *b) put(id, type);
    f.b_end = here();
    if (specials) put(special.sep, type);
  } else {
    f.b_begin = f.b_end = here();
  }
  return f;
}

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
