// SPDX-License-Identifier: Apache-2.0
#pragma once
// Host-internal. The StageContext a stage runs with: its options, folders, seed and trial, its upstream stages'
// outputs, and where its metrics, timings, log lines and progress go.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagehand/registry.h"
#include "stagehand/stage.h"
#include "stagehand/stop.h"

#include "pipeline/pipeline.h"
#include "pipeline/run_log.h"
#include "util/clock.h"

namespace stagehand::exec {

class Context : public StageContext {
 public:
  Context(const StagePlan& plan, uint64_t seed, int trial, Options options, fs::path dir, fs::path final_dir, bool resuming,
          const Registry& registry, std::map<std::string, StageOutput>& outputs, RunLog& log, MetricsLog& metrics,
          int threads)
      : plan_(plan),
        seed_(seed),
        trial_(trial),
        label_(plan.trials > 1 ? fmt::format("{} trial {}/{}", plan.name, trial, plan.trials) : plan.name),
        options_(std::move(options)),
        dir_(std::move(dir)),
        final_dir_(std::move(final_dir)),
        resuming_(resuming),
        registry_(registry),
        outputs_(outputs),
        log_(log),
        metrics_(metrics),
        threads_(threads) {}

  const std::string& name() const override { return plan_.name; }
  const Options& options() const override { return options_; }
  const fs::path& output_dir() const override { return dir_; }
  fs::path final_path(const fs::path& relative) const override { return final_dir_ / relative; }
  bool resuming() const override { return resuming_; }
  uint64_t seed() const override { return seed_; }
  const Registry& registry() const override { return registry_; }
  BuildContext build_context() const override {
    BuildContext c;
    c.registry = &registry_;
    c.seed = seed_;
    c.base_dir = dir_;
    c.provided = [this](const std::string& stage, const std::string& kind, const Location& where) {
      const StageOutput& up = upstream(stage);
      auto it = up.provides.find(kind);
      if (it == up.provides.end())
        throw Error(fmt::format("stage '{}' did not provide a {}", stage, kind), where);
      return it->second;
    };
    return c;
  }
  const StageOutput& upstream(const std::string& stage) const override {
    if (std::find(plan_.deps.begin(), plan_.deps.end(), stage) == plan_.deps.end())
      throw Error(fmt::format("stage '{}' is not an upstream stage of '{}'", stage, plan_.name));
    const StageOutput& up = outputs_.at(stage);
    // Trial k reads trial k of an upstream stage with trials (the planner checked the counts agree).
    if (plan_.trials > 1 && !up.trials.empty()) return up.trials.at(static_cast<size_t>(trial_ - 1));
    return up;
  }
  void provide(const std::string& kind, const ConfigNode& spec) override { provides_[kind] = spec; }
  void metric(const std::string& name, double value) override {
    metrics_out_[name] = value;
    write({{"event", "metric"}, {"name", name}, {"value", value}});
    // In TensorBoard at the stage's last logged step, beside the curves it ends.
    const int tb_trial = plan_.trials > 1 ? trial_ : 0;
    metrics_.tensorboard().scalars(plan_.name, tb_trial, metrics_.tensorboard().last_step(plan_.name, tb_trial),
                                   {{name, value}}, now());
  }
  void timing(const std::string& name, double value) override {
    timings_out_[name] = value;
    write({{"event", "timing"}, {"name", name}, {"value", value}});
  }
  void log_values(int64_t step, const std::vector<std::pair<std::string, double>>& values) override {
    nlohmann::json v = nlohmann::json::object();
    for (const auto& [k, x] : values) v[k] = x;
    write({{"step", step}, {"values", v}});
    metrics_.tensorboard().scalars(plan_.name, plan_.trials > 1 ? trial_ : 0, step, values, now());
  }
  void info(const std::string& line) override { log_.line(fmt::format("[{}] {}", label_, line)); }
  void warn(const std::string& line) override { log_.warn(line, label_); }
  std::unique_ptr<Progress> progress(const std::string& label, int64_t total) override {
    return std::make_unique<ProgressImpl>(log_, fmt::format("[{}] {}", label_, label), total);
  }
  bool stop_requested() const override { return stop_signal() != 0; }
  int stop_signal() const override { return ::stagehand::stop_signal(); }
  int threads() const override { return threads_; }
  int trial() const override { return trial_; }
  int trials() const override { return plan_.trials; }

  const std::map<std::string, ConfigNode>& provided() const { return provides_; }
  const std::map<std::string, double>& final_metrics() const { return metrics_out_; }
  const std::map<std::string, double>& final_timings() const { return timings_out_; }

 private:
  static double now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  /// One metrics.jsonl line: time, stage (and trial), then `fields`.
  void write(nlohmann::json fields) {
    nlohmann::json j = {{"time", utc_timestamp()}, {"stage", plan_.name}};
    if (plan_.trials > 1) j["trial"] = trial_;
    for (auto& [k, v] : fields.items()) j[k] = v;
    metrics_.write(j);
  }

  const StagePlan& plan_;
  uint64_t seed_;
  int trial_;
  std::string label_;
  Options options_;
  fs::path dir_;
  fs::path final_dir_;
  bool resuming_;
  const Registry& registry_;
  std::map<std::string, StageOutput>& outputs_;
  RunLog& log_;
  MetricsLog& metrics_;
  int threads_;
  std::map<std::string, ConfigNode> provides_;
  std::map<std::string, double> metrics_out_;
  std::map<std::string, double> timings_out_;
};

}  // namespace stagehand::exec
