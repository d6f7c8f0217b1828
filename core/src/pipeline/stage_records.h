// SPDX-License-Identifier: Apache-2.0
#pragma once
// Host-internal. The pieces of a run record: a stage's outputs read back from its folder, the summary of a stage's
// trials, input files replaced by their hashes, the run id, the core library's hash.
#include <exception>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "stagehand/config.h"
#include "stagehand/stage.h"
#include "stagehand/summary.h"

namespace stagehand::exec {

namespace fs = std::filesystem;

/// sha256 of libstagehand itself (part of every cache key: another core may compute differently).
std::string core_library_sha();

/// "20261207-031500-ab12": local time and 16 random bits.
std::string new_run_id();

/// The options with every input file path replaced by "sha256:<hash of its content>" (for cache keys).
ConfigNode replace_inputs(const ConfigNode& n, const std::map<std::string, std::string>& hashes);

/// A finished stage's outputs.yaml read back (provides, metrics, timings, and its trials' folders).
StageOutput read_output(const std::string& name, const std::string& kind, const fs::path& dir);

/// Mean, std, min and max of every metric over the trials (a metric some trial lacks is summarised over the
/// trials that have it).
std::map<std::string, Summary> trial_summaries(const std::vector<StageOutput>& trials,
                                               std::map<std::string, double> StageOutput::*field);

/// Each metric's mean; with `spread`, also NAME.std, NAME.min and NAME.max.
std::map<std::string, double> flatten_summaries(const std::map<std::string, Summary>& s, bool spread);

/// The record's view of a stage with trials: seeds, and every metric's mean, std, min, max and values.
ConfigNode trials_record(const StageOutput& out, uint64_t stage_seed);

/// "test.f1 78.33 (0.41), ..." for the headline metrics (at most one '.' in the name); ratio metrics in percent.
std::string trials_line(const StageOutput& out);

/// An exception's message, without LibTorch's C++ backtrace.
std::string clean_what(const std::exception& e);

/// Metrics as a record map.
ConfigNode metrics_node(const std::map<std::string, double>& m);

}  // namespace stagehand::exec
