// SPDX-License-Identifier: Apache-2.0
#pragma once
// How the runner's process allocates memory. Host-internal.
#include <string>

#include "stagehand/export.h"

namespace stagehand {

/// Makes glibc's malloc keep freed memory for reuse instead of returning it to the kernel: no trimming of the
/// heap and no mmap for large blocks (unless the user set MALLOC_* or GLIBC_TUNABLES, which then win). A training
/// step frees and reallocates the same large activation buffers every step; with glibc's defaults each of them
/// is mmapped, page-faulted in and unmapped again, which measured 5x slower on ELECTRA pretraining (the kernel's
/// page-fault path dominated the profile). The cost: the process keeps its peak heap. Returns a line saying what
/// was done, for the log.
STAGEHAND_API std::string configure_allocator();

}  // namespace stagehand
