// SPDX-License-Identifier: Apache-2.0
#include "bpe_model.h"

#include <mutex>
#include <queue>

#include <stagehand/error.h>

#include "byte_level.h"

namespace stagehand::bpe {
namespace {

constexpr size_t kCacheEntries = 10000;  // as tokenizers' BPE cache
constexpr size_t kCachedWordBytes = 256;  // longer pre-tokens are not cached

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

const std::string kNoToken;

}  // namespace

bool Vocab::add(std::string token, int32_t id) {
  if (ids_.count(token)) return false;
  if (id >= static_cast<int32_t>(tokens_.size())) tokens_.resize(static_cast<size_t>(id) + 1);
  tokens_[static_cast<size_t>(id)] = token;
  ids_.emplace(std::move(token), id);
  return true;
}

int32_t Vocab::find(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  return it == ids_.end() ? -1 : it->second;
}

const std::string& Vocab::token(int32_t id) const {
  return id >= 0 && id < size() ? tokens_[static_cast<size_t>(id)] : kNoToken;
}

BpeModel::BpeModel(Vocab vocab, const std::vector<MergePair>& merges, int32_t unk, const std::string& merges_source,
                   size_t first_line)
    : vocab_(std::move(vocab)), unk_(unk) {
  const auto& symbols = byte_to_symbol();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    append_utf8(symbols[b], s);
    byte_ids_[b] = vocab_.find(s);
  }
  ranks_.reserve(merges.size());
  merge_list_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    const int32_t ia = vocab_.find(a), ib = vocab_.find(b), ic = vocab_.find(a + b);
    if (ia < 0 || ib < 0 || ic < 0) {
      const std::string& missing = ia < 0 ? a : ib < 0 ? b : a + b;
      fail("{}: merge {} ('{} {}', line {}) {} '{}', which is not in the vocabulary; expected merges over "
           "vocabulary tokens; check that the merges and the vocabulary belong together",
           merges_source, r + 1, a, b, first_line + r, ia < 0 || ib < 0 ? "names" : "makes", missing);
    }
    // A pair listed twice keeps its last rank, as tokenizers' map of merges does.
    ranks_.insert_or_assign(pair_key(ia, ib), std::make_pair(static_cast<int32_t>(r), ic));
    merge_list_.emplace_back(ia, ib);
  }
}

void BpeModel::encode_word(std::string_view bytes, std::vector<WordPiece>& out) const {
  const bool cacheable = bytes.size() <= kCachedWordBytes;
  if (cacheable) {
    std::shared_lock<std::shared_mutex> lock(cache_mutex_);
    auto it = cache_.find(std::string(bytes));
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out.size();
  merge(bytes, out);
  if (cacheable) {
    std::unique_lock<std::shared_mutex> lock(cache_mutex_);
    if (cache_.size() < kCacheEntries)
      cache_.emplace(std::string(bytes), std::vector<WordPiece>(out.begin() + static_cast<ptrdiff_t>(start), out.end()));
  }
}

// Symbols in a linked list over the pre-token's bytes; candidate merges in a heap ordered by (rank, position);
// a candidate is skipped when its symbols have changed since it was pushed.
void BpeModel::merge(std::string_view bytes, std::vector<WordPiece>& out) const {
  struct Symbol {
    int32_t id;
    uint32_t begin, len;  // len 0: merged into the symbol on its left
    int32_t prev, next;
  };
  std::vector<Symbol> sym;
  sym.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    int32_t id = byte_ids_[static_cast<unsigned char>(bytes[i])];
    if (id < 0) id = unk_;
    if (id < 0) continue;  // no symbol and no unknown token: the byte is dropped
    const auto n = static_cast<int32_t>(sym.size());
    sym.push_back({id, static_cast<uint32_t>(i), 1, n - 1, n + 1});
  }
  if (sym.empty()) return;
  sym.back().next = -1;
  struct Candidate {
    int32_t rank, pos, left, right, merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push = [&](int32_t pos) {
    if (pos < 0 || sym[pos].next < 0) return;
    const Symbol& l = sym[pos];
    auto it = ranks_.find(pair_key(l.id, sym[l.next].id));
    if (it != ranks_.end()) heap.push({it->second.first, pos, l.id, sym[l.next].id, it->second.second});
  };
  for (int32_t i = 0; i < static_cast<int32_t>(sym.size()); ++i) push(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& l = sym[c.pos];
    if (l.len == 0 || l.id != c.left || l.next < 0 || sym[l.next].id != c.right) continue;
    Symbol& r = sym[l.next];
    l.id = c.merged;
    l.len = r.begin + r.len - l.begin;
    r.len = 0;
    l.next = r.next;
    if (l.next >= 0) sym[l.next].prev = c.pos;
    push(l.prev);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back({sym[i].id, sym[i].begin, sym[i].len});
}

}  // namespace stagehand::bpe
