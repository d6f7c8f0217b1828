// SPDX-License-Identifier: Apache-2.0
#pragma once
// Wall-clock time for records and logs. Host-internal.
#include <string>

#include "stagehand/export.h"

namespace stagehand {

/// UTC time as ISO 8601 ("2026-11-23T14:05:09Z") and seconds since the epoch (monotonic not implied).
STAGEHAND_API std::string utc_timestamp();
STAGEHAND_API double wall_seconds();

}  // namespace stagehand
