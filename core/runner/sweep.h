// SPDX-License-Identifier: Apache-2.0
// `runner sweep`: one pipeline over the combinations of several settings (Hydra multirun's comma lists), each
// combination its own run and record, with the cache shared among them (sweep.cpp).
#pragma once

#include <string>
#include <vector>

namespace stagehand {

struct SweepOptions {
  std::string file;                   ///< a pipeline, or a sweep file (pipeline:, params:, metrics:, jobs:)
  std::vector<std::string> params;    ///< "key.path=v1,v2,..." or "key.path=range(a,b[,step])"; "key=v" is fixed
  int jobs = 1;                       ///< runs at once
  std::string runs_dir = "runs";
  std::string cache_dir;              ///< default: <runs_dir>/.cache
  std::vector<std::string> metrics;   ///< columns of the closing tables (STAGE.METRIC)
  std::vector<std::string> plugins;   ///< --plugin, passed on
};

/// Runs the sweep (resuming one of the same settings that was stopped) and prints its table and the mean (std)
/// over seeds per setting; returns 0 when every run completed. `self` is this runner executable.
int cmd_sweep(const SweepOptions& options, const std::string& self);

}  // namespace stagehand
