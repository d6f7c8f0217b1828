// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Seeds derived from seeds, so that every stage, trial and component draws its own stream from the pipeline's one
/// seed, the same on every platform and in every version.
#include <cstdint>
#include <string_view>

#include "stagehand/export.h"

namespace stagehand {

/// 64-bit mix of a seed and a string (for deriving per-stage / per-trial seeds); never above 2^63 - 1.
STAGEHAND_API uint64_t derive_seed(uint64_t seed, std::string_view salt);

}  // namespace stagehand
