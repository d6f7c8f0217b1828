// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Stopping on request. The runner turns SIGINT and SIGTERM into a flag; long work polls it, saves its state and
/// throws stagehand::Interrupted (error.h). A stage polls StageContext::stop_requested(); code that runs without a
/// context (a tokenizer trainer called by a stage) polls this.
#include "stagehand/export.h"

namespace stagehand {

/// The signal received (SIGINT or SIGTERM), or 0 when none was.
STAGEHAND_API int stop_signal();

}  // namespace stagehand
