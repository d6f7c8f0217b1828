// SPDX-License-Identifier: Apache-2.0
#include "util/allocator.h"

#include <malloc.h>

#include <cstdlib>

#include <fmt/format.h>

namespace stagehand {

std::string configure_allocator() {
  for (const char* v : {"GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
                        "MALLOC_MMAP_MAX_"})
    if (std::getenv(v)) return fmt::format("malloc: {} is set, left as configured", v);
  // Each call fixes its value and turns glibc's dynamic threshold adjustment off.
  const bool trim = mallopt(M_TRIM_THRESHOLD, -1) == 1 || mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  const bool mmap = mallopt(M_MMAP_MAX, 0) == 1;  // large blocks come from the heap, never from fresh mmaps
  return fmt::format("malloc: freed memory is kept for reuse (trim {}, mmap {})", trim ? "off" : "unchanged",
                     mmap ? "off" : "unchanged");
}

}  // namespace stagehand
