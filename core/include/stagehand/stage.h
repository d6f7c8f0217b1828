// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Stage kinds. A pipeline's stages are instances of stage kinds (plugins of kind "stage"). The executor
/// validates a stage's options against its kind's schema, works out dependencies from stage references,
/// computes a cache key, and calls `run` with a StageContext. A stage writes only into
/// `ctx.output_dir()`, a temporary folder that becomes the cached output when `run` returns normally.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stagehand/config.h"
#include "stagehand/export.h"
#include "stagehand/registry.h"
#include "stagehand/schema.h"

namespace stagehand {

/// A completed stage as later stages see it.
struct STAGEHAND_API StageOutput {
  std::string name;
  std::string kind;
  std::filesystem::path dir;                  ///< its output folder (read only)
  std::map<std::string, ConfigNode> provides;  ///< component kind -> spec (paths relative to `dir`)
  std::map<std::string, double> metrics;       ///< final metrics
  std::map<std::string, double> timings;       ///< machine-dependent measurements
  /// For a stage run with `trials: N > 1`: each trial's own output (dir, provides, metrics), trial 1 first.
  /// The fields above then describe the whole: `dir` and `provides` are trial 1's, `metrics` hold the mean of
  /// each metric over the trials plus "<name>.std", "<name>.min" and "<name>.max".
  std::vector<StageOutput> trials;
};

/// Live progress of a long loop: a bar on a terminal, a plain line every N updates otherwise.
class STAGEHAND_API Progress {
 public:
  virtual ~Progress();
  /// `done` out of the total; `fields` are shown beside the bar (e.g. {"loss", 0.31}).
  virtual void update(int64_t done, const std::vector<std::pair<std::string, double>>& fields = {}) = 0;
  virtual void finish() = 0;
};

class STAGEHAND_API StageContext {
 public:
  virtual ~StageContext();

  virtual const std::string& name() const = 0;
  virtual const Options& options() const = 0;
  /// Where the stage writes. It persists across an interrupted attempt, so a stage can resume from
  /// checkpoints it left there (`resuming()` says whether a previous attempt exists).
  virtual const std::filesystem::path& output_dir() const = 0;
  virtual bool resuming() const = 0;
  /// Where `output_dir() / relative` will be once the stage has completed (outputs are built in a temporary folder
  /// that the executor renames into place): for messages that tell the user where to find a file.
  virtual std::filesystem::path final_path(const std::filesystem::path& relative) const {
    return output_dir() / relative;
  }
  /// The stage's seed: its `seed:` option, else derived from the pipeline seed and the stage name.
  virtual uint64_t seed() const = 0;
  virtual const Registry& registry() const = 0;
  /// Build context for components made by this stage (seed, base folder, stage-name resolution).
  virtual BuildContext build_context() const = 0;

  /// A completed upstream stage. Throws if `stage` is not a dependency of this one.
  virtual const StageOutput& upstream(const std::string& stage) const = 0;
  /// Builds the component named by option `option` (an inline spec or a stage that provides one).
  template <class T>
  std::shared_ptr<T> build(const std::string& option) const {
    return registry().create<T>(options().node(option), build_context());
  }

  /// Declares a component this stage provides to later stages (paths in `spec` relative to output_dir).
  virtual void provide(const std::string& kind, const ConfigNode& spec) = 0;
  /// A final metric of the stage (goes to the record and the results table). Metrics must be reproducible:
  /// `runner replay` compares them.
  virtual void metric(const std::string& name, double value) = 0;
  /// A measurement that depends on the machine (seconds, tokens/s): recorded, shown, never compared.
  virtual void timing(const std::string& name, double value) = 0;
  /// A logged event (goes to metrics.jsonl with the stage name and a timestamp).
  virtual void log_values(int64_t step, const std::vector<std::pair<std::string, double>>& values) = 0;
  /// A line in the log and on the console.
  virtual void info(const std::string& line) = 0;
  /// Something the user should look at that does not stop the stage ("warning: " is added); the run's closing
  /// line counts them.
  virtual void warn(const std::string& line) = 0;
  virtual std::unique_ptr<Progress> progress(const std::string& label, int64_t total) = 0;

  /// True once SIGINT/SIGTERM was received: save state and throw stagehand::Interrupted.
  virtual bool stop_requested() const = 0;
  virtual int stop_signal() const = 0;
  /// Number of threads configured for this run (intra-op).
  virtual int threads() const = 0;
  /// Which trial this run is (1-based) and how many the stage has (`trials:`); 1 and 1 without trials.
  virtual int trial() const { return 1; }
  virtual int trials() const { return 1; }
};

/// Base class of stage kinds.
class STAGEHAND_API Stage {
 public:
  static constexpr const char* kKind = "stage";
  virtual ~Stage();
  virtual void run(StageContext& ctx) = 0;
};

}  // namespace stagehand
