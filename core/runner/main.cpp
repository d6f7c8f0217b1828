// SPDX-License-Identifier: Apache-2.0
// runner: the stagehand command line. Exit codes: 0 success, 1 error, 2 usage, 130/143 interrupted.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <set>

#include <CLI/CLI.hpp>

#include "bench.h"
#include "launch.h"
#include "predict.h"
#include "report.h"
#include "runs.h"
#include "sweep.h"
#include "inspect.h"
#include "util/allocator.h"
#include "pipeline/pipeline.h"
#include "pipeline/run_log.h"
#include "plugin/loader.h"
#include "plugin/conformance.h"
#include "plugin/declarations.h"
#include "stagehand/distributed.h"
#include "stagehand/tokenizer.h"
#include "stagehand/version.h"

namespace fs = std::filesystem;
using namespace stagehand;
using namespace stagehand::cli;

namespace {

const char* kExamples = R"(
Examples:
  runner pipelines/quickstart.yaml                     run a pipeline (unchanged stages are reused)
  runner pipelines/quickstart.yaml stages.finetune.optimizer.lr=3e-5   ... with an override
  runner pipelines/quickstart.yaml --from finetune     re-run finetune and everything after it
  runner check pipelines/quickstart.yaml               validate everything, run nothing
  runner check --print pipelines/quickstart.yaml       print the fully resolved pipeline
  runner plugins                                       list components by kind
  runner describe stage/train                          options of a component
  runner replay runs/quickstart/latest/record.yaml     re-run a recorded run and compare metrics
  runner diff runs/q/A/record.yaml runs/q/B/record.yaml   how two runs differ
  runner runs quickstart --metrics evaluate.finetune.macro_f1   a table of the runs (--compare A B: side by side)
  runner sweep pipelines/quickstart.yaml seed=1,2,3 --jobs 2   one run per setting, then mean (std) over seeds
  echo "Win a free prize now" | runner predict runs/quickstart/latest --stage finetune   label and probabilities
  runner -q pipelines/quickstart.yaml                  warnings, errors and results only (-v: debug lines)
  runner test-plugin build/my_loss.so                  conformance kit for plugin authors
  echo "Hello, world!" | runner tokenize --tokenizer "{type: wordpiece, vocab: vocab.txt}"   tokens of each line
  echo "Hello, world!" | runner tokenize --pipeline p.yaml --stage tok --ids   ids from a pipeline's tokenizer stage
  runner --nproc 2 pipelines/quickstart.yaml          data-parallel training on 2 local ranks (docs/distributed.md)
  runner bench pretrain --batch 32 --dtype bf16        the peer benchmark's workloads, one JSON line (docs/performance.md)
Environment: STAGEHAND_PLUGIN_PATH (extra plugin folders or files, ':'-separated); RANK, WORLD_SIZE, LOCAL_RANK,
  MASTER_ADDR, MASTER_PORT (torchrun's, for data-parallel ranks started by another launcher).
Exit codes: 0 success, 1 error, 2 usage, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
)";


// ---------------------------------------------------------------- run / check
/// report.html beside the record; a run that could not write one still has its record, so this only warns.
void write_report_of(const RunResult& r) {
  if (r.run_dir.empty() || !fs::is_regular_file(r.run_dir / "record.yaml")) return;
  try {
    std::cout << "report: " << write_run_report(r.run_dir).string() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "runner: warning: no report.html for " << r.run_dir.string() << ": " << e.what() << "\n";
  }
}

int cmd_run(const std::string& file, const std::vector<std::string>& overrides, const std::vector<std::string>& extra,
            RunOptions ro) {
  Registry registry;
  PluginLoader loader(registry);
  load_plugins(loader, extra);
  size_t refused_before = loader.refused().size();
  Pipeline p = load_pipeline(file, overrides, loader);
  for (size_t i = refused_before; i < loader.refused().size(); ++i)
    std::cerr << "runner: warning: plugin " << loader.refused()[i].file.string() << " refused: " << loader.refused()[i].reason << "\n";
  install_signal_handlers();
  // A rank of a data-parallel run (runner --nproc N, or torchrun's environment) joins its group first.
  int timeout_s = 300;
  if (const char* t = std::getenv("STAGEHAND_DIST_TIMEOUT"); t && *t) {
    char* end = nullptr;
    long v = std::strtol(t, &end, 10);
    if (*end != '\0' || v < 1)
      throw Error(fmt::format("STAGEHAND_DIST_TIMEOUT='{}' is not a positive number of seconds", t));
    timeout_s = static_cast<int>(v);
  }
  dist::init_from_environment(std::chrono::seconds(timeout_s));
  RunResult r = run_pipeline(p, loader, ro);
  if (dist::world().rank != 0) {
    // Rank 0 prints the results and the record; the others only their own failure.
    if (r.exit_code != 0 && !r.error.empty()) std::cerr << "runner: error: " << r.error << "\n";
    dist::shutdown();
    return r.exit_code;
  }
  // Results table: every stage's final metrics.
  std::cout << "\n" << fmt::format("{:<20} {:<18} {:<10} {}", "stage", "kind", "status", "metrics") << "\n";
  for (const auto& s : p.stages) {
    const StageResult& sr = r.stages[s.name];
    std::string m;
    // Headline metrics only (per-class and confusion details, with more dots in their names, stay in the record).
    for (const auto& [k, v] : sr.metrics)
      if (std::count(k.begin(), k.end(), '.') <= 1 && k.find("examples") == std::string::npos)
        m += fmt::format("{}{}={:.4g}", m.empty() ? "" : "  ", k, v);
    std::cout << fmt::format("{:<20} {:<18} {:<10} {}", s.name, s.kind, to_string(sr.status), m) << "\n";
  }
  std::cout << "record: " << (r.run_dir / "record.yaml").string() << "\n";
  write_report_of(r);
  if (r.exit_code != 0) std::cerr << "runner: error: " << r.error << "\n";
  dist::shutdown();
  return r.exit_code;
}

// ---------------------------------------------------------------- records: replay and diff
ConfigNode load_record(const std::string& file) {
  fs::path p = file;
  if (fs::is_directory(p)) p /= "record.yaml";
  ConfigNode r = load_yaml_file(p);
  if (!r.is_map() || !r.has("stagehand_record") || !r.has("resolved"))
    throw Error(fmt::format("'{}' is not a stagehand run record (no 'stagehand_record' / 'resolved'); records are "
                            "runs/<pipeline>/<run id>/record.yaml",
                            p.string()));
  return r;
}

std::map<std::string, std::map<std::string, double>> record_metrics(const ConfigNode& r) {
  std::map<std::string, std::map<std::string, double>> out;
  if (const ConfigNode* st = r.find("stages"); st && st->is_map())
    for (const auto& [name, s] : st->entries())
      if (const ConfigNode* m = s.find("metrics"); m && m->is_map())
        for (const auto& [k, v] : m->entries()) out[name][k] = v.is_int() ? static_cast<double>(v.as_int()) : v.as_double();
  return out;
}

int cmd_replay(const std::string& file, const std::vector<std::string>& extra, bool allow_plugin_change,
               double tolerance, RunOptions ro) {
  ConfigNode rec = load_record(file);
  std::string status = rec.at("status").as_string();
  if (status != "completed")
    throw Error(fmt::format("record '{}' is of a run that did not complete (status {}); only completed runs can be "
                            "replayed",
                            file, status));
  Registry registry;
  PluginLoader loader(registry);
  load_plugins(loader, extra);
  // Every plugin file the record names must be loadable and identical, unless the user accepts a change.
  std::vector<std::string> changed;
  if (const ConfigNode* plugins = rec.find("plugins"); plugins && plugins->is_sequence()) {
    for (const auto& p : plugins->items()) {
      std::string f = p.at("file").as_string();
      std::string sha = p.at("sha256").as_string();
      std::string name = p.at("name").as_string();
      const LoadedPlugin* now = nullptr;
      for (const auto& l : loader.loaded())
        if (l.file.string() == f || l.name == name) now = &l;
      if (!now && fs::exists(f)) now = loader.load(f, "record");
      if (!now)
        changed.push_back(fmt::format("{} ({}) is not available", name, f));
      else if (now->sha256 != sha)
        changed.push_back(fmt::format("{}: sha256 {} in the record, {} now ({})", name, sha.substr(0, 16),
                                      now->sha256.substr(0, 16), now->file.string()));
    }
  }
  if (!changed.empty()) {
    for (const auto& c : changed) std::cerr << "runner: plugin changed: " << c << "\n";
    if (!allow_plugin_change)
      throw Error(fmt::format("{} plugin(s) differ from the record; results may differ for that reason alone. Pass "
                              "--allow-plugin-change to replay anyway",
                              changed.size()));
  }
  ConfigNode resolved = rec.at("resolved");
  if (const ConfigNode* prov = rec.find("provenance")) restore_derived_locations(resolved, *prov);
  fs::path pipeline_file = rec.at("pipeline").at("file").as_string();
  Pipeline p = plan_pipeline(resolved, pipeline_file, loader);
  if (const ConfigNode* o = rec.find("overrides"); o && o->is_sequence())
    for (const auto& x : o->items()) p.overrides.push_back(x.as_string());
  install_signal_handlers();
  ro.use_cache = false;
  ro.mode = "replay";
  ro.replay_of = fs::absolute(file).string();
  RunResult r = run_pipeline(p, loader, ro);
  write_report_of(r);
  if (r.exit_code != 0) {
    std::cerr << "runner: error: the replay failed: " << r.error << "\n";
    return r.exit_code;
  }
  auto before = record_metrics(rec);
  int differences = 0;
  int compared = 0;
  std::cout << fmt::format("\n{:<20} {:<24} {:>16} {:>16}  {}\n", "stage", "metric", "recorded", "replayed", "");
  for (const auto& [stage, metrics] : before) {
    for (const auto& [name, v] : metrics) {
      auto sit = r.stages.find(stage);
      double now = NAN;
      if (sit != r.stages.end() && sit->second.metrics.count(name)) now = sit->second.metrics.at(name);
      bool same = (std::isnan(v) && std::isnan(now)) || std::fabs(v - now) <= tolerance * std::max(1.0, std::fabs(v));
      if (!same) ++differences;
      ++compared;
      std::cout << fmt::format("{:<20} {:<24} {:>16.8g} {:>16.8g}  {}\n", stage, name, v, now, same ? "same" : "DIFFERS");
    }
  }
  std::cout << fmt::format("replay of {}: {} metrics compared, {} differ; new record: {}\n", file, compared, differences,
                           (r.run_dir / "record.yaml").string());
  return differences == 0 ? 0 : 1;
}

void flatten(const ConfigNode& n, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (n.is_map() && n.size() > 0) {
    for (const auto& [k, v] : n.entries()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
  } else if (n.is_sequence() && n.size() > 0) {
    for (size_t i = 0; i < n.items().size(); ++i) flatten(n.items()[i], prefix + "." + std::to_string(i), out);
  } else {
    out[prefix] = n.is_scalar() ? n.text() : to_canonical_json(n);
  }
}

template <class F>
int diff_maps(const std::string& title, const std::map<std::string, std::string>& a,
              const std::map<std::string, std::string>& b, F show) {
  std::set<std::string> keys;
  for (const auto& [k, v] : a) keys.insert(k);
  for (const auto& [k, v] : b) keys.insert(k);
  int n = 0;
  std::string body;
  for (const auto& k : keys) {
    auto ia = a.find(k), ib = b.find(k);
    std::string va = ia == a.end() ? "(absent)" : show(ia->second);
    std::string vb = ib == b.end() ? "(absent)" : show(ib->second);
    if (va == vb) continue;
    ++n;
    body += fmt::format("  {}: {} -> {}\n", k, va, vb);
  }
  std::cout << fmt::format("{} ({} difference{})\n{}", title, n, n == 1 ? "" : "s", body);
  return n;
}

int cmd_diff(const std::string& fa, const std::string& fb) {
  ConfigNode a = load_record(fa), b = load_record(fb);
  std::cout << fmt::format("A: {} ({}, {})\nB: {} ({}, {})\n\n", fa, a.at("run_id").as_string(),
                           a.at("status").as_string(), fb, b.at("run_id").as_string(), b.at("status").as_string());
  auto same = [](const std::string& s) { return s; };
  auto short_sha = [](const std::string& s) { return s.size() == 64 ? s.substr(0, 16) : s; };
  int total = 0;
  std::map<std::string, std::string> oa, ob;
  flatten(a.at("resolved"), "", oa);
  flatten(b.at("resolved"), "", ob);
  total += diff_maps("options", oa, ob, same);
  std::map<std::string, std::string> pa, pb;
  for (const auto& p : a.at("plugins").items()) pa[p.at("name").as_string()] = p.at("version").as_string() + " " + p.at("sha256").as_string();
  for (const auto& p : b.at("plugins").items()) pb[p.at("name").as_string()] = p.at("version").as_string() + " " + p.at("sha256").as_string();
  total += diff_maps("plugins (version sha256)", pa, pb, [](const std::string& s) {
    auto sp = s.find(' ');
    return sp == std::string::npos ? s : s.substr(0, sp) + " " + s.substr(sp + 1, 16);
  });
  std::map<std::string, std::string> ia, ib;
  if (a.at("inputs").is_map())
    for (const auto& [k, v] : a.at("inputs").entries()) ia[k] = v.as_string();
  if (b.at("inputs").is_map())
    for (const auto& [k, v] : b.at("inputs").entries()) ib[k] = v.as_string();
  total += diff_maps("input data (sha256)", ia, ib, short_sha);
  std::map<std::string, std::string> ea, eb;
  flatten(a.at("environment"), "", ea);
  flatten(b.at("environment"), "", eb);
  ea.erase("libtorch.config");
  eb.erase("libtorch.config");
  flatten(a.at("threads"), "threads", ea);
  flatten(b.at("threads"), "threads", eb);
  total += diff_maps("environment", ea, eb, same);
  std::map<std::string, std::string> ka, kb;
  for (const auto& [k, v] : a.at("stages").entries())
    ka[k] = (v.find("cache_key") ? v.at("cache_key").as_string().substr(0, 16) : std::string("-")) + " " + v.at("status").as_string();
  for (const auto& [k, v] : b.at("stages").entries())
    kb[k] = (v.find("cache_key") ? v.at("cache_key").as_string().substr(0, 16) : std::string("-")) + " " + v.at("status").as_string();
  total += diff_maps("stages (cache key, status)", ka, kb, same);
  std::map<std::string, std::string> ma, mb;
  for (const auto& [s, m] : record_metrics(a))
    for (const auto& [k, v] : m) ma[s + "." + k] = fmt::format("{:.8g}", v);
  for (const auto& [s, m] : record_metrics(b))
    for (const auto& [k, v] : m) mb[s + "." + k] = fmt::format("{:.8g}", v);
  total += diff_maps("metrics", ma, mb, same);
  std::cout << (total == 0 ? "the two runs are identical in options, plugins, data, environment and metrics\n"
                           : fmt::format("{} differences in all\n", total));
  return 0;
}

int cmd_test_plugin(const std::string& file, const std::vector<std::string>& extra) {
  Registry registry;
  PluginLoader loader(registry);
  loader.load_default();
  for (const auto& e : extra) loader.load(e, "command line");
  const LoadedPlugin* l = loader.load(file, "command line");
  if (!l) {
    throw Error(fmt::format("plugin '{}' was refused: {}", file, loader.refused().back().reason));
  }
  std::cout << fmt::format("manifest: {} {} (ABI {}, LibTorch {}, cxx11_abi {}, {}) — ok\n", l->name, l->version, l->abi,
                           l->torch_version, l->cxx11_abi, l->compiler);
  std::cout << fmt::format("registered: {} component(s), loaded in {:.1f} ms\n", l->components.size(), l->load_ms);
  ConformanceReport rep = run_conformance(registry, l->file.string());
  int fails = 0, passes = 0, skips = 0;
  for (const auto& i : rep.items) {
    using Verdict = ConformanceReport::Verdict;
    const char* mark = i.verdict == Verdict::Pass ? " ok " : (i.verdict == Verdict::Fail ? "FAIL" : "skip");
    std::cout << fmt::format("  [{}] {:<28} {:<26} {}\n", mark, i.component, i.check, i.detail);
    (i.verdict == Verdict::Fail ? fails : i.verdict == Verdict::Pass ? passes : skips) += 1;
  }
  std::cout << fmt::format("{} passed, {} failed, {} skipped\n", passes, fails, skips);
  return fails == 0 ? 0 : 1;
}


// ---------------------------------------------------------------- tokenize
// The tokenizer of a pipeline's `tokenizer` stage: its `load:` spec as it stands, or, for a trained one, what the
// latest run of the pipeline provided (training again here could silently differ from what the run used).
std::shared_ptr<Tokenizer> tokenizer_of_stage(const Pipeline& p, const std::string& stage, const fs::path& runs_dir,
                                              const Registry& registry, int depth = 0) {
  const StagePlan* plan = p.find(stage);
  if (!plan) {
    std::string names;
    for (const auto& s : p.stages) names += (names.empty() ? "" : ", ") + s.name;
    throw Error(fmt::format("pipeline '{}' has no stage '{}'; its stages: {}", p.name, stage, names));
  }
  if (plan->kind != "tokenizer")
    throw Error(fmt::format("stage '{}' of pipeline '{}' is of kind '{}', not 'tokenizer'; name a tokenizer stage",
                            stage, p.name, plan->kind));
  BuildContext bc;
  bc.registry = &registry;
  bc.seed = plan->seed;
  const ConfigNode* load = plan->resolved.find("load");
  if (load && load->is_map()) {
    bc.base_dir = p.file.parent_path();
    return registry.create<Tokenizer>(*load, bc);
  }
  if (load && load->is_scalar() && depth < 16) return tokenizer_of_stage(p, load->text(), runs_dir, registry, depth + 1);
  fs::path dir = runs_dir / p.name / "latest" / "stages" / stage;
  fs::path outputs = dir / "outputs.yaml";
  if (!fs::exists(outputs))
    throw Error(fmt::format("stage '{}' trains its tokenizer and has not run yet ({} does not exist); run the pipeline "
                            "first: runner {}{}",
                            stage, outputs.string(), p.file.string(),
                            runs_dir == fs::path("runs") ? "" : " --runs-dir " + runs_dir.string()));
  ConfigNode out = load_yaml_file(outputs);
  const ConfigNode* provides = out.find("provides");
  const ConfigNode* spec = provides ? provides->find("tokenizer") : nullptr;
  if (!spec)
    throw Error(fmt::format("{} provides no tokenizer; the stage's last run did not finish: run the pipeline again",
                            outputs.string()));
  bc.base_dir = fs::canonical(dir);
  return registry.create<Tokenizer>(*spec, bc);
}

struct TokenizeOptions {
  bool ids = false;
  bool pair = false;
  bool no_special = false;
  int max_length = 0;
};

int cmd_tokenize(const Tokenizer& tok, const TokenizeOptions& t, std::istream& in) {
  EncodeOptions eo;
  eo.max_length = t.max_length;
  eo.truncation = t.max_length > 0 ? Truncation::LongestFirst : Truncation::None;
  eo.padding = Padding::None;
  eo.add_special_tokens = !t.no_special;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    Encoding e;
    if (t.pair) {
      auto tab = line.find('\t');
      if (tab == std::string::npos)
        throw Error(fmt::format("<stdin>:{}: no TAB in '{}'; --pair expects each line as TEXT_A<TAB>TEXT_B", line_no,
                                line.size() > 40 ? line.substr(0, 37) + "..." : line));
      e = tok.encode_pair(std::string_view(line).substr(0, tab), std::string_view(line).substr(tab + 1), eo);
    } else {
      e = tok.encode(line, eo);
    }
    std::string s;
    for (size_t i = 0; i < e.ids.size(); ++i) {
      if (i) s += ' ';
      s += t.ids ? std::to_string(e.ids[i]) : tok.id_to_token(e.ids[i]);
    }
    std::cout << s << "\n";
    if (t.ids && t.pair) {
      std::string types = "types:";
      for (auto v : e.type_ids) types += " " + std::to_string(v);
      std::cout << types << "\n";
    }
  }
  std::cout.flush();
  return 0;
}

// ---------------------------------------------------------------- the subcommand table


class RunCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common& c) override {
    sub.add_option("pipeline_and_overrides", positional_, "the pipeline file, then overrides")->required();
    sub.add_option("--only", ro_.only, "run only this stage (repeatable); upstream stages must be cached")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->allow_extra_args(false);
    sub.add_option("--from", ro_.from, "re-run this stage and everything downstream of it");
    force_opt_ = sub.add_option("--force", force_, "re-run this stage (and downstream); alone: re-run every stage")
                     ->expected(0, 1)
                     ->allow_extra_args(false);
    sub.add_option("--runs-dir", c.runs_dir, "where runs and the stage cache live")->capture_default_str();
    sub.add_option("--cache-dir", cache_dir_, "stage cache folder (default: <runs-dir>/.cache)");
    nproc_ = sub.add_option("--nproc", lo_.nproc, "data-parallel: start N ranks on this machine (docs/distributed.md)")
                 ->check(CLI::PositiveNumber);
    nnodes_ = sub.add_option("--nnodes", lo_.nnodes, "data-parallel: machines taking part (default 1)")
                  ->check(CLI::PositiveNumber);
    sub.add_option("--node-rank", lo_.node_rank, "data-parallel: this machine's index, 0..nnodes-1 (default 0)");
    sub.add_option("--master-addr", lo_.master_addr, "data-parallel: address of node 0 (default 127.0.0.1)");
    sub.add_option("--master-port", lo_.master_port, "data-parallel: rendezvous port on node 0 (default: a free one)");
    sub.add_option("--dist-timeout", lo_.timeout_s, "data-parallel: seconds a collective waits for the other ranks")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
  }
  int handle(Common& c) override {
    ro_.runs_dir = c.runs_dir;
    ro_.cache_dir = cache_dir_;
    ro_.command_line = c.argv;
    if (force_opt_->count() > 0) {
      // `--force` without a value reaches us as one empty string.
      std::vector<std::string> named;
      for (const auto& f : force_)
        if (!f.empty()) named.push_back(f);
      if (named.empty())
        ro_.force_all = true;
      else
        ro_.force = named;
    }
    const std::vector<std::string> overrides = with_overrides(positional_);
    if (nproc_->count() + nnodes_->count() == 0 || lo_.nproc * lo_.nnodes <= 1)
      return cmd_run(positional_[0], overrides, c.extra_plugins, ro_);
    if (std::getenv("RANK") && std::getenv("WORLD_SIZE"))
      throw Error("--nproc inside a rank of a data-parallel run (RANK and WORLD_SIZE are set): start the ranks "
                  "either with --nproc or with torchrun's environment, not both");
    // Check the pipeline once here, so that a mistake is reported once, not by every rank.
    Registry registry;
    PluginLoader loader(registry);
    load_plugins(loader, c.extra_plugins);
    load_pipeline(positional_[0], overrides, loader);
    return launch::run_ranks(lo_, launch::rank_arguments(c.args));
  }

 private:
  std::vector<std::string> positional_, force_;
  std::string cache_dir_;
  RunOptions ro_;
  launch::LaunchOptions lo_;
  CLI::Option* force_opt_ = nullptr;
  CLI::Option* nproc_ = nullptr;
  CLI::Option* nnodes_ = nullptr;
};

class ReplayCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common& c) override {
    sub.add_option("record", record_, "a record.yaml (or its run folder)")->required();
    sub.add_flag("--allow-plugin-change", allow_plugin_change_, "replay even if plugin files differ from the record");
    sub.add_option("--tolerance", tolerance_, "relative tolerance for metrics (default 0: exact)");
    sub.add_option("--runs-dir", c.runs_dir, "where the replay's run folder goes");
  }
  int handle(Common& c) override {
    RunOptions ro;
    ro.runs_dir = c.runs_dir;
    ro.command_line = c.argv;
    return cmd_replay(record_, c.extra_plugins, allow_plugin_change_, tolerance_, ro);
  }

 private:
  std::string record_;
  bool allow_plugin_change_ = false;
  double tolerance_ = 0.0;
};

class DiffCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common&) override {
    sub.add_option("a", a_, "first record")->required();
    sub.add_option("b", b_, "second record")->required();
  }
  int handle(Common&) override { return cmd_diff(a_, b_); }

 private:
  std::string a_, b_;
};

class RunsCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common& c) override {
    sub.add_option("pipelines", ro_.pipelines, "only runs of these pipelines (names or pipeline files)");
    sub.add_option("--runs-dir", ro_.runs_dir, "the runs folder")->capture_default_str();
    sub.add_option("--metrics", ro_.metrics, "metric columns, STAGE.METRIC (or METRIC: the first stage that has it)")
        ->delimiter(',');
    sub.add_option("--sort", ro_.sort, "the column to sort by")->capture_default_str();
    sub.add_flag("--desc", ro_.descending, "sort in descending order");
    sub.add_option("--limit", ro_.limit, "only the last N rows after sorting");
    sub.add_option("--format", ro_.format, "md, csv or json")->capture_default_str();
    sub.add_option("--compare", ro_.compare, "runs side by side (ids, run folders or records), one row per metric")
        ->expected(2, -1);
  }
  int handle(Common&) override { return cmd_runs(ro_); }

 private:
  RunsOptions ro_;
};

class ReportCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common&) override {
    sub.add_option("runs", ro_.runs, "run ids (from `runner runs`), run folders or their record.yaml files")->required();
    sub.add_option("-o,--output", ro_.output,
                   "the HTML file to write (default: <run>/report.html for one run, report.html for several)");
    sub.add_option("--runs-dir", ro_.runs_dir, "where run ids are looked up")->capture_default_str();
  }
  int handle(Common&) override { return cmd_report(ro_); }

 private:
  ReportOptions ro_;
};

class PredictCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common&) override {
    sub.add_option("run", po_.run,
                   "a run folder (runs/<pipeline>/<id>, or runs/<pipeline>/latest) or its record.yaml; a stage's folder in "
                   "a run (runs/<pipeline>/<id>/stages/<name>); or a fine-tuned Hugging Face folder "
                   "(<Type>ForSequenceClassification, e.g. what export_hf wrote)")
        ->required();
    sub.add_option("--stage", po_.stage, "the train stage whose model predicts (a run folder needs it)");
    sub.add_option("--file", po_.file, "read the texts from this file (default: standard input), one per line");
    sub.add_flag("--pair", po_.pair, "each line is TEXT_A<TAB>TEXT_B");
    sub.add_option("--batch-size", po_.batch_size, "lines per forward pass")->capture_default_str();
    sub.add_option("--max-answer-length", po_.max_answer_length,
                   "extractive QA: how far the answer's end token may lie after its start token")->capture_default_str();
  }
  int handle(Common& c) override {
    po_.plugins = c.extra_plugins;
    return cmd_predict(po_);
  }

 private:
  PredictOptions po_;
};

class SweepCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common&) override {
    sub.add_option("file", so_.file, "the pipeline (or a sweep file: pipeline, params, metrics, jobs)")->required();
    sub.add_option("settings", so_.params,
                   "key.path=v1,v2,... or key.path=range(a,b[,step]); every combination is one run (seed=1,2,3 for "
                   "seeds)");
    sub.add_option("--jobs,-j", so_.jobs, "runs at once (each takes the threads its pipeline sets)")
        ->capture_default_str();
    sub.add_option("--runs-dir", so_.runs_dir, "the runs folder")->capture_default_str();
    sub.add_option("--cache-dir", so_.cache_dir, "the stage cache (default: RUNS_DIR/.cache)");
    sub.add_option("--metrics", so_.metrics, "columns of the closing tables, STAGE.METRIC")->delimiter(',');
  }
  int handle(Common& c) override {
    so_.plugins = c.extra_plugins;
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return cmd_sweep(so_, ec ? c.argv.front() : self.string());
  }

 private:
  SweepOptions so_;
};

class TestPluginCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common&) override { sub.add_option("plugin", file_, "the plugin .so")->required(); }
  int handle(Common& c) override { return cmd_test_plugin(file_, c.extra_plugins); }

 private:
  std::string file_;
};

class TokenizeCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common& c) override {
    sub.add_option("--tokenizer", spec_, "a tokenizer spec, e.g. \"{type: wordpiece, vocab: v.txt}\"");
    sub.add_option("--pipeline", pipeline_, "take the tokenizer from this pipeline's --stage");
    sub.add_option("--stage", stage_, "a tokenizer stage of --pipeline (trained ones: its latest run)");
    sub.add_option("--runs-dir", c.runs_dir, "where the pipeline's runs live")->capture_default_str();
    sub.add_flag("--ids", opts_.ids, "print ids instead of tokens (with --pair, segment ids on a 'types:' line)");
    sub.add_flag("--pair", opts_.pair, "each line is TEXT_A<TAB>TEXT_B: [CLS] a [SEP] b [SEP]");
    sub.add_option("--max-length", opts_.max_length, "truncate to N tokens, special tokens included (longest first)")
        ->check(CLI::PositiveNumber);
    sub.add_flag("--no-special", opts_.no_special, "no [CLS]/[SEP]");
  }
  int handle(Common& c) override {
    if (spec_.empty() == pipeline_.empty() || pipeline_.empty() != stage_.empty()) {
      std::cerr << "runner tokenize: give either --tokenizer SPEC or --pipeline P.yaml --stage NAME (see runner "
                   "tokenize --help)\n";
      return 2;
    }
    Registry registry;
    PluginLoader loader(registry);
    load_plugins(loader, c.extra_plugins);
    std::shared_ptr<Tokenizer> tok;
    if (!spec_.empty()) {
      BuildContext bc;
      bc.registry = &registry;
      bc.base_dir = fs::current_path();
      tok = registry.create<Tokenizer>(parse_yaml(spec_, "<command line>"), bc);
    } else {
      Pipeline p = load_pipeline(pipeline_, {}, loader);
      tok = tokenizer_of_stage(p, stage_, c.runs_dir, registry);
    }
    return cmd_tokenize(*tok, opts_, std::cin);
  }

 private:
  std::string spec_, pipeline_, stage_;
  TokenizeOptions opts_;
};

class BenchCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common&) override {
    sub.add_option("workload", bo_.workload, "pretrain, finetune or embed")
        ->required()
        ->check(CLI::IsMember({"pretrain", "finetune", "embed"}));
    sub.add_option("--batch", bo_.batch, "examples per step")->capture_default_str()->check(CLI::PositiveNumber);
    sub.add_option("--seq", bo_.seq, "sequence length (one eighth of it padding)")
        ->capture_default_str()
        ->check(CLI::Range(8, 512));
    sub.add_option("--seconds", bo_.seconds, "how long to measure, after two warm-up steps")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub.add_option("--dtype", bo_.dtype, "fp32, or bf16 (autocast, fp32 master weights)")
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16"}));
    sub.add_option("--threads", bo_.threads,
                   "LibTorch intra-op threads (default: fp32 1, bf16 one per core; 0: one per core)")
        ->check(CLI::NonNegativeNumber);
    sub.add_option("--blas-threads", bo_.blas, "OpenBLAS threads (default: the cores the intra-op threads leave)")
        ->check(CLI::NonNegativeNumber);
    sub.add_flag("--fixed-width", bo_.fixed_width,
                 "batches seq wide as the peer's (default: as wide as the longest row, as the datasets make them)");
    for (auto [flag, field] : std::initializer_list<std::pair<const char*, int64_t*>>{
             {"--vocab", &bo_.vocab}, {"--hidden", &bo_.hidden}, {"--layers", &bo_.layers}, {"--heads", &bo_.heads},
             {"--ffn", &bo_.ffn}, {"--embed", &bo_.embed}, {"--labels", &bo_.labels}})
      sub.add_option(flag, *field, "model size (default: ELECTRA-small, as the peer)")
          ->capture_default_str()
          ->check(CLI::PositiveNumber);
    sub.add_option("--dropout", bo_.dropout, "hidden and attention dropout while training (the peer's: 0.1)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 0.9));
    sub.add_option("--gen-fraction", bo_.gen_fraction, "generator size as a fraction of the discriminator")
        ->capture_default_str()
        ->check(CLI::Range(0.01, 1.0));
  }
  int handle(Common& c) override { return cmd_bench(bo_, c.extra_plugins); }

 private:
  BenchOptions bo_;
};

/// A build step (stagehand_add_plugin's POST_BUILD): opens one plugin and writes its declaration file beside it, which
/// the light runner reads instead of opening it (plugin/declarations.h).
class DeclareCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common&) override {
    sub.add_option("plugin", plugin_, "the plugin file")->required();
    sub.add_flag("--light", options_.light, "the plugin links no LibTorch: the light runner opens it as code");
    sub.add_option("--facts", facts_, "its facts companion (STAGEHAND_PLUGIN_FACTS), if it has one");
  }
  int handle(Common&) override {
    Registry registry;
    PluginLoader loader(registry);
    const LoadedPlugin* rec = loader.load(plugin_, "command line");
    if (!rec) throw Error(fmt::format("plugin {} was refused: {}", plugin_, loader.refused().front().reason));
    options_.facts = facts_;
    write_declarations(*rec, registry, options_);
    return 0;
  }

 private:
  std::string plugin_, facts_;
  DeclarationOptions options_;
};

std::vector<Entry> command_table() {
  std::vector<Entry> t;
  t.push_back({"run", "run a pipeline: runner [run] PIPELINE.yaml [key.path=value ...]", std::make_unique<RunCommand>()});
  t.push_back({"check", "validate a pipeline (plugins, options, references, files, graph); runs nothing",
               check_command()});
  t.push_back({"plugins", "list components by kind, with their plugin files", plugins_command()});
  t.push_back({"describe", "print a component's options: runner describe KIND/NAME", describe_command()});
  t.push_back({"replay", "re-run a recorded run and report any metric that differs", std::make_unique<ReplayCommand>()});
  t.push_back({"diff", "explain how two run records differ (options, plugins, data, metrics)",
               std::make_unique<DiffCommand>()});
  t.push_back({"runs", "a table of the runs under runs/ (sortable, md|csv|json), or runs side by side (--compare)",
               std::make_unique<RunsCommand>()});
  t.push_back({"report", "an HTML report of runs (results, curves, stage graph, timings, configuration): one run, "
                         "or several side by side", std::make_unique<ReportCommand>()});
  t.push_back({"predict", "a trained stage's model on raw text (stdin or --file): labels and probabilities as JSON lines",
               std::make_unique<PredictCommand>()});
  t.push_back({"sweep", "one run per combination of settings (key=a,b seed=1,2,3), --jobs at once, resumable; "
                        "ends with mean (std) over seeds",
               std::make_unique<SweepCommand>()});
  t.push_back({"test-plugin", "conformance kit for plugin authors: runner test-plugin PATH.so",
               std::make_unique<TestPluginCommand>()});
  t.push_back({"tokenize", "print the tokens (or ids) of each line of standard input", std::make_unique<TokenizeCommand>()});
  t.push_back({"declare", "(a build step) write a plugin's declaration file: runner declare PATH.so [--light] [--facts F]",
               std::make_unique<DeclareCommand>()});
  t.push_back({"bench",
               "time a workload of the peer benchmark through stagehand's plugins: runner bench pretrain|finetune|embed "
               "(docs/performance.md)",
               std::make_unique<BenchCommand>()});
  return t;
}

/// A first word that is neither a command nor a file, and looks like a command (no dot, slash or '='), is a mistyped
/// command: "unknown command 'chek', did you mean 'check'?" rather than "cannot read 'chek'".
void refuse_unknown_command(const std::string& word, const std::vector<Entry>& table) {
  std::error_code ec;
  if (word.find_first_of("./=") != std::string::npos || std::filesystem::exists(word, ec)) return;
  std::vector<std::string> names;
  for (const auto& e : table) names.push_back(e.name);
  const std::string dym = closest_match(word, names);
  throw Error(fmt::format("unknown command '{}'{}; the commands are {} (`runner --help`), and a pipeline is named by "
                          "its file (runner pipelines/quickstart.yaml)",
                          word, dym.empty() ? "" : fmt::format(", did you mean '{}'?", dym), fmt::join(names, ", ")));
}

/// `runner PIPELINE.yaml ...` and `runner --nproc 2 PIPELINE.yaml ...` (torchrun's order) are `runner run ...`;
/// `runner help` is `runner --help`.
std::vector<std::string> normalized(std::vector<std::string> args, const std::vector<Entry>& table) {
  auto is_command = [&](const std::string& a) {
    if (a == "help") return true;
    for (const auto& e : table)
      if (a == e.name) return true;
    return false;
  };
  auto launcher_option = [](const std::string& a) {
    for (const char* o : {"--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port", "--dist-timeout"})
      if (a == o || a.rfind(std::string(o) + "=", 0) == 0) return true;
    return false;
  };
  // Global options (-q, -v, --log-level L, --plugin F) may come first: `runner -q PIPELINE.yaml`.
  const size_t i = after_global_options(args);
  if (i < args.size() && args[i][0] != '-' && !is_command(args[i])) refuse_unknown_command(args[i], table);
  if (i < args.size() && ((args[i][0] != '-' && !is_command(args[i])) || launcher_option(args[i])))
    args.insert(args.begin() + static_cast<std::ptrdiff_t>(i), "run");
  if (i < args.size() && args[i] == "help") args[i] = "--help";
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  stagehand::configure_allocator();
  Common c;
  c.argv.assign(argv, argv + argc);
  std::vector<Entry> table = command_table();
  try {
    c.args = normalized(c.argv, table);
  } catch (const Error& e) {
    std::cerr << "runner: error: " << e.what() << "\n";
    return 2;
  }

  CLI::App app{fmt::format("stagehand runner {} — train and study transformer text encoders from a pipeline file",
                           STAGEHAND_VERSION)};
  app.footer(kExamples);
  app.require_subcommand(0, 1);
  app.fallthrough(true);
  app.set_version_flag("--version", std::string("stagehand ") + STAGEHAND_VERSION);
  app.add_option("--plugin", c.extra_plugins, "load this plugin file too (repeatable)");
  bool quiet = false, verbose = false;
  std::string log_level;
  app.add_flag("-q,--quiet", quiet, "print only warnings and errors (runner.log keeps every line)");
  app.add_flag("-v,--verbose", verbose, "also print debug lines (each stage's cache key and entry)");
  app.add_option("--log-level", log_level, "debug | info | warning | error (default: info)");
  std::vector<CLI::App*> subs;
  try {
    subs = parse_commands(app, table, c, c.args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (!log_level.empty())
      stagehand::exec::set_log_level(stagehand::exec::parse_log_level(log_level));
    else if (quiet || verbose)
      stagehand::exec::set_log_level(quiet ? stagehand::exec::LogLevel::Warning : stagehand::exec::LogLevel::Debug);
  } catch (const Error& e) {
    std::cerr << "runner: error: " << e.what() << "\n";
    return 2;
  }
  for (size_t i = 0; i < table.size(); ++i)
    if (app.got_subcommand(subs[i])) return guarded([&] { return table[i].command->handle(c); });
  std::cerr << app.help() << "\n";
  return 2;
}
