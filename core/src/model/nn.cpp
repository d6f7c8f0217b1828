// SPDX-License-Identifier: Apache-2.0
#include "stagehand/nn.h"

#include <mutex>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "stagehand/error.h"

namespace stagehand::nn {
namespace {

/// splitmix64's output function: a bijective 64-bit mix whose outputs over consecutive inputs pass BigCrush.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// One 64-bit draw from `generator` (the default CPU generator if none): the key of a counter-based sequence.
uint64_t draw_key(c10::optional<at::Generator> generator) {
  at::Generator gen = generator.has_value() ? *generator : at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

/// Calls f(i, bits) for i in [0, n) on all intra-op threads, bits being element i's 32 random bits: elements 2k and
/// 2k+1 take the two halves of mix64(key + (k + 1) * golden ratio), splitmix64's sequence from the key. Chunks
/// start at even indices, so a pair never straddles two threads, and the result does not depend on their number.
template <typename F>
void for_each_draw(uint64_t key, int64_t n, F&& f) {
  at::parallel_for(0, (n + 1) / 2, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const uint64_t r = mix64(key + static_cast<uint64_t>(k + 1) * 0x9E3779B97F4A7C15ULL);
      const int64_t i = 2 * k;
      f(i, static_cast<uint32_t>(r));
      if (i + 1 < n) f(i + 1, static_cast<uint32_t>(r >> 32));
    }
  });
}

}  // namespace

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0) return x;
  SH_CHECK(p < 1, "dropout: probability {} is not below 1", p);
  const uint64_t key = draw_key(c10::nullopt);
  // Element i is dropped when its 32 bits are below p * 2^32.
  const auto threshold = static_cast<uint64_t>(p * 4294967296.0);
  torch::Tensor mask = torch::empty(x.sizes(), x.options().requires_grad(false).memory_format(c10::MemoryFormat::Contiguous));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, mask.scalar_type(), "stagehand_dropout", [&] {
    auto* m = mask.data_ptr<scalar_t>();
    const auto scale = static_cast<scalar_t>(1.0 / (1.0 - p));
    const auto zero = static_cast<scalar_t>(0);
    for_each_draw(key, mask.numel(), [&](int64_t i, uint32_t bits) { m[i] = bits < threshold ? zero : scale; });
  });
  return x * mask;
}

torch::Tensor uniform(at::IntArrayRef sizes, c10::optional<at::Generator> generator) {
  const uint64_t key = draw_key(generator);
  torch::Tensor u = torch::empty(sizes, torch::TensorOptions().dtype(torch::kFloat).device(torch::kCPU));
  float* d = u.data_ptr<float>();
  for_each_draw(key, u.numel(), [&](int64_t i, uint32_t bits) { d[i] = static_cast<float>(bits >> 8) * 0x1.0p-24f; });
  return u;
}

}  // namespace stagehand::nn
