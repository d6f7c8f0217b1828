// SPDX-License-Identifier: Apache-2.0
#include "bpe_trainer.h"

#include <algorithm>
#include <queue>
#include <set>

#include "byte_level.h"

namespace stagehand::bpe {
namespace {

uint64_t key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }
int32_t left(uint64_t k) { return static_cast<int32_t>(k >> 32); }
int32_t right(uint64_t k) { return static_cast<int32_t>(k & 0xFFFFFFFFu); }

// A candidate merge: the pair's count when pushed and the words that may hold it. The heap gives the highest
// count first, then the smallest pair (left id, then right id).
struct Entry {
  int64_t count;
  uint64_t pair;
  std::vector<uint32_t> words;
  bool operator<(const Entry& o) const { return count != o.count ? count < o.count : pair > o.pair; }
};

struct Change {
  uint64_t pair;
  int32_t delta;
};

// Merges every (a, b) in `w`, left to right, and lists the pairs that disappear (-1) and appear (+1).
void merge_word(std::vector<int32_t>& w, int32_t a, int32_t b, int32_t merged, std::vector<Change>& changes) {
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] != a || i + 1 >= w.size() || w[i + 1] != b) continue;
    if (i > 0) {
      changes.push_back({key(w[i - 1], a), -1});
      changes.push_back({key(w[i - 1], merged), 1});
    }
    w[i] = merged;
    w.erase(w.begin() + static_cast<ptrdiff_t>(i) + 1);
    if (i + 1 < w.size()) {
      changes.push_back({key(b, w[i + 1]), -1});
      changes.push_back({key(merged, w[i + 1]), 1});
    }
  }
}

// The state of a training run: the vocabulary so far, the words as symbol ids, pair counts and the heap.
class Trainer {
 public:
  Trainer(const WordCounter& counter, const TrainerOptions& o) : options_(o) {
    for (const std::string& s : o.special_tokens) add_token(s);
    std::set<char32_t> alphabet;
    const auto& symbol = byte_to_symbol();
    for (const auto& [word, n] : counter.counts())
      for (char c : word) alphabet.insert(symbol[static_cast<unsigned char>(c)]);
    if (o.full_alphabet) alphabet.insert(symbol.begin(), symbol.end());
    for (char32_t c : alphabet) {
      std::string s;
      append_utf8(c, s);
      add_token(s);
    }
    std::vector<std::pair<std::string, uint64_t>> sorted(counter.counts().begin(), counter.counts().end());
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [word, n] : sorted) {
      std::vector<int32_t> ids;
      for (char c : word) ids.push_back(vocab_.find(symbols_of(std::string_view(&c, 1))));
      words_.push_back(std::move(ids));
      counts_.push_back(static_cast<int64_t>(n));
    }
  }

  TrainedBpe run(const std::function<bool()>& should_stop) {
    std::unordered_map<uint64_t, std::vector<uint32_t>> where;
    for (uint32_t w = 0; w < words_.size(); ++w) {
      const auto& ids = words_[w];
      for (size_t i = 0; i + 1 < ids.size(); ++i) {
        const uint64_t p = key(ids[i], ids[i + 1]);
        pair_counts_[p] += counts_[w];
        auto& list = where[p];
        if (list.empty() || list.back() != w) list.push_back(w);
      }
    }
    push_all(where);
    TrainedBpe out;
    while (static_cast<size_t>(vocab_.size()) < options_.vocab_size && !heap_.empty()) {
      Entry top = heap_.top();
      heap_.pop();
      const int64_t now = pair_counts_[top.pair];
      if (top.count != now) {  // stale: other merges changed the count since it was pushed
        top.count = now;
        heap_.push(std::move(top));
        continue;
      }
      if (top.count < 1 || static_cast<int64_t>(options_.min_frequency) > top.count) break;
      const int32_t a = left(top.pair), b = right(top.pair);
      const int32_t merged = add_token(vocab_.token(a) + vocab_.token(b));
      out.merges.emplace_back(vocab_.token(a), vocab_.token(b));
      apply(top.words, a, b, merged);
      if (out.merges.size() % 256 == 0 && should_stop && should_stop()) throw TrainingStopped{};
    }
    out.vocab = std::move(vocab_);
    return out;
  }

 private:
  // A new token's id (or the id it already has: two merges can spell the same token).
  int32_t add_token(const std::string& t) {
    const int32_t id = vocab_.find(t);
    if (id >= 0) return id;
    vocab_.add(t, vocab_.size());
    return vocab_.size() - 1;
  }

  void apply(const std::vector<uint32_t>& words, int32_t a, int32_t b, int32_t merged) {
    std::unordered_map<uint64_t, std::vector<uint32_t>> where;
    std::vector<Change> changes;
    for (uint32_t w : words) {
      changes.clear();
      merge_word(words_[w], a, b, merged, changes);
      for (const Change& c : changes) {
        pair_counts_[c.pair] += c.delta * counts_[w];
        if (c.delta <= 0) continue;
        auto& list = where[c.pair];
        if (list.empty() || list.back() != w) list.push_back(w);
      }
    }
    push_all(where);
  }

  void push_all(std::unordered_map<uint64_t, std::vector<uint32_t>>& where) {
    for (auto& [pair, list] : where) {
      const int64_t n = pair_counts_[pair];
      if (n > 0) heap_.push(Entry{n, pair, std::move(list)});
    }
  }

  TrainerOptions options_;
  Vocab vocab_;
  std::vector<std::vector<int32_t>> words_;
  std::vector<int64_t> counts_;
  std::unordered_map<uint64_t, int64_t> pair_counts_;
  std::priority_queue<Entry> heap_;
};

}  // namespace

void WordCounter::add(std::string_view text) {
  if (text.empty()) return;
  std::vector<Char> cs;
  if (add_prefix_space_ && text[0] != ' ') cs.push_back({U' ', 0, 0, CodepointClass::kSpace});
  decode_utf8(text, 0, static_cast<uint32_t>(text.size()), cs);
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  split_gpt2(cs, 0, cs.size(), spans);
  std::string word;
  for (const auto& [first, last] : spans) {
    word.clear();
    for (uint32_t i = first; i < last; ++i) {
      if (cs[i].len == 0)
        word += ' ';
      else
        word.append(text.substr(cs[i].begin, cs[i].len));
    }
    ++counts_[word];
  }
}

TrainedBpe train_bpe(const WordCounter& words, const TrainerOptions& options,
                     const std::function<bool()>& should_stop) {
  Trainer t(words, options);
  return t.run(should_stop);
}

}  // namespace stagehand::bpe
