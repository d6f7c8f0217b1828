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
#include "stagehand/results.h"
#include "stagehand/seed.h"
#include "stagehand/summary.h"
#include "stagehand/files.h"
#include "stagehand/version.h"

#include "pipeline/pipeline.h"
#include "pipeline/ranks.h"
#include "pipeline/run_lock.h"
#include "pipeline/run_log.h"
#include "pipeline/run_summary.h"
#include "pipeline/stage_context.h"
#include "pipeline/stage_records.h"
#include "util/clock.h"
#include "util/git_state.h"
#include "util/hash.h"

namespace stagehand {

namespace fs = std::filesystem;

namespace {

using namespace exec;

// ---------------------------------------------------------------- rank 0: the executor, in named parts
// PipelineRun owns one run: which stages run (select), the run folder and logs (open_run_folder), the record
// (record_skeleton, write_record), each stage's cache key, reuse or execution (run_stage and below), and the end of
// the run (finish). Other ranks of a data-parallel run are told what happens to each stage (tell) and follow it
// (follow_pipeline).
class PipelineRun {
 public:
  PipelineRun(const Pipeline& pipeline, const PluginLoader& loader, const RunOptions& opt)
      : pipeline_(pipeline), loader_(loader), opt_(opt), registry_(loader.registry()) {}

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
    record_.set("started_unix", ConfigNode::of(t_start_));  // orders runs that started within one second
    ConfigNode cmd = ConfigNode::sequence();
    for (const auto& a : opt_.command_line) cmd.push_back(ConfigNode::of(a));
    record_.set("command", cmd);
    ConfigNode pinfo = ConfigNode::map();
    pinfo.set("name", ConfigNode::of(pipeline_.name));
    pinfo.set("file", ConfigNode::of(pipeline_.file.string()));
    if (fs::exists(pipeline_.file)) pinfo.set("sha256", ConfigNode::of(sha256_file(pipeline_.file)));
    // The pipeline file's own version: a file edited since the runner was built is newer than its build commit.
    if (const auto g = git_state(pipeline_.file)) {
      ConfigNode git = ConfigNode::map();
      git.set("commit", ConfigNode::of(g->commit));
      git.set("tracked", ConfigNode::of(g->tracked));
      git.set("file_dirty", ConfigNode::of(g->file_dirty));
      git.set("repo_dirty", ConfigNode::of(g->repo_dirty));
      pinfo.set("git", git);
    }
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
      write_file_atomic(run_dir_ / "summary.json", run_summary_json(record_));
    } catch (const Error& e) {
      log_.warn(fmt::format("could not write the record: {}", e.message()));
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
    ConfigNode upstream = ConfigNode::sequence();
    for (const auto& d : plan.deps) upstream.push_back(ConfigNode::of(d));
    at.srec.set("upstream", upstream);
    if (failed_) {
      tell(at, "skipped");
      at.sr.status = StageStatus::Skipped;
      at.srec.set("status", ConfigNode::of(to_string(StageStatus::Skipped)));
      stages_rec_.set(plan.name, at.srec);
      result_.stages[plan.name] = at.sr;
      return;
    }
    try {
      attempt(at);
    } catch (const Interrupted& e) {
      at.sr.status = StageStatus::Interrupted;
      at.sr.error = e.message();
      result_.exit_code = 128 + e.signal_number();
      failed_ = true;
    } catch (Error& e) {
      e.in_stage(plan.name);
      at.sr.status = StageStatus::Failed;
      at.sr.error = e.what();
      result_.exit_code = 1;
      failed_ = true;
    } catch (const std::exception& e) {
      at.sr.status = StageStatus::Failed;
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
      at.sr.status = StageStatus::Cached;
      at.sr.metrics = outputs_[plan.name].metrics;
      at.sr.timings = outputs_[plan.name].timings;
      std::error_code ec;
      fs::create_directory_symlink(fs::relative(pl.entry, pl.link.parent_path()), pl.link, ec);
      log_.line(fmt::format("[{}] reused cached output (key {}, {})", plan.name, pl.key.substr(0, 12),
                            pl.entry.string()));
    } else if (!pl.selected && !needed_by_.count(plan.name)) {
      tell(at, "skipped");
      at.sr.status = StageStatus::Skipped;
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
    log_.debug(fmt::format("[{}] cache key {} (from its options, inputs, plugins and upstream keys); entry {}",
                           plan.name, pl.key, pl.entry.string()));
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
    at.sr.status = StageStatus::Ran;
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
    if (sr.status == StageStatus::Failed || sr.status == StageStatus::Interrupted) {
      if (stop_signal() != 0 && sr.status == StageStatus::Failed) {
        sr.status = StageStatus::Interrupted;
        result_.exit_code = 128 + stop_signal();
      }
      result_.error = sr.error;
      log_.line(fmt::format("[{}] {}: {}", plan.name, to_string(sr.status), sr.error));
    }
    sr.seconds = wall_seconds() - at.t0;
    at.srec.set("status", ConfigNode::of(to_string(sr.status)));
    at.srec.set("started", ConfigNode::of(at.started));
    at.srec.set("ended", ConfigNode::of(utc_timestamp()));
    at.srec.set("seconds", ConfigNode::of(sr.seconds));
    at.srec.set("metrics", metrics_node(sr.metrics));
    if (!sr.timings.empty()) at.srec.set("timings", metrics_node(sr.timings));
    if (auto it = outputs_.find(plan.name); it != outputs_.end() && !it->second.trials.empty() &&
                                            (sr.status == StageStatus::Ran || sr.status == StageStatus::Cached)) {
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
    result_.status = result_.exit_code == 0 ? RunStatus::Completed
                    : (result_.exit_code == 1 ? RunStatus::Failed : RunStatus::Interrupted);
    record_.set("status", ConfigNode::of(to_string(result_.status)));
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
    const int warnings = log_.warnings();
    log_.line(fmt::format("pipeline '{}' {} in {}{}; record: {}", pipeline_.name, to_string(result_.status),
                          format_duration(wall_seconds() - t_start_),
                          warnings == 0 ? "" : fmt::format(" with {} warning{} (above, and in runner.log)", warnings,
                                                           warnings == 1 ? "" : "s"),
                          (run_dir_ / "record.yaml").string()));
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

const char* to_string(StageStatus status) {
  switch (status) {
    case StageStatus::Ran: return "ran";
    case StageStatus::Cached: return "cached";
    case StageStatus::Failed: return "failed";
    case StageStatus::Interrupted: return "interrupted";
    case StageStatus::Skipped: return "skipped";
  }
  return "unknown";
}

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::Completed: return "completed";
    case RunStatus::Failed: return "failed";
    case RunStatus::Interrupted: return "interrupted";
  }
  return "unknown";
}

uint64_t trial_seed(uint64_t stage_seed, int trial) {
  return trial <= 1 ? stage_seed : derive_seed(stage_seed, fmt::format("trial-{}", trial));
}

}  // namespace stagehand
