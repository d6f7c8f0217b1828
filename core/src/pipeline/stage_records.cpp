// SPDX-License-Identifier: Apache-2.0
#include "pipeline/stage_records.h"

#include <dlfcn.h>

#include <algorithm>
#include <ctime>
#include <random>

#include <c10/util/Exception.h>

#include "stagehand/results.h"

#include "pipeline/pipeline.h"
#include "util/hash.h"

namespace stagehand::exec {

std::string core_library_sha() {
  static std::string sha = [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&environment_facts), &info) && info.dli_fname)
      return sha256_file(fs::absolute(info.dli_fname));
    return std::string("unknown");
  }();
  return sha;
}

std::string new_run_id() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  return fmt::format("{}-{:04x}", buf, rd() & 0xffff);
}

ConfigNode replace_inputs(const ConfigNode& n, const std::map<std::string, std::string>& hashes) {
  if (n.is_scalar()) {
    auto it = hashes.find(n.text());
    if (it != hashes.end()) return ConfigNode::of("sha256:" + it->second);
    return n;
  }
  if (n.is_sequence()) {
    std::vector<ConfigNode> items;
    for (const auto& i : n.items()) items.push_back(replace_inputs(i, hashes));
    return ConfigNode::sequence(items);
  }
  if (n.is_map()) {
    ConfigNode m = ConfigNode::map();
    for (const auto& [k, v] : n.entries()) m.set(k, replace_inputs(v, hashes));
    return m;
  }
  return n;
}

StageOutput read_output(const std::string& name, const std::string& kind, const fs::path& dir) {
  StageOutput out;
  out.name = name;
  out.kind = kind;
  out.dir = dir;
  fs::path f = dir / "outputs.yaml";
  if (!fs::exists(f)) return out;
  ConfigNode o = load_yaml_file(f);
  if (const ConfigNode* p = o.find("provides"); p && p->is_map())
    for (const auto& [k, v] : p->entries()) out.provides[k] = v;
  if (const ConfigNode* m = o.find("metrics"); m && m->is_map())
    for (const auto& [k, v] : m->entries()) out.metrics[k] = v.is_int() ? static_cast<double>(v.as_int()) : v.as_double();
  if (const ConfigNode* m = o.find("timings"); m && m->is_map())
    for (const auto& [k, v] : m->entries()) out.timings[k] = v.is_int() ? static_cast<double>(v.as_int()) : v.as_double();
  // A stage with trials: each trial's output lives in trial-<k>/; the whole is seen through trial 1's folder.
  if (const ConfigNode* t = o.find("trials"); t && t->is_scalar() && t->as_int() > 1) {
    for (int64_t k = 1; k <= t->as_int(); ++k)
      out.trials.push_back(read_output(name, kind, dir / fmt::format("trial-{}", k)));
    out.dir = out.trials.front().dir;
    out.provides = out.trials.front().provides;
  }
  return out;
}

/// Mean, std, min and max of every metric over the trials (a metric some trial lacks is summarised over the
/// trials that have it).
std::map<std::string, Summary> trial_summaries(const std::vector<StageOutput>& trials,
                                               std::map<std::string, double> StageOutput::*field) {
  std::map<std::string, std::vector<double>> values;
  for (const auto& t : trials)
    for (const auto& [k, v] : t.*field) values[k].push_back(v);
  std::map<std::string, Summary> out;
  for (const auto& [k, v] : values) out[k] = summarize(v);
  return out;
}

std::map<std::string, double> flatten_summaries(const std::map<std::string, Summary>& s, bool spread) {
  std::map<std::string, double> out;
  for (const auto& [k, v] : s) {
    out[k] = v.mean;
    if (!spread) continue;
    out[k + ".std"] = v.std;
    out[k + ".min"] = v.min;
    out[k + ".max"] = v.max;
  }
  return out;
}

/// The record's view of a stage with trials: seeds, and every metric's mean, std, min, max and values.
ConfigNode trials_record(const StageOutput& out, uint64_t stage_seed) {
  ConfigNode r = ConfigNode::map();
  r.set("count", ConfigNode::of(static_cast<int64_t>(out.trials.size())));
  ConfigNode seeds = ConfigNode::sequence();
  for (size_t k = 1; k <= out.trials.size(); ++k)
    seeds.push_back(ConfigNode::scalar(std::to_string(trial_seed(stage_seed, static_cast<int>(k)))));
  r.set("seeds", seeds);
  ConfigNode metrics = ConfigNode::map();
  for (const auto& [name, s] : trial_summaries(out.trials, &StageOutput::metrics)) {
    ConfigNode m = ConfigNode::map();
    m.set("mean", ConfigNode::of(s.mean));
    m.set("std", ConfigNode::of(s.std));
    m.set("min", ConfigNode::of(s.min));
    m.set("max", ConfigNode::of(s.max));
    ConfigNode values = ConfigNode::sequence();
    for (const auto& t : out.trials) {
      auto it = t.metrics.find(name);
      values.push_back(it == t.metrics.end() ? ConfigNode::null() : ConfigNode::of(it->second));
    }
    m.set("values", values);
    metrics.set(name, m);
  }
  r.set("metrics", metrics);
  return r;
}

/// "test.f1 78.33 (0.41), ..." for the headline metrics (at most one '.' in the name); ratio metrics in percent.
std::string trials_line(const StageOutput& out) {
  std::string line;
  int shown = 0;
  for (const auto& [name, s] : trial_summaries(out.trials, &StageOutput::metrics)) {
    if (std::count(name.begin(), name.end(), '.') > 1) continue;
    if (++shown > 8) {
      line += ", ... (all in the record)";
      break;
    }
    const bool percent = is_ratio_metric(name) && s.min >= 0 && s.max <= 1;
    line += fmt::format("{}{} {}", line.empty() ? "" : ", ", name, format_mean_std(s, percent));
  }
  return line;
}

std::string clean_what(const std::exception& e) {
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

ConfigNode metrics_node(const std::map<std::string, double>& m) {
  ConfigNode n = ConfigNode::map();
  for (const auto& [k, v] : m) n.set(k, ConfigNode::of(v));
  return n;
}


}  // namespace stagehand::exec
