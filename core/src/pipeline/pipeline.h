// SPDX-License-Identifier: Apache-2.0
#pragma once
// Host-internal (the runner, the executor and tests; plugins never see it).
/// Pipelines: a YAML file of named stages. Loading resolves includes, overrides and references, loads the
/// file's own plugins, validates every stage against its kind's schema, and orders stages by their
/// references. Running executes them in that order with a content-addressed stage cache and writes a run
/// record (see docs/records.md).
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "stagehand/config.h"
#include "stagehand/export.h"
#include "stagehand/registry.h"
#include "stagehand/stage.h"
#include "stagehand/stop.h"

#include "plugin/loader.h"

namespace stagehand {

struct STAGEHAND_API ThreadSettings {
  int intra_op = 0;  ///< LibTorch intra-op threads; 0 = one per core
  int inter_op = 1;  ///< LibTorch inter-op threads
  int blas = 0;      ///< OpenBLAS threads; 0 = cores / intra_op (at least 1): fp32 GEMMs run in OpenBLAS, and
                    ///< LibTorch's spinning intra-op threads and OpenBLAS's threads must not share a core
  int data = 1;      ///< background threads for input preparation
};

struct STAGEHAND_API StagePlan {
  std::string name;
  std::string kind;
  const ComponentInfo* info = nullptr;  ///< the stage kind
  ConfigNode resolved;                  ///< validated options (defaults filled, paths absolute)
  Location where;                       ///< where the stage is declared
  std::vector<std::string> deps;        ///< upstream stages, declaration order
  std::map<std::string, std::string> inputs;  ///< input file -> "" (hashes are filled when running)
  std::set<std::string> plugin_files;   ///< plugins whose components this stage uses
  uint64_t seed = 0;
  bool cache = true;
  int trials = 1;  ///< independent runs (`trials:`), each with its own seed and output folder
};

/// The seed of trial `trial` (1-based) of a stage whose seed is `stage_seed`: trial 1 keeps the stage seed, so
/// `trials: 1` and no trials are the same run.
STAGEHAND_API uint64_t trial_seed(uint64_t stage_seed, int trial);

struct STAGEHAND_API Pipeline {
  std::string name;
  std::string description;
  std::filesystem::path file;  ///< absolute path of the pipeline file (or of the record it came from)
  ConfigNode root;             ///< the fully resolved pipeline (every default filled in)
  uint64_t seed = 0;
  ThreadSettings threads;
  std::vector<std::string> overrides;
  std::vector<std::filesystem::path> plugin_files;  ///< from `plugins:` (absolute)
  std::vector<StagePlan> stages;  ///< in execution (dependency) order
  const StagePlan* find(const std::string& name) const;
  /// Stages downstream of `name` (not including it), in execution order.
  std::vector<std::string> downstream(const std::string& name) const;
};

/// Loads and validates a pipeline file. `loader` gets the file's `plugins:` loaded into it (its registry
/// must already hold the built-in ones). Throws stagehand::Error with file:line:col on any problem.
STAGEHAND_API Pipeline load_pipeline(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                     PluginLoader& loader);
/// Builds a pipeline from an already-parsed root (used by replay on a record's `resolved` section).
STAGEHAND_API Pipeline plan_pipeline(ConfigNode root, const std::filesystem::path& file, PluginLoader& loader);

struct STAGEHAND_API RunOptions {
  std::filesystem::path runs_dir = "runs";
  std::filesystem::path cache_dir;  ///< default: <runs_dir>/.cache
  std::vector<std::string> only;    ///< run only these (their upstream must be cached)
  std::string from;                 ///< re-run this stage and everything downstream
  bool force_all = false;
  std::vector<std::string> force;   ///< re-run these and their downstream
  bool use_cache = true;            ///< false: every stage runs, outputs live in the run folder only
  std::vector<std::string> command_line;
  std::string mode = "run";         ///< "run" or "replay" (goes to the record)
  std::string replay_of;            ///< record replayed
};

/// What happened to a stage in a run; the record spells it as to_string gives it.
enum class StageStatus { Ran, Cached, Failed, Interrupted, Skipped };
/// How a run ended; the record spells it as to_string gives it.
enum class RunStatus { Completed, Failed, Interrupted };
STAGEHAND_API const char* to_string(StageStatus status);  ///< "ran", "cached", "failed", "interrupted", "skipped"
STAGEHAND_API const char* to_string(RunStatus status);    ///< "completed", "failed", "interrupted"

struct STAGEHAND_API StageResult {
  StageStatus status = StageStatus::Skipped;
  std::string cache_key;
  double seconds = 0;
  std::map<std::string, double> metrics;
  std::map<std::string, double> timings;
  std::string error;
};

struct STAGEHAND_API RunResult {
  std::filesystem::path run_dir;
  RunStatus status = RunStatus::Completed;
  int exit_code = 0;
  std::string error;
  std::map<std::string, StageResult> stages;
};

/// Runs a loaded pipeline. Never throws for stage failures: they are reported in the result and the
/// record (exit_code 1, or 130/143 when interrupted).
STAGEHAND_API RunResult run_pipeline(const Pipeline& pipeline, const PluginLoader& loader, const RunOptions& options);

/// Signal handling for runs: SIGINT/SIGTERM set a flag stages poll (a second signal exits at once).
/// stop_signal() (stagehand/stop.h) says which was received.
STAGEHAND_API void install_signal_handlers();

/// Applies thread settings to LibTorch and OpenBLAS; returns what is in effect.
STAGEHAND_API ThreadSettings apply_thread_settings(const ThreadSettings& wanted);

/// Facts about this build and machine for records: runner version/commit, LibTorch version and flags,
/// host, CPU.
STAGEHAND_API ConfigNode environment_facts();

}  // namespace stagehand
