// SPDX-License-Identifier: Apache-2.0
#pragma once
// Host-internal. summary.json, written beside every record.yaml: the few facts of a run that `runner runs` lists
// (id, pipeline, times, status, commit, overrides, each stage's status and metrics), so that a table of thousands of
// runs reads small JSON files instead of parsing every full record.
#include <string>

#include "stagehand/config.h"
#include "stagehand/export.h"

namespace stagehand {

/// The summary of a run record (the record as written, or read back from record.yaml), as JSON text.
STAGEHAND_API std::string run_summary_json(const ConfigNode& record);

}  // namespace stagehand
