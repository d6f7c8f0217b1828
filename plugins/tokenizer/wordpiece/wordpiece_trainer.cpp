// SPDX-License-Identifier: Apache-2.0
#include "wordpiece_trainer.h"

#include <algorithm>
#include <queue>
#include <unordered_map>
#include <utility>

namespace stagehand::wordpiece {

struct WordCounter::Sink {
  WordCounter& self;
  void word(const Word& w) { self.count(w.text, 1); }
  void special(int, int32_t, int32_t) {}
};

void WordCounter::add(std::string_view text) {
  Sink sink{*this};
  pre_.run(text, sink);
}

void WordCounter::merge(const WordCounter& other) {
  for (size_t i = 0; i < other.words_.size(); ++i) count(other.words_[i], other.counts_[i]);
}

void WordCounter::count(std::string_view word, uint64_t n) {
  auto [index, inserted] = index_.emplace(word, static_cast<int32_t>(words_.size()));
  if (inserted) {
    words_.emplace_back(word);
    counts_.push_back(0);
  }
  counts_[static_cast<size_t>(index)] += n;
  total_ += n;
}

namespace {

using Pair = uint64_t;  // (left id << 32) | right id: ordering the keys orders the pairs as tuples
Pair make_pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }
int32_t left_of(Pair p) { return static_cast<int32_t>(p >> 32); }
int32_t right_of(Pair p) { return static_cast<int32_t>(p & 0xFFFFFFFFu); }

struct Merge {
  Pair pair;
  int64_t count;
  std::vector<uint32_t> words;  // where the pair was seen when this entry was queued
};
// Highest count first; among equal counts the smaller pair first.
struct MergeOrder {
  bool operator()(const Merge& a, const Merge& b) const {
    if (a.count != b.count) return a.count < b.count;
    return a.pair > b.pair;
  }
};

struct Change {
  Pair pair;
  int32_t delta;
  uint32_t word;
};

// Replaces every (a, b) in `symbols` by `merged`, recording the pair counts that change.
void merge_word(std::vector<int32_t>& symbols, int32_t a, int32_t b, int32_t merged, uint32_t word,
                std::vector<Change>& changes) {
  size_t n = symbols.size();
  for (size_t i = 0; i + 1 < n; ++i) {
    if (symbols[i] != a || symbols[i + 1] != b) continue;
    if (i > 0) {
      changes.push_back(Change{make_pair_key(symbols[i - 1], a), -1, word});
      changes.push_back(Change{make_pair_key(symbols[i - 1], merged), 1, word});
    }
    symbols[i] = merged;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    --n;
    if (i + 1 < n) {
      changes.push_back(Change{make_pair_key(b, symbols[i + 1]), -1, word});
      changes.push_back(Change{make_pair_key(merged, symbols[i + 1]), 1, word});
    }
  }
}

void sort_unique(std::vector<uint32_t>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

class Vocabulary {
 public:
  int32_t find(std::string_view t) const { return index_.find(t); }
  int32_t add(std::string_view t) {
    auto [id, inserted] = index_.emplace(t, static_cast<int32_t>(tokens_.size()));
    if (inserted) tokens_.emplace_back(t);
    return id;
  }
  size_t size() const { return tokens_.size(); }
  const std::string& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  std::vector<std::string> release() { return std::move(tokens_); }

 private:
  StringMap index_;
  std::vector<std::string> tokens_;
};

}  // namespace

std::vector<std::string> train_wordpiece(const WordCounter& counter, const TrainerOptions& options,
                                         const std::function<bool()>& should_stop) {
  auto check_stop = [&] {
    if (should_stop && should_stop()) throw TrainingStopped();
  };
  const std::vector<std::string>& words = counter.words();
  const std::vector<uint64_t>& counts = counter.counts();
  Vocabulary vocab;
  for (const std::string& s : options.special_tokens) vocab.add(s);

  // The alphabet: every character weighted by the count of the words it occurs in; the rarest go first
  // when there are more than limit_alphabet (ties: the higher code point goes first, for determinism).
  std::unordered_map<char32_t, uint64_t> alphabet;
  for (size_t w = 0; w < words.size(); ++w) {
    const auto* p = reinterpret_cast<const unsigned char*>(words[w].data());
    size_t n = words[w].size();
    for (size_t i = 0; i < n;) {
      char32_t c;
      i += decode_utf8(p + i, n - i, &c);
      alphabet[c] += counts[w];
    }
  }
  std::vector<std::pair<char32_t, uint64_t>> kept(alphabet.begin(), alphabet.end());
  if (options.limit_alphabet >= 0 && kept.size() > static_cast<size_t>(options.limit_alphabet)) {
    std::sort(kept.begin(), kept.end(), [](const auto& x, const auto& y) {
      return x.second != y.second ? x.second < y.second : x.first > y.first;
    });
    kept.erase(kept.begin(), kept.end() - options.limit_alphabet);
  }
  std::sort(kept.begin(), kept.end());
  std::string buf;
  for (const auto& [c, n] : kept) {
    buf.clear();
    append_utf8(buf, c);
    vocab.add(buf);
  }
  check_stop();

  // Words as symbol ids; characters outside the alphabet are left out, as tokenizers does.
  std::vector<std::vector<int32_t>> symbols(words.size());
  for (size_t w = 0; w < words.size(); ++w) {
    const auto* p = reinterpret_cast<const unsigned char*>(words[w].data());
    size_t n = words[w].size();
    for (size_t i = 0; i < n;) {
      char32_t c;
      const bool first = i == 0;
      i += decode_utf8(p + i, n - i, &c);
      buf.clear();
      append_utf8(buf, c);
      if (vocab.find(buf) < 0) continue;
      if (!first) buf.insert(0, options.prefix);
      symbols[w].push_back(vocab.add(buf));
    }
  }

  std::unordered_map<Pair, int64_t> pair_counts;
  std::unordered_map<Pair, std::vector<uint32_t>> where;
  for (size_t w = 0; w < symbols.size(); ++w) {
    const std::vector<int32_t>& s = symbols[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      Pair p = make_pair_key(s[i], s[i + 1]);
      pair_counts[p] += static_cast<int64_t>(counts[w]);
      where[p].push_back(static_cast<uint32_t>(w));
    }
  }
  std::priority_queue<Merge, std::vector<Merge>, MergeOrder> queue;
  auto enqueue_updates = [&] {
    for (auto& [pair, ws] : where) {
      int64_t c = pair_counts[pair];
      if (c <= 0) continue;
      sort_unique(ws);
      queue.push(Merge{pair, c, std::move(ws)});
    }
    where.clear();
  };
  enqueue_updates();
  check_stop();

  std::vector<Change> changes;
  size_t steps = 0;
  while (vocab.size() < options.vocab_size && !queue.empty()) {
    if (++steps % 256 == 0) check_stop();
    Merge top = queue.top();
    queue.pop();
    const int64_t current = pair_counts[top.pair];
    if (top.count != current) {  // stale entry: requeue with today's count
      top.count = current;
      queue.push(std::move(top));
      continue;
    }
    if (top.count < 1 || static_cast<uint64_t>(top.count) < options.min_frequency) break;

    const int32_t a = left_of(top.pair), b = right_of(top.pair);
    std::string merged = vocab.token(a);
    std::string_view right = vocab.token(b);
    if (right.compare(0, options.prefix.size(), options.prefix) == 0) right.remove_prefix(options.prefix.size());
    merged.append(right);
    const int32_t id = vocab.add(merged);

    changes.clear();
    for (uint32_t w : top.words) merge_word(symbols[w], a, b, id, w, changes);
    for (const Change& ch : changes) {
      pair_counts[ch.pair] += static_cast<int64_t>(ch.delta) * static_cast<int64_t>(counts[ch.word]);
      if (ch.delta > 0) where[ch.pair].push_back(ch.word);
    }
    enqueue_updates();
  }
  return vocab.release();
}

}  // namespace stagehand::wordpiece
