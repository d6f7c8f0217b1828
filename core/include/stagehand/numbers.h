// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading numbers out of data files (kept apart from util.h so that few files depend on it).
#include <cstdint>
#include <string_view>

#include "stagehand/export.h"

namespace stagehand {

/// A whole decimal integer, optionally signed, of at most 18 characters (so it always fits) into `v`; false for
/// anything else (spaces, a fraction, an exponent). How data readers tell numeric labels and ids.
STAGEHAND_API bool parse_int(std::string_view text, int64_t& v);

}  // namespace stagehand
