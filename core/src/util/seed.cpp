// SPDX-License-Identifier: Apache-2.0
#include "stagehand/seed.h"

namespace stagehand {

uint64_t derive_seed(uint64_t seed, std::string_view salt) {
  // FNV-1a over the salt, then splitmix64 with the seed: stable across platforms and versions.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : salt) h = (h ^ c) * 1099511628211ull;
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (h | 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (z ^ (z >> 31)) & 0x7fffffffffffffffull;
}

}  // namespace stagehand
