// SPDX-License-Identifier: Apache-2.0
// ELECTRA's pre-training example builder (google-research/electra, build_pretraining_dataset.py, class
// ExampleBuilder), rule for rule. Header-only and free of stagehand and LibTorch types, so that the tests
// compile against it directly and drive it with a scripted random source.
//
// The rules (the original's, kept literally — including its quirks):
//   add_line(line):
//     - `line` is already stripped (python_strip below). If it is empty and the buffered token count is non-zero,
//       the buffer becomes an example (a document boundary) and the line itself is dropped.
//     - Otherwise its ids are appended as one "sentence" (an empty line with an empty buffer appends an empty
//       sentence, as the original does; it never changes an example) and their count is added; once the count
//       reaches the current target length the buffer becomes an example.
//   create_example():
//     - one draw: with probability 0.1 the first-segment target is 100000 (everything goes to segment A, as in
//       single-text classification inputs), else (target_length - 3) / 2;
//     - each buffered sentence, in order, goes to A if A is empty, or if it keeps A under the first-segment
//       target, or — only when those fail, B is still empty and A is under the target — with one more draw, at
//       probability 0.5; otherwise to B. Because the test is made per sentence, a later short sentence can go
//       back to A after B started (so A and B are not always contiguous text); the original does this, we keep it;
//     - A is cut to max_length - 2 tokens, B to max(0, max_length - len(A) - 3);
//     - the buffer is cleared; one draw: with probability 0.05 the next target length is randint(5, max_length)
//       (both ends included, one more draw), else max_length;
//     - the example is [CLS] A [SEP] with segment id 0, then, if B is not empty, B [SEP] with segment id 1.
//
// Random draws: exactly the original's sequence of decisions (one 0.1 draw, the per-sentence 0.5 draws only where
// Python's `or` reaches them, one 0.05 draw, one randint when taken), but from std::mt19937_64 seeded with the
// stage seed instead of Python's `random` (a Mersenne Twister too, seeded differently, with its own float and
// randint conversions). Examples therefore differ from the TF script's bytes while following identical rules.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stagehand::pretraining {

/// The random decisions of the builder. Injectable so that tests can script every draw.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  /// A float in [0, 1) (Python's random.random()).
  virtual double random() = 0;
  /// An integer in [lo, hi], both ends included (Python's random.randint).
  virtual int64_t randint(int64_t lo, int64_t hi) = 0;
};

/// std::mt19937_64 with Python's conversions: random() takes 53 bits (random.random() takes 53 bits of two
/// 32-bit outputs), randint(lo, hi) draws k = bit_length(hi - lo + 1) bits and rejects values out of range
/// (Python's _randbelow). The distributions are exact; only the bit source differs from Python.
class Mt19937Random final : public RandomSource {
 public:
  explicit Mt19937Random(uint64_t seed) : engine_(seed) {}
  double random() override { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  int64_t randint(int64_t lo, int64_t hi) override {
    const uint64_t n = static_cast<uint64_t>(hi - lo) + 1;
    int bits = 0;
    while (bits < 64 && (n >> bits) != 0) ++bits;
    for (;;) {
      const uint64_t r = bits >= 64 ? engine_() : engine_() >> (64 - bits);
      if (r < n) return lo + static_cast<int64_t>(r);
    }
  }

 private:
  std::mt19937_64 engine_;
};

/// One example: ids = [CLS] A [SEP] (B [SEP]); `a_length` = len(A), without the special tokens. Segment ids are
/// 0 for the first a_length + 2 positions and 1 for the rest.
struct Example {
  std::vector<int32_t> ids;
  int32_t a_length = 0;
  bool single_segment() const { return static_cast<int64_t>(ids.size()) == static_cast<int64_t>(a_length) + 2; }
  std::vector<int32_t> segment_ids() const {
    std::vector<int32_t> s(ids.size(), 1);
    for (size_t i = 0; i < s.size() && i < static_cast<size_t>(a_length) + 2; ++i) s[i] = 0;
    return s;
  }
};

class ExampleBuilder {
 public:
  /// max_length >= 5 (randint(5, max_length) must have a range); cls/sep are the tokenizer's ids.
  ExampleBuilder(int32_t max_length, int32_t cls_id, int32_t sep_id, RandomSource& rng)
      : max_length_(max_length), target_length_(max_length), cls_(cls_id), sep_(sep_id), rng_(rng) {}

  /// Adds one stripped line given as its ids (`line_empty`: the stripped text was empty; a non-empty line may
  /// still have no ids). Returns true and fills `out` when an example is completed.
  bool add_line(bool line_empty, std::vector<int32_t> ids, Example& out) {
    if (line_empty && current_length_ != 0) {
      out = create_example();
      return true;
    }
    current_length_ += static_cast<int64_t>(ids.size());
    sentences_.push_back(std::move(ids));
    if (current_length_ >= target_length_) {
      out = create_example();
      return true;
    }
    return false;
  }

  /// Target length of the example being built (max_length, or the random one drawn after the last example).
  int32_t target_length() const { return target_length_; }
  int64_t buffered_length() const { return current_length_; }
  size_t buffered_sentences() const { return sentences_.size(); }
  int32_t max_length() const { return max_length_; }

 private:
  Example create_example() {
    // A small chance of one segment only, as in single-text classification inputs.
    const int64_t first_target = rng_.random() < 0.1 ? 100000 : (static_cast<int64_t>(target_length_) - 3) / 2;
    std::vector<int32_t> a, b;
    for (const auto& sentence : sentences_) {
      const int64_t la = static_cast<int64_t>(a.size());
      // Short-circuit order matters: the 0.5 draw happens only when the first conditions fail (Python's `or`).
      // This per-sentence test can send a later short sentence back to A after B started (the original does).
      if (la == 0 || la + static_cast<int64_t>(sentence.size()) < first_target ||
          (b.empty() && la < first_target && rng_.random() < 0.5)) {
        a.insert(a.end(), sentence.begin(), sentence.end());
      } else {
        b.insert(b.end(), sentence.begin(), sentence.end());
      }
    }
    // Cut to max_length counting the [CLS]/[SEP] tokens that are not there yet.
    if (static_cast<int64_t>(a.size()) > max_length_ - 2) a.resize(static_cast<size_t>(max_length_ - 2));
    const int64_t b_room = std::max<int64_t>(0, static_cast<int64_t>(max_length_) - static_cast<int64_t>(a.size()) - 3);
    if (static_cast<int64_t>(b.size()) > b_room) b.resize(static_cast<size_t>(b_room));

    sentences_.clear();
    current_length_ = 0;
    // A small chance of a random-length example instead of a max_length one.
    target_length_ = rng_.random() < 0.05 ? static_cast<int32_t>(rng_.randint(5, max_length_)) : max_length_;

    Example e;
    e.a_length = static_cast<int32_t>(a.size());
    e.ids.reserve(a.size() + b.size() + 3);
    e.ids.push_back(cls_);
    e.ids.insert(e.ids.end(), a.begin(), a.end());
    e.ids.push_back(sep_);
    if (!b.empty()) {
      e.ids.insert(e.ids.end(), b.begin(), b.end());
      e.ids.push_back(sep_);
    }
    return e;
  }

  int32_t max_length_;
  int32_t target_length_;
  int32_t cls_, sep_;
  RandomSource& rng_;
  std::vector<std::vector<int32_t>> sentences_;
  int64_t current_length_ = 0;
};

/// Python's str.strip() with no argument on UTF-8 text: removes the leading and trailing characters for which
/// str.isspace() is true (ASCII \t \n \v \f \r, \x1c-\x1f, space, and U+0085, U+00A0, U+1680, U+2000-U+200A,
/// U+2028, U+2029, U+202F, U+205F, U+3000). The original strips every line before anything else.
inline size_t python_space_at(std::string_view s, size_t i) {  // byte length of a space at i, or 0
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  auto byte = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  if (c == 0xc2 && (byte(1) == 0x85 || byte(1) == 0xa0)) return 2;
  if (c == 0xe1 && byte(1) == 0x9a && byte(2) == 0x80) return 3;  // U+1680
  if (c == 0xe2 && byte(1) == 0x80) {
    const unsigned t = byte(2);
    if ((t >= 0x80 && t <= 0x8a) || t == 0xa8 || t == 0xa9 || t == 0xaf) return 3;  // U+2000-200A, 2028, 2029, 202F
  }
  if (c == 0xe2 && byte(1) == 0x81 && byte(2) == 0x9f) return 3;  // U+205F
  if (c == 0xe3 && byte(1) == 0x80 && byte(2) == 0x80) return 3;  // U+3000
  return 0;
}

inline std::string_view python_strip(std::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    const size_t n = python_space_at(s, begin);
    if (n == 0) break;
    begin += n;
  }
  size_t end = s.size();
  while (end > begin) {
    // Find the start of the last character (skip UTF-8 continuation bytes), then test it.
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
    const size_t n = python_space_at(s, start);
    if (n == 0 || start + n != end) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

/// The line the original's builder receives from one line of a file. Its reader, TensorFlow's GFile, returns the
/// line with every carriage return dropped, inside the line too, not only before the '\n' (BufferedInputStream::
/// ReadLineHelper in tensorflow/core/lib/io/buffered_inputstream.cc: "We don't append '\r' to *result"), so
/// "the\rcat" is read as "thecat"; write_examples then strips it (python_strip). `raw` is the line without its
/// '\n' and is modified in place; the result views it.
inline std::string_view reference_line(std::string& raw) {
  raw.erase(std::remove(raw.begin(), raw.end(), '\r'), raw.end());
  return python_strip(raw);
}

}  // namespace stagehand::pretraining
