// SPDX-License-Identifier: Apache-2.0
// The pipeline executor: runs stages in order with a content-addressed cache, writes the run record,
// metrics.jsonl and the log. Outputs are built in "<entry>.partial" and renamed into place when complete.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "stagehand/distributed.h"
#include "stagehand/pipeline.h"
#include "stagehand/results.h"
#include "stagehand/util.h"
#include "stagehand/version.h"

namespace stagehand {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- console and log file
class RunLog {
 public:
  void open(const fs::path& file) { file_.open(file, std::ios::app); }
  /// Ranks other than 0 of a data-parallel run print nothing but their errors (rank 0 logs the run).
  void set_quiet() { quiet_ = true; }
  void line(const std::string& s) {
    if (quiet_) return;
    std::lock_guard<std::mutex> lock(mu_);
    clear_bar();
    std::string stamped = fmt::format("[{}] {}", clock(), s);
    std::cerr << stamped << "\n";
    if (file_) file_ << stamped << "\n" << std::flush;
  }
  void bar(const std::string& s) {
    if (quiet_) return;
    std::lock_guard<std::mutex> lock(mu_);
    std::cerr << "\r\033[K" << s << std::flush;
    bar_shown_ = true;
  }
  void end_bar() {
    std::lock_guard<std::mutex> lock(mu_);
    clear_bar();
  }
  static bool tty() { return isatty(STDERR_FILENO) != 0; }

 private:
  void clear_bar() {
    if (bar_shown_) std::cerr << "\r\033[K" << std::flush;
    bar_shown_ = false;
  }
  static std::string clock() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
    return buf;
  }
  std::mutex mu_;
  std::ofstream file_;
  bool bar_shown_ = false;
  bool quiet_ = false;
};

class MetricsLog {
 public:
  void open(const fs::path& file) { out_.open(file, std::ios::app); }
  void write(const nlohmann::json& j) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!out_) return;
    out_ << j.dump() << "\n" << std::flush;
  }

 private:
  std::mutex mu_;
  std::ofstream out_;
};

std::string format_duration(double s) {
  if (s < 0 || !std::isfinite(s)) return "?";
  int t = static_cast<int>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

class ProgressImpl : public Progress {
 public:
  ProgressImpl(RunLog& log, std::string label, int64_t total)
      : log_(log), label_(std::move(label)), total_(total), start_(std::chrono::steady_clock::now()) {}
  ~ProgressImpl() override {
    if (!finished_) finish();
  }
  void update(int64_t done, const std::vector<std::pair<std::string, double>>& fields) override {
    auto now = std::chrono::steady_clock::now();
    double since_last = std::chrono::duration<double>(now - last_).count();
    double elapsed = std::chrono::duration<double>(now - start_).count();
    bool tty = RunLog::tty();
    if (tty) {
      if (since_last < 0.25 && done < total_) return;
    } else {
      // A plain line every ~10% or every 30 s, whichever comes first.
      int64_t step = total_ > 0 ? std::max<int64_t>(1, total_ / 10) : 1;
      bool tick = total_ > 0 && done / step != last_done_ / step;
      if (!tick && since_last < 30 && done < total_) return;
    }
    last_ = now;
    last_done_ = done;
    std::string f;
    for (const auto& [k, v] : fields) f += fmt::format(" {}={:.4g}", k, v);
    double eta = done > 0 && total_ > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : -1;
    std::string pct = total_ > 0 ? fmt::format("{:3.0f}%", 100.0 * static_cast<double>(done) / static_cast<double>(total_)) : "";
    if (tty) {
      int width = 24;
      int filled = total_ > 0 ? static_cast<int>(width * done / std::max<int64_t>(total_, 1)) : 0;
      std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.');
      log_.bar(fmt::format("{} [{}] {} {}/{}{} elapsed {} eta {}", label_, bar, pct, done, total_, f,
                           format_duration(elapsed), format_duration(eta)));
    } else {
      log_.line(fmt::format("{} {}/{} {}{} elapsed {} eta {}", label_, done, total_, pct, f, format_duration(elapsed),
                            format_duration(eta)));
    }
  }
  void finish() override {
    finished_ = true;
    if (RunLog::tty()) log_.end_bar();
  }

 private:
  RunLog& log_;
  std::string label_;
  int64_t total_;
  std::chrono::steady_clock::time_point start_, last_{};
  int64_t last_done_ = 0;
  bool finished_ = false;
};

// ---------------------------------------------------------------- helpers
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

class FileLock {
 public:
  explicit FileLock(const fs::path& file) {
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(fmt::format("cannot create lock file '{}'", file.string()));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      fd_ = -1;
      throw Error(fmt::format("another runner is working on this stage right now (lock '{}' is held); wait for it "
                              "to finish",
                              file.string()));
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------- the stage context
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
  }
  void timing(const std::string& name, double value) override {
    timings_out_[name] = value;
    write({{"event", "timing"}, {"name", name}, {"value", value}});
  }
  void log_values(int64_t step, const std::vector<std::pair<std::string, double>>& values) override {
    nlohmann::json v = nlohmann::json::object();
    for (const auto& [k, x] : values) v[k] = x;
    write({{"step", step}, {"values", v}});
  }
  void info(const std::string& line) override { log_.line(fmt::format("[{}] {}", label_, line)); }
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

ConfigNode metrics_node(const std::map<std::string, double>& m) {
  ConfigNode n = ConfigNode::map();
  for (const auto& [k, v] : m) n.set(k, ConfigNode::of(v));
  return n;
}

/// Thread settings for this process: with several local ranks, the cores are divided among them (for the intra-op
/// threads' "one per core" and for the OpenBLAS threads' "the cores intra-op threads leave").
ThreadSettings threads_for_this_rank(ThreadSettings wanted) {
  const int local = dist::world().local_world_size;
  if (local > 1) {
    const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local);
    if (wanted.intra_op <= 0) wanted.intra_op = cores;
    if (wanted.blas <= 0) wanted.blas = std::max(1, cores / wanted.intra_op);
  }
  return wanted;
}

// ---------------------------------------------------------------- ranks other than 0
// Rank 0 runs the pipeline and publishes, for each stage, what happens to it: "stage/<name>" is "cached\t<dir>",
// "skipped", "failed", "solo" (rank 0 runs it alone) or "dp\t<trials>" (every rank runs it); after a stage that
// ran, "done/<name>" is "ok\t<dir>" or "failed". Other ranks follow: they join data-parallel stages, with their
// outputs in a scratch folder that is deleted afterwards, and read every other stage's outputs from rank 0's
// folders (a shared filesystem when the ranks are on several machines).
RunResult follow_pipeline(const Pipeline& pipeline, const PluginLoader& loader) {
  const dist::World& w = dist::world();
  RunResult result;
  result.status = "completed";
  const Registry& registry = const_cast<PluginLoader&>(loader).registry();
  RunLog log;
  log.set_quiet();
  MetricsLog metrics;  // never opened: rank 0 writes the metrics
  ThreadSettings threads = apply_thread_settings(threads_for_this_rank(pipeline.threads));
  const fs::path scratch = fs::temp_directory_path() / fmt::format("stagehand-rank{}-{}", w.rank, ::getpid());
  std::map<std::string, StageOutput> outputs;
  auto stopping = [] { return stop_signal() != 0; };
  auto split = [](const std::string& m) {
    auto tab = m.find('\t');
    return tab == std::string::npos ? std::make_pair(m, std::string()) : std::make_pair(m.substr(0, tab), m.substr(tab + 1));
  };
  std::string current;
  try {
    for (const StagePlan& plan : pipeline.stages) {
      current = plan.name;
      const auto [what, arg] = split(dist::await("stage/" + plan.name, stopping));
      if (what.empty()) throw Interrupted(stop_signal());
      if (what == "skipped") continue;
      if (what == "failed") break;  // rank 0 reports it
      if (what == "cached") {
        outputs[plan.name] = read_output(plan.name, plan.kind, arg);
        continue;
      }
      if (what == "dp") {
        Options options(plan.resolved, plan.info->schema, fmt::format("stage '{}'", plan.name));
        std::stringstream trials(arg);
        for (std::string k; std::getline(trials, k, ',');) {
          const int trial = std::stoi(k);
          const fs::path dir = scratch / plan.name / fmt::format("trial-{}", trial);
          fs::create_directories(dir);
          Context ctx(plan, trial_seed(plan.seed, trial), trial, options, dir, dir, false, registry, outputs, log,
                      metrics, threads.intra_op);
          BuildContext bc = ctx.build_context();
          auto stage = std::static_pointer_cast<Stage>(plan.info->factory(options, bc));
          stage->run(ctx);
          if (stop_signal() != 0) throw Interrupted(stop_signal());
        }
        std::error_code ec;
        fs::remove_all(scratch / plan.name, ec);
      }
      const auto [done, dir] = split(dist::await("done/" + plan.name, stopping));
      if (done.empty()) throw Interrupted(stop_signal());
      if (done != "ok") break;
      outputs[plan.name] = read_output(plan.name, plan.kind, dir);
    }
    dist::publish(fmt::format("finished/{}", w.rank), "ok");
  } catch (const Interrupted& e) {
    result.status = "interrupted";
    result.exit_code = 128 + e.signal_number();
    result.error = e.message();
  } catch (const std::exception& e) {
    result.status = "failed";
    result.exit_code = 1;
    result.error = fmt::format("rank {}: stage '{}': {}", w.rank, current, clean_what(e));
  }
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return result;
}

}  // namespace

namespace {

// ---------------------------------------------------------------- rank 0: the executor, in named parts
// PipelineRun owns one run: which stages run (select), the run folder and logs (open_run_folder), the record
// (record_skeleton, write_record), each stage's cache key, reuse or execution (run_stage and below), and the end of
// the run (finish). Other ranks of a data-parallel run are told what happens to each stage (tell) and follow it
// (follow_pipeline).
class PipelineRun {
 public:
  PipelineRun(const Pipeline& pipeline, const PluginLoader& loader, const RunOptions& opt)
      : pipeline_(pipeline), loader_(loader), opt_(opt), registry_(const_cast<PluginLoader&>(loader).registry()) {}

  RunResult run() {
    select_stages();
    open_run_folder();
    record_skeleton();
    write_record();
    point_latest();
    log_.line(fmt::format("pipeline '{}' ({} stages) -> {}", pipeline_.name, pipeline_.stages.size(),
                          run_dir_.string()));
    for (const StagePlan& plan : pipeline_.stages) run_stage(plan);
    finish();
    return result_;
  }

 private:
  /// One stage's progress through run_stage: what it became, its record entry, what the other ranks were told.
  struct Attempt {
    const StagePlan& plan;
    StageResult sr;
    ConfigNode srec = ConfigNode::map();
    int told = 0;  // 0: nothing yet, 1: that it runs, 2: everything
    double t0 = 0;
    std::string started;
  };
  /// Where a stage's output lives and what keyed it.
  struct Placement {
    std::string key;
    nlohmann::json key_material;
    fs::path entry, link;
    bool selected = false, forced = false;
  };

  // ---- which stages run: --only, --from, --force
  void select_stages() {
    auto force_with_downstream = [&](const std::string& name) {
      forced_.insert(name);
      for (const auto& d : pipeline_.downstream(name)) forced_.insert(d);
    };
    for (const auto& s : opt_.only)
      if (!pipeline_.find(s)) throw Error(fmt::format("--only: no stage named '{}'", s));
    if (!opt_.from.empty()) {
      if (!pipeline_.find(opt_.from)) throw Error(fmt::format("--from: no stage named '{}'", opt_.from));
      force_with_downstream(opt_.from);
    }
    for (const auto& s : opt_.force) {
      if (!pipeline_.find(s)) throw Error(fmt::format("--force: no stage named '{}'", s));
      force_with_downstream(s);
    }
    if (opt_.force_all)
      for (const auto& s : pipeline_.stages) forced_.insert(s.name);
    // Stages that the --only stages need (their upstream, transitively), with the selected stage that needs each.
    std::function<void(const std::string&, const std::string&)> need = [&](const std::string& stage,
                                                                            const std::string& by) {
      if (const StagePlan* sp = pipeline_.find(stage))
        for (const auto& d : sp->deps)
          if (needed_by_.emplace(d, by).second) need(d, by);
    };
    for (const auto& s : opt_.only) need(s, s);
  }

  // ---- the run folder, the logs, the threads
  void open_run_folder() {
    runs_ = fs::absolute(opt_.runs_dir);
    fs::create_directories(runs_ / pipeline_.name);
    // A run folder is never shared: draw ids until one is new (two runs can start in the same second).
    for (int attempt = 0;; ++attempt) {
      run_id_ = new_run_id();
      run_dir_ = runs_ / pipeline_.name / run_id_;
      if (fs::create_directory(run_dir_)) break;
      if (attempt > 100)
        throw Error(fmt::format("cannot create a new run folder under '{}'", (runs_ / pipeline_.name).string()));
    }
    cache_dir_ = opt_.cache_dir.empty() ? runs_ / ".cache" : fs::absolute(opt_.cache_dir);
    fs::create_directories(run_dir_ / "stages");
    fs::create_directories(cache_dir_);
    result_.run_dir = run_dir_;
    log_.open(run_dir_ / "runner.log");
    metrics_.open(run_dir_ / "metrics.jsonl");
    threads_ = apply_thread_settings(threads_for_this_rank(pipeline_.threads));
    t_start_ = wall_seconds();
  }

  // ---- the record
  void record_skeleton() {
    record_.set("stagehand_record", ConfigNode::of(int64_t{1}));
    record_.set("run_id", ConfigNode::of(run_id_));
    record_.set("status", ConfigNode::of("running"));
    record_.set("mode", ConfigNode::of(opt_.mode));
    if (!opt_.replay_of.empty()) record_.set("replay_of", ConfigNode::of(opt_.replay_of));
    record_.set("started", ConfigNode::of(utc_timestamp()));
    ConfigNode cmd = ConfigNode::sequence();
    for (const auto& a : opt_.command_line) cmd.push_back(ConfigNode::of(a));
    record_.set("command", cmd);
    ConfigNode pinfo = ConfigNode::map();
    pinfo.set("name", ConfigNode::of(pipeline_.name));
    pinfo.set("file", ConfigNode::of(pipeline_.file.string()));
    if (fs::exists(pipeline_.file)) pinfo.set("sha256", ConfigNode::of(sha256_file(pipeline_.file)));
    pinfo.set("description", ConfigNode::of(pipeline_.description));
    record_.set("pipeline", pinfo);
    ConfigNode ovr = ConfigNode::sequence();
    for (const auto& o : pipeline_.overrides) ovr.push_back(ConfigNode::of(o));
    record_.set("overrides", ovr);
    record_.set("environment", environment_facts());
    record_.set("threads", threads_node());
    if (dist::active()) record_.set("distributed", distributed_node());
    record_.set("seeds", seeds_node());
    record_.set("plugins", plugins_node());
    record_.set("core_sha256", ConfigNode::of(core_library_sha()));
    // Input files are hashed once per run (they feed cache keys and the record).
    record_.set("inputs", inputs_);
    record_.set("stages", stages_rec_);
    record_.set("resolved", pipeline_.root);
    ConfigNode prov = ConfigNode::map();
    for (const auto& [path, where] : provenance(pipeline_.root))
      if (where.known()) prov.set(path, ConfigNode::of(where.str()));
    record_.set("provenance", prov);
  }

  ConfigNode threads_node() const {
    ConfigNode th = ConfigNode::map();
    th.set("intra_op", ConfigNode::of(static_cast<int64_t>(threads_.intra_op)));
    th.set("inter_op", ConfigNode::of(static_cast<int64_t>(threads_.inter_op)));
    th.set("blas", ConfigNode::of(static_cast<int64_t>(threads_.blas)));
    th.set("data", ConfigNode::of(static_cast<int64_t>(threads_.data)));
    return th;
  }

  static ConfigNode distributed_node() {
    const dist::World& w = dist::world();
    ConfigNode d = ConfigNode::map();
    d.set("world_size", ConfigNode::of(static_cast<int64_t>(w.world_size)));
    d.set("local_world_size", ConfigNode::of(static_cast<int64_t>(w.local_world_size)));
    d.set("backend", ConfigNode::of(w.backend));
    d.set("master", ConfigNode::of(fmt::format("{}:{}", w.master_addr, w.master_port)));
    d.set("timeout_seconds", ConfigNode::of(w.timeout_s));
    return d;
  }

  ConfigNode seeds_node() const {
    ConfigNode seeds = ConfigNode::map();
    // Seeds are unsigned 64-bit: written as text so that values >= 2^63 stay positive.
    seeds.set("pipeline", ConfigNode::scalar(std::to_string(pipeline_.seed)));
    ConfigNode stage_seeds = ConfigNode::map();
    for (const auto& s : pipeline_.stages) stage_seeds.set(s.name, ConfigNode::scalar(std::to_string(s.seed)));
    seeds.set("stages", stage_seeds);
    return seeds;
  }

  ConfigNode plugins_node() {
    ConfigNode plugins = ConfigNode::sequence();
    for (const auto& l : loader_.loaded()) {
      plugin_sha_[l.file.string()] = l.sha256;
      ConfigNode p = ConfigNode::map();
      p.set("name", ConfigNode::of(l.name));
      p.set("version", ConfigNode::of(l.version));
      p.set("file", ConfigNode::of(l.file.string()));
      p.set("sha256", ConfigNode::of(l.sha256));
      p.set("origin", ConfigNode::of(l.origin));
      p.set("abi", ConfigNode::of(static_cast<int64_t>(l.abi)));
      p.set("torch", ConfigNode::of(l.torch_version));
      p.set("cxx11_abi", ConfigNode::of(static_cast<int64_t>(l.cxx11_abi)));
      p.set("compiler", ConfigNode::of(l.compiler));
      ConfigNode comps = ConfigNode::sequence();
      for (const auto& c : l.components) comps.push_back(ConfigNode::of(c));
      p.set("components", comps);
      plugins.push_back(p);
    }
    return plugins;
  }

  void write_record() {
    record_.set("stages", stages_rec_);
    record_.set("inputs", inputs_);
    try {
      write_file_atomic(run_dir_ / "record.yaml", "# stagehand run record (see docs/records.md)\n" + to_yaml(record_));
    } catch (const Error& e) {
      log_.line(fmt::format("warning: could not write the record: {}", e.message()));
    }
  }

  /// `runs/<name>/latest` points at this run.
  void point_latest() const {
    fs::path latest = runs_ / pipeline_.name / "latest";
    std::error_code ec;
    fs::remove(latest, ec);
    fs::create_directory_symlink(run_id_, latest, ec);
  }

  // ---- one stage
  /// What the other ranks of a data-parallel run are told about this stage (see follow_pipeline).
  static void tell(Attempt& at, const std::string& what) {
    dist::publish("stage/" + at.plan.name, what);
    at.told = what == "solo" || what.rfind("dp\t", 0) == 0 ? 1 : 2;
  }

  void run_stage(const StagePlan& plan) {
    Attempt at{plan, {}, ConfigNode::map(), 0, wall_seconds(), utc_timestamp()};
    at.srec.set("kind", ConfigNode::of(plan.kind));
    if (failed_) {
      tell(at, "skipped");
      at.sr.status = "skipped";
      at.srec.set("status", ConfigNode::of("skipped"));
      stages_rec_.set(plan.name, at.srec);
      result_.stages[plan.name] = at.sr;
      return;
    }
    try {
      attempt(at);
    } catch (const Interrupted& e) {
      at.sr.status = "interrupted";
      at.sr.error = e.message();
      result_.exit_code = 128 + e.signal_number();
      failed_ = true;
    } catch (Error& e) {
      e.in_stage(plan.name);
      at.sr.status = "failed";
      at.sr.error = e.what();
      result_.exit_code = 1;
      failed_ = true;
    } catch (const std::exception& e) {
      at.sr.status = "failed";
      at.sr.error = fmt::format("stage '{}': {}", plan.name, clean_what(e));
      result_.exit_code = 1;
      failed_ = true;
    }
    close_stage(at);
  }

  /// The cache key, then: reuse the cached output, skip the stage, refuse (--only), or execute it.
  void attempt(Attempt& at) {
    const StagePlan& plan = at.plan;
    const Placement pl = place(plan, at);
    if (opt_.use_cache && fs::is_directory(pl.entry) && (!pl.forced || !pl.selected)) {
      outputs_[plan.name] = read_output(plan.name, plan.kind, pl.entry);
      tell(at, "cached\t" + pl.entry.string());
      at.sr.status = "cached";
      at.sr.metrics = outputs_[plan.name].metrics;
      at.sr.timings = outputs_[plan.name].timings;
      std::error_code ec;
      fs::create_directory_symlink(fs::relative(pl.entry, pl.link.parent_path()), pl.link, ec);
      log_.line(fmt::format("[{}] reused cached output (key {}, {})", plan.name, pl.key.substr(0, 12),
                            pl.entry.string()));
    } else if (!pl.selected && !needed_by_.count(plan.name)) {
      tell(at, "skipped");
      at.sr.status = "skipped";
      log_.line(fmt::format("[{}] skipped (not selected by --only)", plan.name));
    } else if (!pl.selected) {
      throw Error(fmt::format("--only: stage '{}' needs the output of '{}', which has not run with these options; "
                              "run without --only first",
                              needed_by_.at(plan.name), plan.name));
    } else {
      execute(at, pl);
    }
  }

  /// The stage's cache key (kind, seed, options with input files by content, core, upstream keys, plugins) and
  /// where its output goes.
  Placement place(const StagePlan& plan, Attempt& at) {
    for (const auto& [file, unused] : plan.inputs) {
      if (!input_sha_.count(file)) {
        input_sha_[file] = sha256_path(file);
        inputs_.set(file, ConfigNode::of(input_sha_[file]));
      }
    }
    ConfigNode opts_for_key = replace_inputs(plan.resolved, input_sha_);
    opts_for_key.erase("description");
    opts_for_key.erase("cache");
    Placement pl;
    nlohmann::json& kj = pl.key_material;
    kj["format"] = 1;
    kj["kind"] = plan.kind;
    kj["seed"] = plan.seed;
    kj["options"] = nlohmann::json::parse(to_canonical_json(opts_for_key));
    kj["core"] = core_library_sha();
    nlohmann::json up = nlohmann::json::object();
    for (const auto& d : plan.deps) up[d] = keys_.at(d);
    kj["upstream"] = up;
    std::vector<std::string> pshas;
    for (const auto& f : plan.plugin_files) pshas.push_back(plugin_sha_.count(f) ? plugin_sha_[f] : f);
    std::sort(pshas.begin(), pshas.end());
    kj["plugins"] = pshas;
    pl.key = sha256_hex(kj.dump());
    keys_[plan.name] = pl.key;
    at.sr.cache_key = pl.key;
    at.srec.set("cache_key", ConfigNode::of(pl.key));
    pl.entry = opt_.use_cache ? cache_dir_ / fmt::format("{}-{}", plan.name, pl.key.substr(0, 16))
                              : run_dir_ / "stages" / plan.name;
    pl.link = run_dir_ / "stages" / plan.name;
    pl.selected = opt_.only.empty() || std::find(opt_.only.begin(), opt_.only.end(), plan.name) != opt_.only.end();
    pl.forced = forced_.count(plan.name) > 0 || !plan.cache;
    return pl;
  }

  /// Runs the stage (every trial) into "<entry>.partial", then swaps it into place.
  void execute(Attempt& at, const Placement& pl) {
    const StagePlan& plan = at.plan;
    fs::path partial = pl.entry;
    partial += ".partial";
    fs::path lockfile = pl.entry;
    lockfile += ".lock";
    std::unique_ptr<FileLock> lock;
    if (opt_.use_cache) lock = std::make_unique<FileLock>(lockfile);
    const bool resuming = fs::is_directory(partial) && !fs::is_empty(partial);
    fs::create_directories(partial);
    Options options(plan.resolved, std::make_shared<const Schema>(*plan.info->schema),
                    fmt::format("stage '{}'", plan.name));
    if (plan.info->data_parallel) {
      // Every rank runs the trials that are not complete yet.
      std::vector<std::string> pending;
      for (int k = 1; k <= std::max(1, plan.trials); ++k)
        if (plan.trials <= 1 || !fs::exists(partial / fmt::format("trial-{}", k) / "outputs.yaml"))
          pending.push_back(std::to_string(k));
      tell(at, fmt::format("dp\t{}", fmt::join(pending, ",")));
    } else {
      tell(at, "solo");
    }
    log_.line(fmt::format("[{}] {} ({}){}{}", plan.name, resuming ? "resuming" : "running", plan.kind,
                          plan.trials > 1 ? fmt::format(", {} trials", plan.trials) : "",
                          pl.forced && fs::is_directory(pl.entry) ? " (forced)" : ""));
    if (plan.trials <= 1)
      run_once(plan, options, plan.seed, 1, partial, pl.entry, resuming);
    else
      run_trials(plan, options, partial, pl.entry);
    write_stage_info(plan, pl, partial);
    swap_into_place(partial, pl.entry);
    if (opt_.use_cache) {
      std::error_code ec;
      fs::remove(lockfile, ec);
      fs::remove(pl.link, ec);
      fs::create_directory_symlink(fs::relative(pl.entry, pl.link.parent_path()), pl.link, ec);
    }
    outputs_[plan.name] = read_output(plan.name, plan.kind, pl.entry);
    dist::publish("done/" + plan.name, "ok\t" + pl.entry.string());
    at.told = 2;
    at.sr.status = "ran";
    at.sr.metrics = outputs_[plan.name].metrics;
    at.sr.timings = outputs_[plan.name].timings;
    log_.line(fmt::format("[{}] done in {}", plan.name, format_duration(wall_seconds() - at.t0)));
  }

  /// Runs the stage once into `dir` (the partial folder or one of its trial folders; `final_dir` is where it ends
  /// up: the entry itself, or the entry's trial-k folder) and writes outputs.yaml there.
  void run_once(const StagePlan& plan, const Options& options, uint64_t seed, int trial, const fs::path& dir,
                const fs::path& final_dir, bool again) {
    Context ctx(plan, seed, trial, options, dir, final_dir, again, registry_, outputs_, log_, metrics_,
                threads_.intra_op);
    BuildContext bc = ctx.build_context();
    auto stage = std::static_pointer_cast<Stage>(plan.info->factory(options, bc));
    stage->run(ctx);
    if (stop_signal() != 0) throw Interrupted(stop_signal());
    ConfigNode out = ConfigNode::map();
    ConfigNode prov_node = ConfigNode::map();
    for (const auto& [k, v] : ctx.provided()) prov_node.set(k, v);
    out.set("provides", prov_node);
    out.set("metrics", metrics_node(ctx.final_metrics()));
    out.set("timings", metrics_node(ctx.final_timings()));
    if (plan.trials > 1) {
      out.set("trial", ConfigNode::of(static_cast<int64_t>(trial)));
      out.set("seed", ConfigNode::scalar(std::to_string(seed)));
    }
    write_file_atomic(dir / "outputs.yaml", to_yaml(out));
  }

  /// Each trial is complete once its outputs.yaml exists: an interrupted stage resumes at the first trial without
  /// one (and that trial from its own checkpoints). The stage's outputs.yaml holds the summaries over trials.
  void run_trials(const StagePlan& plan, const Options& options, const fs::path& partial, const fs::path& entry) {
    std::vector<StageOutput> done;
    for (int k = 1; k <= plan.trials; ++k) {
      fs::path tdir = partial / fmt::format("trial-{}", k);
      if (fs::exists(tdir / "outputs.yaml")) {
        log_.line(fmt::format("[{}] trial {}/{} already complete", plan.name, k, plan.trials));
      } else {
        const bool again = fs::is_directory(tdir) && !fs::is_empty(tdir);
        fs::create_directories(tdir);
        const uint64_t seed = trial_seed(plan.seed, k);
        log_.line(fmt::format("[{}] trial {}/{} {}(seed {})", plan.name, k, plan.trials, again ? "resuming " : "",
                              seed));
        run_once(plan, options, seed, k, tdir, entry / tdir.filename(), again);
      }
      done.push_back(read_output(plan.name, plan.kind, tdir));
    }
    ConfigNode out = ConfigNode::map();
    out.set("trials", ConfigNode::of(static_cast<int64_t>(plan.trials)));
    out.set("metrics", metrics_node(flatten_summaries(trial_summaries(done, &StageOutput::metrics), true)));
    out.set("timings", metrics_node(flatten_summaries(trial_summaries(done, &StageOutput::timings), false)));
    write_file_atomic(partial / "outputs.yaml", to_yaml(out));
  }

  void write_stage_info(const StagePlan& plan, const Placement& pl, const fs::path& partial) const {
    ConfigNode info = ConfigNode::map();
    info.set("stage", ConfigNode::of(plan.name));
    info.set("kind", ConfigNode::of(plan.kind));
    info.set("cache_key", ConfigNode::of(pl.key));
    info.set("key_material", ConfigNode::of(pl.key_material.dump()));
    info.set("run_id", ConfigNode::of(run_id_));
    info.set("finished", ConfigNode::of(utc_timestamp()));
    info.set("options", plan.resolved);
    write_file_atomic(partial / "stage.yaml", to_yaml(info));
  }

  /// A forced re-run replaces the old entry only once the new one is complete.
  void swap_into_place(const fs::path& partial, const fs::path& entry) const {
    if (fs::exists(entry)) {
      fs::path old = entry;
      old += fmt::format(".old-{}", run_id_);
      fs::rename(entry, old);
      fs::rename(partial, entry);
      std::error_code ec;
      fs::remove_all(old, ec);
    } else {
      fs::rename(partial, entry);
    }
    fsync_dir(entry.parent_path());
  }

  /// Tells the other ranks about a failure, logs it, and writes the stage's record entry and the record.
  void close_stage(Attempt& at) {
    const StagePlan& plan = at.plan;
    StageResult& sr = at.sr;
    if (at.told < 2) {
      try {
        dist::publish(at.told == 0 ? "stage/" + plan.name : "done/" + plan.name, "failed");
      } catch (const Error&) {
      }
    }
    if (sr.status == "failed" || sr.status == "interrupted") {
      if (stop_signal() != 0 && sr.status == "failed") {
        sr.status = "interrupted";
        result_.exit_code = 128 + stop_signal();
      }
      result_.error = sr.error;
      log_.line(fmt::format("[{}] {}: {}", plan.name, sr.status, sr.error));
    }
    sr.seconds = wall_seconds() - at.t0;
    at.srec.set("status", ConfigNode::of(sr.status));
    at.srec.set("started", ConfigNode::of(at.started));
    at.srec.set("ended", ConfigNode::of(utc_timestamp()));
    at.srec.set("seconds", ConfigNode::of(sr.seconds));
    at.srec.set("metrics", metrics_node(sr.metrics));
    if (!sr.timings.empty()) at.srec.set("timings", metrics_node(sr.timings));
    if (auto it = outputs_.find(plan.name); it != outputs_.end() && !it->second.trials.empty() &&
                                            (sr.status == "ran" || sr.status == "cached")) {
      at.srec.set("trials", trials_record(it->second, plan.seed));
      log_.line(fmt::format("[{}] {} trials: {}", plan.name, it->second.trials.size(), trials_line(it->second)));
    }
    if (!sr.error.empty()) at.srec.set("error", ConfigNode::of(sr.error));
    stages_rec_.set(plan.name, at.srec);
    result_.stages[plan.name] = sr;
    write_record();
  }

  // ---- the end of the run
  void finish() {
    result_.status = result_.exit_code == 0 ? "completed" : (result_.exit_code == 1 ? "failed" : "interrupted");
    record_.set("status", ConfigNode::of(result_.status));
    record_.set("ended", ConfigNode::of(utc_timestamp()));
    record_.set("seconds", ConfigNode::of(wall_seconds() - t_start_));
    if (!result_.error.empty()) record_.set("error", ConfigNode::of(result_.error));
    write_record();
    if (dist::active()) {
      // The store lives in this process: give the other ranks time to read the last messages before it goes.
      // After a failure only briefly: they may be blocked in a collective of the failed stage, which fails as soon
      // as this process ends.
      const double until = wall_seconds() + (result_.exit_code == 0 ? 30 : 2);
      for (int r = 1; r < dist::world().world_size && wall_seconds() < until; ++r) {
        try {
          dist::await(fmt::format("finished/{}", r), [&] { return wall_seconds() > until || stop_signal() != 0; });
        } catch (const Error&) {
        }
      }
    }
    log_.line(fmt::format("pipeline '{}' {} in {}; record: {}", pipeline_.name, result_.status,
                          format_duration(wall_seconds() - t_start_), (run_dir_ / "record.yaml").string()));
  }

  const Pipeline& pipeline_;
  const PluginLoader& loader_;
  const RunOptions& opt_;
  const Registry& registry_;
  RunResult result_;
  std::set<std::string> forced_;
  std::map<std::string, std::string> needed_by_;  // stages the --only stages need, with the stage that needs each
  fs::path runs_, run_dir_, cache_dir_;
  std::string run_id_;
  RunLog log_;
  MetricsLog metrics_;
  ThreadSettings threads_;
  double t_start_ = 0;
  ConfigNode record_ = ConfigNode::map();
  ConfigNode inputs_ = ConfigNode::map();
  ConfigNode stages_rec_ = ConfigNode::map();
  std::map<std::string, std::string> plugin_sha_, input_sha_, keys_;
  std::map<std::string, StageOutput> outputs_;
  bool failed_ = false;
};

}  // namespace

RunResult run_pipeline(const Pipeline& pipeline, const PluginLoader& loader, const RunOptions& opt) {
  if (dist::world().rank != 0) return follow_pipeline(pipeline, loader);
  return PipelineRun(pipeline, loader, opt).run();
}

uint64_t trial_seed(uint64_t stage_seed, int trial) {
  return trial <= 1 ? stage_seed : derive_seed(stage_seed, fmt::format("trial-{}", trial));
}

}  // namespace stagehand
