// SPDX-License-Identifier: Apache-2.0
#pragma once
/// An open-addressing hash map from byte strings to int32 values. Lookups take a string_view and never
/// allocate, which the greedy WordPiece search needs: it probes many substrings of every word.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stagehand::wordpiece {

inline uint64_t hash_bytes(const char* p, size_t n) noexcept {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(n) * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    h = (h ^ v) * 0x94D049BB133111EBull;
  }
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return h;
}

class StringMap {
 public:
  StringMap() { rehash(16); }

  /// Room for `n` keys of `bytes` bytes in all without rehashing.
  void reserve(size_t n, size_t bytes = 0) {
    size_t want = 16;
    while (want * kMaxLoad < n * 10) want <<= 1;
    if (want > slots_.size()) rehash(want);
    arena_.reserve(bytes);
  }
  size_t size() const { return size_; }
  /// Length in bytes of the longest key: no longer substring can match.
  size_t max_key_length() const { return max_key_length_; }

  /// The value of `key`, or -1.
  int32_t find(std::string_view key) const noexcept {
    uint64_t h = hash_bytes(key.data(), key.size());
    uint32_t tag = tag_of(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.tag == 0) return -1;
      if (s.tag == tag && s.length == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0)
        return s.value;
    }
  }

  /// Inserts `key` with `value` unless present; returns the stored value and whether it was inserted.
  std::pair<int32_t, bool> emplace(std::string_view key, int32_t value) {
    if ((size_ + 1) * 10 > slots_.size() * kMaxLoad) rehash(slots_.size() * 2);
    uint64_t h = hash_bytes(key.data(), key.size());
    uint32_t tag = tag_of(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.tag == 0) {
        s = Slot{tag, value, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size())};
        arena_.append(key.data(), key.size());
        ++size_;
        if (key.size() > max_key_length_) max_key_length_ = key.size();
        return {value, true};
      }
      if (s.tag == tag && s.length == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0)
        return {s.value, false};
    }
  }

  /// Inserts or overwrites.
  void assign(std::string_view key, int32_t value) {
    auto [old, inserted] = emplace(key, value);
    if (inserted || old == value) return;
    uint64_t h = hash_bytes(key.data(), key.size());
    uint32_t tag = tag_of(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.tag == tag && s.length == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
        s.value = value;
        return;
      }
    }
  }

 private:
  struct Slot {
    uint32_t tag = 0;  // upper hash bits, never 0 for a used slot
    int32_t value = 0;
    uint32_t offset = 0;
    uint32_t length = 0;
  };
  static constexpr size_t kMaxLoad = 7;  // tenths: linear probing stays short below 70% full
  static uint32_t tag_of(uint64_t h) noexcept { return static_cast<uint32_t>(h >> 32) | 1u; }

  void rehash(size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    for (const Slot& s : old) {
      if (s.tag == 0) continue;
      uint64_t h = hash_bytes(arena_.data() + s.offset, s.length);
      size_t i = h & mask_;
      while (slots_[i].tag != 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::string arena_;
  size_t mask_ = 0;
  size_t size_ = 0;
  size_t max_key_length_ = 0;
};

}  // namespace stagehand::wordpiece
