// SPDX-License-Identifier: Apache-2.0
// Pipelines end to end with the `fixture_append` stage kind (tests/fixtures/good.cpp): errors with locations,
// the stage cache and --only/--from/--force, failures, interruption, replay, diff, record contents, and the
// runner's check / describe / test-plugin commands.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.h"
#include "stagehand/config.h"
#include "stagehand/error.h"
#include "stagehand/files.h"
#include "stagehand/seed.h"
#include "util/git_state.h"
#include "util/hash.h"
#include "pipeline/pipeline.h"
#include "plugin/loader.h"
#include "stagehand/version.h"

namespace fs = std::filesystem;
using stagehand::ConfigNode;
using stagehand::RunOptions;
using stagehand::RunResult;
using stagehand::RunStatus;
using stagehand::StageStatus;
using namespace sh_test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

bool is_hex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string plugins_line() { return "plugins: [\"" + kFixtureGood.string() + "\"]\n"; }

/// A 3-stage pipeline: a reads input.txt; b and c both append to a's output.
///   line 1  name: three
///   line 2  plugins: [...]
///   line 3  stages:
///   line 4    a:
///   line 5      kind: fixture_append
///   line 6      text: A
///   line 7      input: input.txt
///   line 8      count_file: count.txt
///   line 9    b: ...
std::string three_stage_yaml(const std::string& name = "three", const std::string& a_extra = "") {
  return "name: " + name + "\n" + plugins_line() +
         "stages:\n"
         "  a:\n"
         "    kind: fixture_append\n"
         "    text: A\n"
         "    input: input.txt\n"
         "    count_file: count.txt\n" +
         a_extra +
         "  b:\n"
         "    kind: fixture_append\n"
         "    upstream: a\n"
         "    text: B\n"
         "    count_file: count.txt\n"
         "  c:\n"
         "    kind: fixture_append\n"
         "    upstream: a\n"
         "    text: C\n"
         "    count_file: count.txt\n";
}

class PipelineTest : public ::testing::Test {
 protected:
  TempFolder tmp;

  fs::path pipeline_file() const { return tmp / "p.yaml"; }
  fs::path count_file() const { return tmp / "count.txt"; }

  /// Writes input.txt ("in-") and p.yaml (the three-stage pipeline).
  fs::path write_three(const std::string& name = "three", const std::string& a_extra = "") {
    write_text(tmp / "input.txt", "in-");
    write_text(pipeline_file(), three_stage_yaml(name, a_extra));
    return pipeline_file();
  }

  /// Stages that really ran (from the count file), in order.
  std::vector<std::string> counted() const { return read_lines(count_file()); }
  void reset_count() const { fs::remove(count_file()); }

  /// Loads and runs a pipeline through the library API, with runs under tmp/runs.
  RunResult run_api(const fs::path& file, const std::vector<std::string>& overrides = {}, RunOptions ro = {}) {
    stagehand::Registry registry;
    stagehand::PluginLoader loader(registry);
    stagehand::Pipeline p = stagehand::load_pipeline(file, overrides, loader);
    ro.runs_dir = tmp / "runs";
    return stagehand::run_pipeline(p, loader, ro);
  }

  CommandResult run_runner(const std::string& args) { return runner(args, tmp.path()); }

  /// Writes a pipeline whose stages are `stages_yaml` (indented by two spaces) and runs `runner check` on it.
  CommandResult check_stages(const std::string& stages_yaml, const std::string& extra_args = "") {
    write_text(tmp / "e.yaml", "name: e\n" + plugins_line() + "stages:\n" + stages_yaml);
    return run_runner("run " + sh_quote((tmp / "e.yaml").string()) + extra_args);
  }
};

std::map<std::string, std::string> statuses(const RunResult& r) {
  std::map<std::string, std::string> out;
  for (const auto& [name, s] : r.stages) out[name] = to_string(s.status);
  return out;
}

using Statuses = std::map<std::string, std::string>;

ConfigNode load_record(const fs::path& run_dir) { return stagehand::load_yaml_file(run_dir / "record.yaml"); }

/// The run folder a runner command reported ("record: <path>/record.yaml").
fs::path record_from_output(const std::string& output) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex("record: (\\S+record\\.yaml)"))) return {};
  return fs::path(m[1].str());
}

}  // namespace

// ============================================================================================ (a) errors

TEST_F(PipelineTest, RunnerReportsTyposWrongTypesAndUsageErrors) {
  {
    SCOPED_TRACE("RunnerReportsTyposAndWrongTypesWithLocations");
    auto r = check_stages(
        "  a:\n"
        "    kind: fixture_append\n"
        "    txt: hi\n");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, (tmp / "e.yaml").string() + ":6:5")) << r.output;
    EXPECT_TRUE(contains(r.output, "unknown option 'txt'")) << r.output;
    EXPECT_TRUE(contains(r.output, "did you mean 'text'")) << r.output;
    EXPECT_TRUE(contains(r.output, "stage 'a'")) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "runs")) << "a run folder was made for an invalid pipeline";

    r = check_stages(
        "  a:\n"
        "    kind: fixture_append\n"
        "    steps: many\n");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, (tmp / "e.yaml").string() + ":6:12")) << r.output;
    EXPECT_TRUE(contains(r.output, "option 'steps': expected an int, got 'many'")) << r.output;
  }
  {
    SCOPED_TRACE("RunnerUsageErrorsExitWithTwo");
    auto r = run_runner("check");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "pipeline_and_overrides")) << r.output;
    // A mistyped command is named as one, with the command it is closest to, not read as a missing pipeline file.
    r = run_runner("chek pipeline.yaml");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "unknown command 'chek', did you mean 'check'?")) << r.output;
    EXPECT_FALSE(contains(r.output, "cannot read")) << r.output;
    EXPECT_EQ(count_occurrences(r.output, "\n"), 1u) << "one line: " << r.output;
  }
}

// The console's verbosity (-q, -v, --log-level) leaves runner.log whole; warnings have one format, are counted in the
// closing line, and are yellow only on a terminal (never in a pipe, never with NO_COLOR).
TEST_F(PipelineTest, LogLevelsWarningsAndColour) {
  write_text(tmp / "w.yaml", "name: w\n" + plugins_line() +
                                 "stages:\n  a:\n    kind: fixture_append\n    text: A\n    warn: look at this\n");
  auto r = run_runner("-q run w.yaml --runs-dir runs");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("] [a] running"), std::string::npos) << "-q printed info lines:\n" << r.output;
  EXPECT_NE(r.output.find("] [a] warning: look at this"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("record: "), std::string::npos) << "the results table is still printed:\n" << r.output;
  EXPECT_EQ(r.output.find("\033["), std::string::npos) << "colour codes in a pipe";
  const std::string log = read_text(tmp / "runs" / "w" / "latest" / "runner.log");
  EXPECT_NE(log.find("] [a] running"), std::string::npos) << "runner.log lost the info lines under -q:\n" << log;
  EXPECT_NE(log.find("pipeline 'w' completed in 0s with 1 warning (above, and in runner.log)"), std::string::npos)
      << log;

  // The help's own form: global options before the pipeline file, without `run`.
  r = run_runner("-q w.yaml --runs-dir runs --force");
  ASSERT_EQ(r.exit_code, 0) << "runner -q PIPELINE.yaml:\n" << r.output;
  EXPECT_EQ(r.output.find("] [a] running"), std::string::npos) << r.output;
  r = run_runner("--log-level warning w.yaml --runs-dir runs --force");
  ASSERT_EQ(r.exit_code, 0) << "runner --log-level warning PIPELINE.yaml:\n" << r.output;
  EXPECT_EQ(r.output.find("] [a] running"), std::string::npos) << r.output;

  r = run_runner("-v run w.yaml --runs-dir runs --force");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("] [a] cache key "), std::string::npos) << "-v shows debug lines:\n" << r.output;
  EXPECT_NE(r.output.find("] [a] running"), std::string::npos) << r.output;
  r = run_runner("run w.yaml --runs-dir runs --force");
  EXPECT_EQ(r.output.find("] [a] cache key "), std::string::npos) << "debug lines without -v:\n" << r.output;

  // On a terminal (script(1) gives the runner one) the warning is yellow, unless NO_COLOR is set.
  const std::string on_tty = "script -qec " + sh_quote(sh_quote(kRunner) + " run w.yaml --runs-dir runs --force") + " /dev/null";
  r = run_command(on_tty, tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\033[33m"), std::string::npos) << "no colour on a terminal:\n" << r.output;
  r = run_command("NO_COLOR=1 " + on_tty, tmp.path());
  EXPECT_EQ(r.output.find("\033[33m"), std::string::npos) << "colour despite NO_COLOR:\n" << r.output;
  EXPECT_NE(r.output.find("warning: look at this"), std::string::npos) << r.output;

  r = run_runner("--log-level loud run w.yaml");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--log-level loud: expected debug, info, warning or error"), std::string::npos) << r.output;
}

namespace {

/// load_pipeline's error for a pipeline whose stages are `stages_yaml`, or "" if it loads.
std::string load_error(const fs::path& file, const std::string& text, const std::vector<std::string>& overrides = {}) {
  write_text(file, text);
  stagehand::Registry registry;
  stagehand::PluginLoader loader(registry);
  try {
    stagehand::load_pipeline(file, overrides, loader);
  } catch (const stagehand::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_F(PipelineTest, LoadPipelineErrorsNameTheLocationAndTheFix) {
  const fs::path f = tmp / "e.yaml";
  const std::string head = "name: e\n" + plugins_line() + "stages:\n";  // stages start on line 4
  write_text(tmp / "input.txt", "x");
  struct Case {
    std::string what, stages;
    std::vector<std::string> overrides, expected;
  };
  std::vector<Case> cases = {
      {"wrong bool",
       "  a:\n    kind: fixture_append\n    fail: maybe\n",
       {},
       {f.string() + ":6:11", "stage 'a' (fixture_append): option 'fail': expected true or false, got 'maybe'"}},
      {"below min", "  a:\n    kind: fixture_append\n    steps: -2\n", {}, {"option 'steps': must be >= 0, got -2"}},
      {"missing input",
       "  a:\n    kind: fixture_append\n  b:\n    kind: fixture_append\n    input: data/nope.txt\n",
       {},
       {f.string() + ":8:12", "stage 'b'", (tmp / "data/nope.txt").string(), "not found"}},
      {"unknown stage",
       "  prepare:\n    kind: fixture_append\n  b:\n    kind: fixture_append\n    upstream: prepair\n",
       {},
       {f.string() + ":8:15", "unknown stage 'prepair'", "did you mean 'prepare'"}},
      {"unknown kind",
       "  a:\n    kind: fixture_apend\n",
       {},
       {f.string() + ":5:11", "unknown stage kind 'fixture_apend'", "did you mean 'fixture_append'"}},
      {"no kind", "  a:\n    text: x\n", {}, {f.string() + ":4:3", "stage 'a' has no 'kind'"}},
      {"self reference", "  a:\n    kind: fixture_append\n    upstream: a\n", {}, {"refers to itself"}},
      // The message names the stages on the cycle, not those downstream of it (c reads b but is not on it).
      {"cycle",
       "  first:\n    kind: fixture_append\n  c:\n    kind: fixture_append\n    upstream: b\n"
       "  a:\n    kind: fixture_append\n    upstream: b\n  b:\n    kind: fixture_append\n    after: [a]\n",
       {},
       {"the stages a -> b -> a read each other's outputs in a cycle"}},
      {"bad stage name", "  a.b:\n    kind: fixture_append\n", {}, {f.string() + ":4:3", "stage name 'a.b'"}},
      {"override typo",
       "  a:\n    kind: fixture_append\n",
       {"stages.a.text=ok", "stages.a.stpes=3"},
       {"<command line argument 2>", "unknown option 'stpes'; did you mean 'steps'"}},
      {"override type",
       "  a:\n    kind: fixture_append\n",
       {"stages.a.steps=lots"},
       {"<command line argument 1>", "expected an int, got 'lots'"}},
      {"override stage typo",
       "  finetune:\n    kind: fixture_append\n",
       {"stages.finetun.steps=3"},
       {"<command line argument 1>", "the pipeline has no stage 'finetun' (did you mean 'finetune'?)"}},
      {"override form",
       "  a:\n    kind: fixture_append\n",
       {"nonsense"},
       {"<command line argument 1>", "key.path=value"}},
      {"reference",
       "  a:\n    kind: fixture_append\n    text: ${vars.missing}\n",
       {},
       {f.string() + ":6:11", "${vars.missing}"}},
  };
  for (const auto& c : cases) {
    std::string msg = load_error(f, head + c.stages, c.overrides);
    EXPECT_FALSE(msg.empty()) << c.what << ": no error";
    for (const auto& e : c.expected) EXPECT_TRUE(contains(msg, e)) << c.what << ": '" << e << "' not in: " << msg;
  }
  // The cycle message does not blame the stage outside the cycle.
  EXPECT_FALSE(contains(load_error(f, head + cases[7].stages), "first"));
  EXPECT_FALSE(contains(load_error(f, head + cases[7].stages), "c ->"));

  // File-level problems.
  std::string msg = load_error(f, "name: x\nstages: [1, 2\n");
  EXPECT_EQ(msg.rfind(f.string() + ":", 0), 0u) << msg;
  EXPECT_TRUE(contains(msg, "invalid YAML")) << msg;
  msg = load_error(f, "name: x\n");
  EXPECT_TRUE(contains(msg, "missing required option 'stages'")) << msg;
  msg = load_error(f, "name: a/b\nstages: {s: {kind: x}}\n");
  EXPECT_TRUE(contains(msg, "pipeline name 'a/b'")) << msg;
  msg = load_error(f, "name: x\nplugins: [\"" + kFixtureAbi.string() + "\"]\nstages: {s: {kind: x}}\n");
  EXPECT_TRUE(contains(msg, f.string() + ":2:11")) << msg;
  EXPECT_TRUE(contains(msg, "ABI 999")) << msg;
  msg = load_error(f, "name: x\nplugins: [missing.so]\nstages: {s: {kind: x}}\n");
  EXPECT_TRUE(contains(msg, (tmp / "missing.so").string())) << msg;
  msg = load_error(f, "name: x\n" + plugins_line() + "stages: {}\n");
  EXPECT_TRUE(contains(msg, "no stages")) << msg;
  stagehand::Registry registry;
  stagehand::PluginLoader loader(registry);
  try {
    stagehand::load_pipeline(tmp / "absent.yaml", {}, loader);
    ADD_FAILURE() << "a missing pipeline file was accepted";
  } catch (const stagehand::Error& e) {
    EXPECT_TRUE(contains(e.what(), (tmp / "absent.yaml").string())) << e.what();
  }
}

TEST_F(PipelineTest, VarsThatNothingUsesAreErrorsWithTheClosestUsedName) {
  const fs::path f = tmp / "v.yaml";
  const std::string head = "name: v\n" + plugins_line();
  const std::string stages = "stages:\n  a:\n    kind: fixture_append\n    text: ${vars.greeting}\n";
  // Used vars load; a var that nothing refers to is refused at its line.
  EXPECT_EQ(load_error(f, head + "vars:\n  greeting: hi\n" + stages), "");
  std::string msg = load_error(f, head + "vars:\n  greeting: hi\n  encoder: big\n" + stages);
  EXPECT_TRUE(contains(msg, f.string() + ":5:12")) << msg;
  EXPECT_TRUE(contains(msg, "vars.encoder is set but nothing refers to it")) << msg;
  EXPECT_TRUE(contains(msg, "remove it, or use it as ${vars.encoder}")) << msg;
  // A misspelt override names the var it probably meant, and its argument.
  msg = load_error(f, head + "vars:\n  greeting: hi\n" + stages, {"vars.greetng=hello"});
  EXPECT_TRUE(contains(msg, "<command line argument 1>")) << msg;
  EXPECT_TRUE(contains(msg, "vars.greetng is set but nothing refers to it")) << msg;
  EXPECT_TRUE(contains(msg, "did you mean vars.greeting?")) << msg;
  // A reference to a var that is not there suggests the closest one.
  msg = load_error(f, head + "vars:\n  greeting: hi\nstages:\n  a:\n    kind: fixture_append\n    text: ${vars.greting}\n");
  EXPECT_TRUE(contains(msg, "reference '${vars.greting}' does not name a value")) << msg;
  EXPECT_TRUE(contains(msg, "did you mean '${vars.greeting}'?")) << msg;
  // A var used only through a deeper path (${vars.sizes.small}) counts as used.
  EXPECT_EQ(load_error(f, head + "vars:\n  sizes: {small: 2}\nstages:\n  a:\n    kind: fixture_append\n"
                                 "    steps: ${vars.sizes.small}\n"),
            "");
}

TEST_F(PipelineTest, LoadPipelineOrdersStagesAndFillsThePlan) {
  write_text(tmp / "input.txt", "in-");
  write_text(pipeline_file(), "name: order\n" + plugins_line() +
                                  "seed: 7\n"
                                  "vars: {t: hello}\n"
                                  "stages:\n"
                                  "  late:\n"
                                  "    kind: fixture_append\n"
                                  "    after: [mid]\n"
                                  "  mid:\n"
                                  "    kind: fixture_append\n"
                                  "    upstream: early\n"
                                  "    text: ${vars.t}\n"
                                  "  early:\n"
                                  "    kind: fixture_append\n"
                                  "    input: input.txt\n"
                                  "    seed: 42\n"
                                  "    cache: false\n");
  stagehand::Registry registry;
  stagehand::PluginLoader loader(registry);
  stagehand::Pipeline p = stagehand::load_pipeline(pipeline_file(), {"stages.late.text=x"}, loader);
  EXPECT_EQ(p.name, "order");
  EXPECT_EQ(p.seed, 7u);
  EXPECT_EQ(p.file, pipeline_file());
  ASSERT_EQ(p.stages.size(), 3u);
  EXPECT_EQ(p.stages[0].name, "early");
  EXPECT_EQ(p.stages[1].name, "mid");
  EXPECT_EQ(p.stages[2].name, "late");
  EXPECT_EQ(p.stages[1].deps, std::vector<std::string>{"early"});
  EXPECT_EQ(p.stages[2].deps, std::vector<std::string>{"mid"});
  EXPECT_EQ(p.stages[0].seed, 42u);
  EXPECT_FALSE(p.stages[0].cache);
  EXPECT_EQ(p.stages[1].seed, stagehand::derive_seed(7, "mid"));
  EXPECT_EQ(p.stages[0].inputs.count((tmp / "input.txt").string()), 1u);
  EXPECT_EQ(p.stages[1].resolved.at("text").as_string(), "hello");
  EXPECT_EQ(p.stages[2].resolved.at("text").location().file, "<command line argument 1>");
  EXPECT_EQ(p.stages[0].where.str(), pipeline_file().string() + ":13:3");
  EXPECT_EQ(p.downstream("early"), (std::vector<std::string>{"mid", "late"}));
  EXPECT_TRUE(p.downstream("late").empty());
  EXPECT_EQ(p.overrides, std::vector<std::string>{"stages.late.text=x"});
  EXPECT_EQ(p.plugin_files.size(), 1u);
  EXPECT_EQ(p.root.at("stages").at("mid").at("step_ms").as_int(), 1);  // defaults filled
  EXPECT_NE(p.find("mid"), nullptr);
  EXPECT_EQ(p.find("nope"), nullptr);
}

// ============================================================================================ (b) cache

TEST_F(PipelineTest, SecondRunReusesEveryStage) {
  write_three();
  RunResult r1 = run_api(pipeline_file());
  ASSERT_EQ(r1.exit_code, 0) << r1.error;
  EXPECT_EQ(r1.status, RunStatus::Completed);
  EXPECT_EQ(statuses(r1), (Statuses{{"a", "ran"}, {"b", "ran"}, {"c", "ran"}}));
  EXPECT_EQ(counted(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_DOUBLE_EQ(r1.stages["a"].metrics["length"], 4.0);  // "in-" + "A"
  EXPECT_DOUBLE_EQ(r1.stages["b"].metrics["length"], 5.0);
  EXPECT_EQ(stagehand::read_file(r1.run_dir / "stages/b/out.txt"), "in-AB");

  RunResult r2 = run_api(pipeline_file());
  ASSERT_EQ(r2.exit_code, 0) << r2.error;
  EXPECT_NE(r1.run_dir, r2.run_dir);
  EXPECT_EQ(statuses(r2), (Statuses{{"a", "cached"}, {"b", "cached"}, {"c", "cached"}}));
  EXPECT_EQ(counted(), (std::vector<std::string>{"a", "b", "c"})) << "a cached stage ran again";
  for (const auto& s : {"a", "b", "c"}) {
    EXPECT_EQ(r2.stages[s].cache_key, r1.stages[s].cache_key) << s;
    EXPECT_EQ(r2.stages[s].metrics, r1.stages[s].metrics) << s;
  }
  ConfigNode rec = load_record(r2.run_dir);
  EXPECT_EQ(rec.at("status").as_string(), "completed");
  for (const auto& s : {"a", "b", "c"}) EXPECT_EQ(rec.at("stages").at(s).at("status").as_string(), "cached") << s;
  // The run links to the cache entry it used.
  EXPECT_EQ(stagehand::read_file(r2.run_dir / "stages/c/out.txt"), "in-AC");
  EXPECT_TRUE(fs::is_directory(tmp / "runs/.cache" / ("b-" + r1.stages["b"].cache_key.substr(0, 16))));
  EXPECT_TRUE(fs::is_symlink(tmp / "runs/three/latest"));
  EXPECT_TRUE(fs::equivalent(tmp / "runs/three/latest", r2.run_dir));
}

TEST_F(PipelineTest, CacheKeyFollowsOptionsSeedAndInputContent) {
  {
    SCOPED_TRACE("ChangingOneOptionRerunsExactlyThatStage");
    write_three();
    RunResult r1 = run_api(pipeline_file());
    ASSERT_EQ(r1.exit_code, 0) << r1.error;
    reset_count();
    RunResult r2 = run_api(pipeline_file(), {"stages.b.text=BB"});
    ASSERT_EQ(r2.exit_code, 0) << r2.error;
    EXPECT_EQ(statuses(r2), (Statuses{{"a", "cached"}, {"b", "ran"}, {"c", "cached"}}));
    EXPECT_EQ(counted(), std::vector<std::string>{"b"});
    EXPECT_NE(r2.stages["b"].cache_key, r1.stages["b"].cache_key);
    EXPECT_EQ(r2.stages["c"].cache_key, r1.stages["c"].cache_key);
    EXPECT_DOUBLE_EQ(r2.stages["b"].metrics["length"], 6.0);
    // Both versions of b stay in the cache: going back reuses the first one.
    reset_count();
    RunResult r3 = run_api(pipeline_file());
    EXPECT_EQ(statuses(r3), (Statuses{{"a", "cached"}, {"b", "cached"}, {"c", "cached"}}));
    EXPECT_TRUE(counted().empty());
    // `description` is not part of the key; `cache: false` always runs.
    RunResult r4 = run_api(pipeline_file(), {"stages.b.description=just words", "stages.c.cache=false"});
    EXPECT_EQ(statuses(r4), (Statuses{{"a", "cached"}, {"b", "cached"}, {"c", "ran"}}));
    EXPECT_EQ(counted(), std::vector<std::string>{"c"});
    // The pipeline seed feeds every stage's seed, hence every key.
    reset_count();
    RunResult r5 = run_api(pipeline_file(), {"seed=8"});
    EXPECT_EQ(statuses(r5), (Statuses{{"a", "ran"}, {"b", "ran"}, {"c", "ran"}}));
    EXPECT_EQ(r5.stages["b"].metrics["seed_mod_1000"], static_cast<double>(stagehand::derive_seed(8, "b") % 1000));
  }
  {
    SCOPED_TRACE("ChangingAnInputFileRerunsItsStageAndEverythingDownstream");
    fs::remove_all(tmp / "runs");
    reset_count();
    write_three();
    RunResult r1 = run_api(pipeline_file());
    ASSERT_EQ(r1.exit_code, 0) << r1.error;
    reset_count();
    write_text(tmp / "input.txt", "changed-");
    RunResult r2 = run_api(pipeline_file());
    ASSERT_EQ(r2.exit_code, 0) << r2.error;
    EXPECT_EQ(statuses(r2), (Statuses{{"a", "ran"}, {"b", "ran"}, {"c", "ran"}}));
    EXPECT_EQ(counted(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_DOUBLE_EQ(r2.stages["a"].metrics["length"], 9.0);
    // The key depends on content, not on the file's time stamp: the old content is reused.
    reset_count();
    write_text(tmp / "input.txt", "in-");
    RunResult r3 = run_api(pipeline_file());
    EXPECT_EQ(statuses(r3), (Statuses{{"a", "cached"}, {"b", "cached"}, {"c", "cached"}}));
    EXPECT_TRUE(counted().empty());
  }
}

TEST_F(PipelineTest, FromAndForce) {
  write_three();
  ASSERT_EQ(run_api(pipeline_file()).exit_code, 0);
  auto run_with = [&](RunOptions ro) {
    reset_count();
    RunResult r = run_api(pipeline_file(), {}, ro);
    EXPECT_EQ(r.exit_code, 0) << r.error;
    return statuses(r);
  };
  RunOptions ro;
  ro.from = "b";  // b has no downstream
  EXPECT_EQ(run_with(ro), (Statuses{{"a", "cached"}, {"b", "ran"}, {"c", "cached"}}));
  EXPECT_EQ(counted(), std::vector<std::string>{"b"});
  ro.from = "a";
  EXPECT_EQ(run_with(ro), (Statuses{{"a", "ran"}, {"b", "ran"}, {"c", "ran"}}));
  EXPECT_EQ(counted(), (std::vector<std::string>{"a", "b", "c"}));
  ro = {};
  ro.force_all = true;
  EXPECT_EQ(run_with(ro), (Statuses{{"a", "ran"}, {"b", "ran"}, {"c", "ran"}}));
  EXPECT_EQ(counted(), (std::vector<std::string>{"a", "b", "c"}));
  ro = {};
  ro.force = {"c"};
  EXPECT_EQ(run_with(ro), (Statuses{{"a", "cached"}, {"b", "cached"}, {"c", "ran"}}));
  EXPECT_EQ(counted(), std::vector<std::string>{"c"});
  ro.force = {"a"};
  EXPECT_EQ(run_with(ro), (Statuses{{"a", "ran"}, {"b", "ran"}, {"c", "ran"}}));
  // A forced re-run replaces the cache entry in place: no leftovers.
  for (const auto& e : fs::directory_iterator(tmp / "runs/.cache"))
    EXPECT_FALSE(contains(e.path().filename().string(), ".old-")) << e.path();
}

TEST_F(PipelineTest, OnlyRunsTheSelectedStageAndNeedsItsUpstreamCached) {
  write_three();
  ASSERT_EQ(run_api(pipeline_file()).exit_code, 0);
  reset_count();
  RunOptions ro;
  ro.only = {"b"};
  RunResult r = run_api(pipeline_file(), {"stages.b.text=B2"}, ro);
  EXPECT_EQ(r.exit_code, 0) << r.error;
  EXPECT_EQ(r.stages["b"].status, StageStatus::Ran);
  EXPECT_EQ(r.stages["a"].status, StageStatus::Cached);
  EXPECT_EQ(counted(), std::vector<std::string>{"b"});
  // Upstream not cached: an error naming it, nothing runs.
  reset_count();
  r = run_api(pipeline_file(), {"stages.a.text=A2"}, ro);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.stages["a"].status, StageStatus::Failed);
  EXPECT_TRUE(contains(r.error, "--only")) << r.error;
  EXPECT_TRUE(contains(r.error, "'a'")) << r.error;
  EXPECT_EQ(r.stages["b"].status, StageStatus::Skipped);
  EXPECT_TRUE(counted().empty());
}

TEST_F(PipelineTest, OnlyDoesNotNeedStagesThatAreNotUpstream) {
  // `--only b`: c is neither b nor upstream of b, so an uncached c must not stop the run. see report)";
  write_three();
  ASSERT_EQ(run_api(pipeline_file()).exit_code, 0);
  reset_count();
  RunOptions ro;
  ro.only = {"b"};
  RunResult r = run_api(pipeline_file(), {"stages.b.text=B2", "stages.c.text=C2"}, ro);
  EXPECT_EQ(r.exit_code, 0) << r.error;
  EXPECT_EQ(r.stages["b"].status, StageStatus::Ran);
  EXPECT_NE(r.stages["c"].status, StageStatus::Ran);
  EXPECT_NE(r.stages["c"].status, StageStatus::Failed);
  EXPECT_EQ(counted(), std::vector<std::string>{"b"});
}

TEST_F(PipelineTest, UnknownStageNamesInRunOptionsAreErrors) {
  write_three();
  for (int which = 0; which < 3; ++which) {
    RunOptions ro;
    if (which == 0) ro.only = {"nope"};
    if (which == 1) ro.from = "nope";
    if (which == 2) ro.force = {"nope"};
    try {
      run_api(pipeline_file(), {}, ro);
      ADD_FAILURE() << "an unknown stage name was accepted (" << which << ")";
    } catch (const stagehand::Error& e) {
      EXPECT_TRUE(contains(e.what(), "no stage named 'nope'")) << e.what();
    }
  }
  EXPECT_TRUE(counted().empty());
  // No run folder is left behind claiming to be running.
  EXPECT_FALSE(fs::exists(tmp / "runs/three")) << "run folders were made for rejected options";
}

TEST_F(PipelineTest, RunnerReusesCachedStagesAndHonoursOnlyFromForce) {
  write_three();
  const std::string p = sh_quote(pipeline_file().string());
  auto r1 = run_runner(p);
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  EXPECT_EQ(count_occurrences(r1.output, "reused"), 0u) << r1.output;
  auto r2 = run_runner(p);
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  EXPECT_EQ(count_occurrences(r2.output, "reused cached output"), 3u) << r2.output;
  EXPECT_TRUE(std::regex_search(r2.output, std::regex("\\nb\\s+fixture_append\\s+cached\\s+length=5"))) << r2.output;
  EXPECT_EQ(counted(), (std::vector<std::string>{"a", "b", "c"}));
  fs::path rec = record_from_output(r2.output);
  ASSERT_FALSE(rec.empty()) << r2.output;
  ConfigNode n = stagehand::load_yaml_file(rec);
  for (const auto& s : {"a", "b", "c"}) EXPECT_EQ(n.at("stages").at(s).at("status").as_string(), "cached") << s;

  reset_count();
  auto r = run_runner(p + " --force b");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(counted(), std::vector<std::string>{"b"}) << r.output;
  EXPECT_TRUE(contains(r.output, "[b] running (fixture_append) (forced)")) << r.output;
  reset_count();
  r = run_runner(p + " --from a");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(counted(), (std::vector<std::string>{"a", "b", "c"})) << r.output;
  reset_count();
  r = run_runner(p + " stages.c.text=C3 --only c");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(counted(), std::vector<std::string>{"c"}) << r.output;
}

TEST_F(PipelineTest, RunnerForceAloneRerunsEveryStage) {
  write_three();
  const std::string p = sh_quote(pipeline_file().string());
  ASSERT_EQ(run_runner(p).exit_code, 0);
  reset_count();
  auto r = run_runner(p + " --force");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(counted(), (std::vector<std::string>{"a", "b", "c"})) << r.output;
}

// ============================================================================================ (c) failure

TEST_F(PipelineTest, FailingStageLeavesNoCompletedCacheEntry) {
  write_three();
  RunResult r = run_api(pipeline_file(), {"stages.b.fail=true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.status, RunStatus::Failed);
  EXPECT_EQ(statuses(r), (Statuses{{"a", "ran"}, {"b", "failed"}, {"c", "skipped"}}));
  EXPECT_TRUE(contains(r.error, "fixture_append was told to fail")) << r.error;
  EXPECT_TRUE(contains(r.error, "stage 'b'")) << r.error;
  EXPECT_EQ(counted(), std::vector<std::string>{"a"});
  const std::string key = r.stages["b"].cache_key;
  ASSERT_TRUE(is_hex64(key)) << key;
  fs::path entry = tmp / "runs/.cache" / ("b-" + key.substr(0, 16));
  EXPECT_FALSE(fs::exists(entry)) << "a failed stage left a completed cache entry";
  EXPECT_TRUE(fs::exists(tmp / "runs/.cache" / ("a-" + r.stages["a"].cache_key.substr(0, 16))));

  ConfigNode rec = load_record(r.run_dir);
  EXPECT_EQ(rec.at("status").as_string(), "failed");
  EXPECT_EQ(rec.at("stages").at("b").at("status").as_string(), "failed");
  EXPECT_TRUE(contains(rec.at("stages").at("b").at("error").as_string(), "told to fail"));
  EXPECT_EQ(rec.at("stages").at("c").at("status").as_string(), "skipped");
  EXPECT_TRUE(contains(rec.at("error").as_string(), "told to fail"));

  // Running again (still failing) does not reuse anything of b.
  reset_count();
  RunResult again = run_api(pipeline_file(), {"stages.b.fail=true"});
  EXPECT_EQ(again.stages["b"].status, StageStatus::Failed);
  EXPECT_EQ(again.stages["a"].status, StageStatus::Cached);

  // Through the runner: exit code 1 and the error on the console.
  reset_count();
  auto cli = run_runner(sh_quote(pipeline_file().string()) + " stages.a.fail=true");
  EXPECT_EQ(cli.exit_code, 1) << cli.output;
  EXPECT_TRUE(contains(cli.output, "runner: error: stage 'a': fixture_append was told to fail")) << cli.output;
  EXPECT_TRUE(counted().empty());
  ConfigNode cli_rec = stagehand::load_yaml_file(record_from_output(cli.output));
  EXPECT_EQ(cli_rec.at("status").as_string(), "failed");
  EXPECT_EQ(cli_rec.at("stages").at("b").at("status").as_string(), "skipped");
  const std::string akey = cli_rec.at("stages").at("a").at("cache_key").as_string();
  EXPECT_FALSE(fs::exists(tmp / "runs/.cache" / ("a-" + akey.substr(0, 16))));
}

// ============================================================================================ (d) interrupt

namespace {

bool wait_for_text(const fs::path& file, const std::string& text, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (contains(read_text(file), text)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

TEST_F(PipelineTest, InterruptedRunExits143Or130AndARerunCompletes) {
  write_text(pipeline_file(), "name: slow\n" + plugins_line() +
                                  "stages:\n"
                                  "  first:\n"
                                  "    kind: fixture_append\n"
                                  "    text: x\n"
                                  "    count_file: count.txt\n"
                                  "  slow:\n"
                                  "    kind: fixture_append\n"
                                  "    upstream: first\n"
                                  "    steps: 200\n"
                                  "    step_ms: 20\n"
                                  "    count_file: count.txt\n"
                                  "  after_slow:\n"
                                  "    kind: fixture_append\n"
                                  "    upstream: slow\n"
                                  "    count_file: count.txt\n");
  // Runs the pipeline and sends `sig` once the slow stage has been running for ~0.5 s.
  int attempt = 0;
  auto run_and_interrupt = [&](int sig, std::string& output) {
    fs::path log = tmp / ("interrupted-" + std::to_string(++attempt) + ".log");
    pid_t pid = spawn_runner(tmp.path(), {pipeline_file().string()}, log);
    EXPECT_GT(pid, 0);
    EXPECT_TRUE(wait_for_text(log, "[slow] running", 60)) << read_text(log);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::kill(pid, sig);
    int rc = wait_exit(pid);
    output = read_text(log);
    return rc;
  };

  std::string output;
  EXPECT_EQ(run_and_interrupt(SIGTERM, output), 143) << output;
  EXPECT_TRUE(contains(output, "interrupted by SIGTERM")) << output;
  fs::path rec_file = record_from_output(output);
  ASSERT_FALSE(rec_file.empty()) << output;
  ConfigNode rec = stagehand::load_yaml_file(rec_file);
  EXPECT_EQ(rec.at("status").as_string(), "interrupted");
  EXPECT_EQ(rec.at("stages").at("first").at("status").as_string(), "ran");
  EXPECT_EQ(rec.at("stages").at("slow").at("status").as_string(), "interrupted");
  EXPECT_EQ(rec.at("stages").at("after_slow").at("status").as_string(), "skipped");
  EXPECT_EQ(counted(), std::vector<std::string>{"first"});
  // The interrupted stage has no completed cache entry; its .partial folder is kept for resuming.
  const std::string key16 = rec.at("stages").at("slow").at("cache_key").as_string().substr(0, 16);
  EXPECT_FALSE(fs::exists(tmp / "runs/.cache" / ("slow-" + key16)));
  EXPECT_TRUE(fs::is_directory(tmp / "runs/.cache" / ("slow-" + key16 + ".partial")));

  EXPECT_EQ(run_and_interrupt(SIGINT, output), 130) << output;
  EXPECT_TRUE(contains(output, "interrupted by SIGINT")) << output;
  EXPECT_EQ(stagehand::load_yaml_file(record_from_output(output)).at("status").as_string(), "interrupted");
  EXPECT_EQ(counted(), std::vector<std::string>{"first"});  // `first` was reused

  auto again = run_runner(sh_quote(pipeline_file().string()));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(counted(), (std::vector<std::string>{"first", "slow", "after_slow"})) << again.output;
  ConfigNode rec2 = stagehand::load_yaml_file(record_from_output(again.output));
  EXPECT_EQ(rec2.at("status").as_string(), "completed");
  EXPECT_EQ(rec2.at("stages").at("first").at("status").as_string(), "cached");
  EXPECT_EQ(rec2.at("stages").at("slow").at("status").as_string(), "ran");
  EXPECT_TRUE(fs::is_directory(tmp / "runs/.cache" / ("slow-" + key16)));
  EXPECT_FALSE(fs::exists(tmp / "runs/.cache" / ("slow-" + key16 + ".partial")));
}

// ============================================================================================ (e) replay

class RecordTest : public PipelineTest {
 protected:
  /// Runs the three-stage pipeline through the runner once and returns its record file.
  fs::path first_run(const std::string& extra = "") {
    write_three("three", "    steps: 3\n");
    auto r = run_runner(sh_quote(pipeline_file().string()) + extra);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    fs::path rec = record_from_output(r.output);
    EXPECT_FALSE(rec.empty()) << r.output;
    return rec;
  }
  /// The same through the library API (no runner process).
  fs::path api_run(const std::vector<std::string>& overrides = {}) {
    write_three("three", "    steps: 3\n");
    RunResult r = run_api(pipeline_file(), overrides);
    return r.run_dir / "record.yaml";
  }
};

TEST_F(RecordTest, Replay) {
  {
    SCOPED_TRACE("Replay");
    fs::path rec = api_run();
    // A completed run replays with no difference.
    reset_count();
    auto r = run_runner("replay " + sh_quote(rec.string()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "6 metrics compared, 0 differ")) << r.output;
    EXPECT_FALSE(contains(r.output, "DIFFERS")) << r.output;
    EXPECT_EQ(counted(), (std::vector<std::string>{"a", "b", "c"})) << "a replay runs every stage, without cache";
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.output, m, std::regex("new record: (\\S+)"))) << r.output;
    ConfigNode replayed = stagehand::load_yaml_file(m[1].str());
    EXPECT_EQ(replayed.at("mode").as_string(), "replay");
    EXPECT_EQ(replayed.at("replay_of").as_string(), rec.string());
    EXPECT_EQ(replayed.at("status").as_string(), "completed");

    // A tampered metric is reported.
    ConfigNode n = stagehand::load_yaml_file(rec);
    ConfigNode* len = const_cast<ConfigNode*>(n.find_path("stages.b.metrics.length"));
    ASSERT_NE(len, nullptr);
    ASSERT_DOUBLE_EQ(len->as_double(), 5.0);
    *len = ConfigNode::of(6.0);
    write_text(tmp / "tampered.yaml", stagehand::to_yaml(n));
    r = run_runner("replay " + sh_quote((tmp / "tampered.yaml").string()));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, "DIFFERS")) << r.output;
    EXPECT_TRUE(contains(r.output, "6 metrics compared, 1 differ")) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("b\\s+length\\s+6\\s+5\\s+DIFFERS"))) << r.output;

    // A record whose plugin sha256 differs is refused unless --allow-plugin-change.
    n = stagehand::load_yaml_file(rec);
    bool changed = false;
    for (auto& p : n.find("plugins")->items()) {
      if (p.at("name").as_string() == "fixture_good") {
        p.set("sha256", ConfigNode::of(std::string(64, '0')));
        changed = true;
      }
    }
    ASSERT_TRUE(changed);
    write_text(tmp / "changed.yaml", stagehand::to_yaml(n));
    reset_count();
    r = run_runner("replay " + sh_quote((tmp / "changed.yaml").string()));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, "plugin changed: fixture_good: sha256 0000000000000000 in the record")) << r.output;
    EXPECT_TRUE(contains(r.output, "--allow-plugin-change")) << r.output;
    EXPECT_TRUE(counted().empty()) << "stages ran although the replay was refused";
    r = run_runner("replay --allow-plugin-change " + sh_quote((tmp / "changed.yaml").string()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "0 differ")) << r.output;
  }
  {
    SCOPED_TRACE("ReplayRefusesAnIncompleteRun");
    write_three();
    RunResult failed = run_api(pipeline_file(), {"stages.b.fail=true"});
    ASSERT_EQ(failed.exit_code, 1);
    auto r = run_runner("replay " + sh_quote(failed.run_dir.string()));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, "did not complete (status failed)")) << r.output;
  }
}

// ============================================================================================ (f) diff

TEST_F(RecordTest, DiffAndRecordRoundTrip) {
  {
    SCOPED_TRACE("DiffListsTheChangedOptionAndMetric");
    fs::path a = api_run();
    fs::path b = api_run({"stages.b.text=BBB"});
    auto r = run_runner("diff " + sh_quote(a.string()) + " " + sh_quote(b.string()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "options (1 difference)")) << r.output;
    EXPECT_TRUE(contains(r.output, "stages.b.text: B -> BBB")) << r.output;
    EXPECT_TRUE(contains(r.output, "metrics (1 difference)")) << r.output;
    EXPECT_TRUE(contains(r.output, "b.length: 5 -> 7")) << r.output;
    EXPECT_FALSE(contains(r.output, "c.length")) << r.output;
    EXPECT_TRUE(contains(r.output, "plugins (version sha256) (0 differences)")) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("b: [0-9a-f]{16} ran -> [0-9a-f]{16} ran"))) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("c: ([0-9a-f]{16}) ran -> \\1 cached"))) << r.output;
  }
  {
    SCOPED_TRACE("ApiRunRecordRoundTripsThroughYaml");
    write_three();
    RunResult r = run_api(pipeline_file());
    ASSERT_EQ(r.exit_code, 0) << r.error;
    std::string text = read_text(r.run_dir / "record.yaml");
    ConfigNode rec = stagehand::parse_yaml(text, "record.yaml");
    ConfigNode again = stagehand::parse_yaml(stagehand::to_yaml(rec), "again.yaml");
    EXPECT_TRUE(rec.equals(again));
    EXPECT_EQ(rec.at("status").as_string(), "completed");
    // The resolved section plans to the same pipeline.
    stagehand::Registry registry;
    stagehand::PluginLoader loader(registry);
    stagehand::Pipeline p = stagehand::plan_pipeline(rec.at("resolved"), pipeline_file(), loader);
    ASSERT_EQ(p.stages.size(), 3u);
    EXPECT_EQ(p.stages[1].deps, std::vector<std::string>{"a"});
  }
}

// ============================================================================================ (g) records

TEST_F(RecordTest, RecordHoldsEverythingNeededToExplainTheRun) {
  fs::path rec_file = first_run(" stages.c.text=CC");
  ConfigNode rec = stagehand::load_yaml_file(rec_file);
  fs::path run_dir = rec_file.parent_path();
  EXPECT_EQ(rec.at("stagehand_record").as_int(), 1);
  EXPECT_EQ(rec.at("status").as_string(), "completed");
  EXPECT_EQ(rec.at("mode").as_string(), "run");
  EXPECT_EQ(rec.at("run_id").as_string(), run_dir.filename().string());
  EXPECT_EQ(run_dir.parent_path(), tmp / "runs/three");
  ASSERT_TRUE(rec.at("command").is_sequence());
  EXPECT_EQ(rec.at("command").items().back().as_string(), "stages.c.text=CC");
  EXPECT_EQ(rec.at("overrides").items().at(0).as_string(), "stages.c.text=CC");
  // pipeline file and its sha256
  EXPECT_EQ(rec.at("pipeline").at("file").as_string(), pipeline_file().string());
  EXPECT_EQ(rec.at("pipeline").at("sha256").as_string(), stagehand::sha256_file(pipeline_file()));
  EXPECT_EQ(rec.at("pipeline").at("name").as_string(), "three");
  // the pipeline file's git state, as git_state finds it (here a file in no repository: none)
  const auto g = stagehand::git_state(pipeline_file());
  EXPECT_EQ(rec.at("pipeline").has("git"), g.has_value());
  if (g) EXPECT_EQ(rec.at("pipeline").at("git").at("commit").as_string(), g->commit);
  // environment
  EXPECT_EQ(rec.find_path("environment.runner.version")->as_string(), STAGEHAND_VERSION);
  EXPECT_EQ(rec.find_path("environment.runner.plugin_abi")->as_int(), static_cast<int64_t>(STAGEHAND_PLUGIN_ABI));
  EXPECT_TRUE(
      std::regex_match(rec.find_path("environment.libtorch.version")->as_string(), std::regex("\\d+\\.\\d+\\.\\d+")));
  ASSERT_NE(rec.find_path("environment.host.cpu"), nullptr);
  EXPECT_TRUE(rec.find_path("environment.host.cpu")->is_scalar());
  EXPECT_GE(rec.find_path("environment.host.cores")->as_int(), 1);
  // threads as in effect
  EXPECT_GE(rec.at("threads").at("intra_op").as_int(), 1);
  EXPECT_GE(rec.at("threads").at("inter_op").as_int(), 1);
  EXPECT_TRUE(rec.at("threads").has("blas"));
  // plugins with sha256
  bool good = false;
  for (const auto& p : rec.at("plugins").items()) {
    EXPECT_TRUE(is_hex64(p.at("sha256").as_string())) << p.at("file").as_string();
    if (p.at("name").as_string() == "fixture_good") {
      good = true;
      EXPECT_EQ(p.at("file").as_string(), kFixtureGood.string());
      EXPECT_EQ(p.at("sha256").as_string(), stagehand::sha256_file(kFixtureGood));
      EXPECT_EQ(p.at("origin").as_string(), "pipeline");
      EXPECT_EQ(p.at("components").items().at(0).as_string(), "stage/fixture_append");
    }
  }
  EXPECT_TRUE(good);
  EXPECT_TRUE(is_hex64(rec.at("core_sha256").as_string()));
  // inputs with sha256
  ASSERT_TRUE(rec.at("inputs").is_map());
  ASSERT_TRUE(rec.at("inputs").has((tmp / "input.txt").string()));
  EXPECT_EQ(rec.at("inputs").at((tmp / "input.txt").string()).as_string(), stagehand::sha256_file(tmp / "input.txt"));
  // seeds
  EXPECT_EQ(rec.at("seeds").at("pipeline").as_int(), 1991);
  EXPECT_EQ(static_cast<uint64_t>(rec.at("seeds").at("stages").at("b").as_int()), stagehand::derive_seed(1991, "b"));
  // per-stage cache key, status and metrics
  for (const auto& s : {"a", "b", "c"}) {
    const ConfigNode& st = rec.at("stages").at(s);
    EXPECT_TRUE(is_hex64(st.at("cache_key").as_string())) << s;
    EXPECT_EQ(st.at("status").as_string(), "ran") << s;
    EXPECT_EQ(st.at("kind").as_string(), "fixture_append") << s;
    EXPECT_TRUE(st.at("metrics").has("length")) << s;
    EXPECT_TRUE(st.at("metrics").has("seed_mod_1000")) << s;
  }
  EXPECT_DOUBLE_EQ(rec.find_path("stages.c.metrics.length")->as_double(), 6.0);
  EXPECT_EQ(rec.find_path("stages.b.metrics.seed_mod_1000")->as_double(),
            static_cast<double>(stagehand::derive_seed(1991, "b") % 1000));
  // resolved: every default filled in, paths absolute
  EXPECT_EQ(rec.find_path("resolved.stages.a.steps")->as_int(), 3);
  EXPECT_EQ(rec.find_path("resolved.stages.b.steps")->as_int(), 0);
  EXPECT_EQ(rec.find_path("resolved.stages.b.step_ms")->as_int(), 1);
  EXPECT_EQ(rec.find_path("resolved.stages.a.input")->as_string(), (tmp / "input.txt").string());
  EXPECT_EQ(rec.find_path("resolved.stages.c.text")->as_string(), "CC");
  EXPECT_EQ(rec.find_path("resolved.seed")->as_int(), 1991);
  // provenance: file:line:col for written values, <default> and the command line for the others
  const ConfigNode& prov = rec.at("provenance");
  EXPECT_EQ(prov.at("stages.a.text").as_string(), pipeline_file().string() + ":6:11");
  EXPECT_EQ(prov.at("stages.a.input").as_string(), pipeline_file().string() + ":7:12");
  EXPECT_EQ(prov.at("stages.b.upstream").as_string(), pipeline_file().string() + ":12:15");
  EXPECT_EQ(prov.at("stages.b.steps").as_string(), "<default>");
  EXPECT_EQ(prov.at("stages.c.text").as_string(), "<command line argument 1>");
  EXPECT_EQ(prov.at("name").as_string(), pipeline_file().string() + ":1:7");

  // metrics.jsonl: valid JSON on every line, step values and final metrics of every stage
  auto lines = read_lines(run_dir / "metrics.jsonl");
  ASSERT_FALSE(lines.empty());
  int steps = 0, finals = 0;
  for (const auto& line : lines) {
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(line)) << line;
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j.contains("time")) << line;
    EXPECT_TRUE(j.contains("stage")) << line;
    if (j.contains("step")) {
      ++steps;
      EXPECT_EQ(j["stage"], "a") << line;
      EXPECT_TRUE(j["values"].is_object()) << line;
      EXPECT_DOUBLE_EQ(j["values"]["value"].get<double>(), j["step"].get<double>() * 0.5) << line;
    } else if (j.value("event", "") == "metric") {
      ++finals;
      EXPECT_TRUE(j["value"].is_number()) << line;
    }
  }
  EXPECT_EQ(steps, 3);
  EXPECT_EQ(finals, 6);
  EXPECT_TRUE(fs::exists(run_dir / "runner.log"));
  EXPECT_TRUE(contains(read_text(run_dir / "runner.log"), "[a] running")) << read_text(run_dir / "runner.log");
  // The stage's cache entry explains itself.
  ConfigNode stage_yaml = stagehand::load_yaml_file(run_dir / "stages/a/stage.yaml");
  EXPECT_EQ(stage_yaml.at("cache_key").as_string(), rec.find_path("stages.a.cache_key")->as_string());
  EXPECT_EQ(stagehand::sha256_hex(stage_yaml.at("key_material").as_string()), stage_yaml.at("cache_key").as_string());
}

// ============================================================================================ runner commands

// The record names the pipeline file's own git state (its repository's commit, and whether the file or any tracked
// file differs from it), not only the runner's build commit; a file in no repository gets none.
TEST_F(RecordTest, RecordNamesThePipelineFilesGitState) {
  write_three("three", "    steps: 3\n");
  auto git = [&](const std::string& args) {
    return std::system(("git -C " + sh_quote(tmp.path().string()) + " -c user.email=t@t -c user.name=t " + args +
                        " > /dev/null 2>&1").c_str());
  };
  ASSERT_EQ(git("init -q"), 0);
  ASSERT_EQ(git("add p.yaml"), 0);
  ASSERT_EQ(git("commit -q -m p"), 0);
  const auto clean = stagehand::git_state(pipeline_file());
  ASSERT_TRUE(clean.has_value());
  EXPECT_EQ(clean->commit.size(), 40u);
  EXPECT_TRUE(clean->tracked);
  EXPECT_FALSE(clean->file_dirty);
  EXPECT_FALSE(clean->repo_dirty);  // the run's own files are untracked
  auto r = run_runner(sh_quote(pipeline_file().string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ConfigNode rec = stagehand::load_yaml_file(record_from_output(r.output));
  EXPECT_EQ(rec.find_path("pipeline.git.commit")->as_string(), clean->commit);
  EXPECT_FALSE(rec.find_path("pipeline.git.file_dirty")->as_bool());

  stagehand::write_file_atomic(pipeline_file(), stagehand::read_file(pipeline_file()) + "# edited\n");
  const auto edited = stagehand::git_state(pipeline_file());
  ASSERT_TRUE(edited.has_value());
  EXPECT_EQ(edited->commit, clean->commit);
  EXPECT_TRUE(edited->file_dirty);
  EXPECT_TRUE(edited->repo_dirty);
  r = run_runner(sh_quote(pipeline_file().string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  rec = stagehand::load_yaml_file(record_from_output(r.output));
  EXPECT_TRUE(rec.find_path("pipeline.git.file_dirty")->as_bool());
  stagehand::write_file_atomic(tmp / "q.yaml", "x: 1\n");  // untracked: not the commit's file
  EXPECT_FALSE(stagehand::git_state(tmp / "q.yaml")->tracked);
  EXPECT_TRUE(stagehand::git_state(tmp / "q.yaml")->file_dirty);
  EXPECT_FALSE(stagehand::git_state(fs::path("/proc/version")).has_value());  // in no repository
}

TEST_F(PipelineTest, CheckValidatesPrintsPluginsAndRunsNothing) {
  write_three();
  auto r = run_runner("check " + sh_quote(pipeline_file().string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "pipeline 'three': 3 stages, all options valid")) << r.output;
  EXPECT_TRUE(contains(r.output, "fixture_good")) << r.output;
  EXPECT_TRUE(contains(r.output, stagehand::sha256_file(kFixtureGood).substr(0, 16))) << r.output;
  EXPECT_TRUE(contains(r.output, kFixtureGood.string())) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\\bb\\s+fixture_append\\s+after: a"))) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "runs")) << "check made a runs/ folder";
  EXPECT_FALSE(fs::exists(count_file())) << "check ran a stage";

  // --print: the fully resolved pipeline, every default filled in.
  r = run_runner("check --print " + sh_quote(pipeline_file().string()) + " stages.c.steps=4");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "seed: 1991")) << r.output;
  EXPECT_TRUE(contains(r.output, "step_ms: 1")) << r.output;
  EXPECT_TRUE(contains(r.output, "cache: true")) << r.output;
  EXPECT_TRUE(contains(r.output, "steps: 4")) << r.output;
  EXPECT_TRUE(contains(r.output, "input: \"" + (tmp / "input.txt").string() + "\"")) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "runs"));
  size_t start = r.output.find("name: three");
  ASSERT_NE(start, std::string::npos) << r.output;
  ConfigNode printed = stagehand::parse_yaml(r.output.substr(start), "printed");
  EXPECT_EQ(printed.find_path("stages.b.fail")->as_bool(), false);
  EXPECT_EQ(printed.find_path("stages.c.steps")->as_int(), 4);
  EXPECT_EQ(printed.find_path("stages.a.description")->as_string(), "");
}

TEST_F(PipelineTest, DescribeAndTestPlugin) {
  {
    SCOPED_TRACE("DescribeListsOptionsWithTypesDefaultsAndDocs");
    auto r = run_runner("--plugin " + sh_quote(kFixtureGood.string()) + " describe stage/fixture_append");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "stage/fixture_append: test stage: appends text to its upstream's text"))
        << r.output;
    EXPECT_TRUE(contains(r.output, kFixtureGood.string())) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("\\n\\s+steps\\s+int\\s+0\\s+number of progress steps")))
        << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("\\n\\s+text\\s+string\\s+\"\"\\s+text to append"))) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("\\n\\s+fail\\s+bool\\s+false\\s+throw an error at the end")))
        << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("\\n\\s+upstream\\s+stage name\\s+\\(none\\)"))) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("\\n\\s+input\\s+path\\s+\\(none\\)"))) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("\\n\\s+count_file\\s+output path\\s+\\(none\\)"))) << r.output;
    EXPECT_TRUE(contains(r.output, "common to every stage")) << r.output;
    // An unknown name is an error with a suggestion.
    r = run_runner("--plugin " + sh_quote(kFixtureGood.string()) + " describe stage/fixture_apend");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, "did you mean 'fixture_append'")) << r.output;
  }
  {
    SCOPED_TRACE("TestPluginPassesForTheGoodFixtureAndRefusesTheAbiFixture");
    auto r = run_runner("test-plugin " + sh_quote(kFixtureGood.string()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, " 0 failed")) << r.output;
    EXPECT_TRUE(contains(r.output, "manifest: fixture_good")) << r.output;
    EXPECT_TRUE(contains(r.output, "stage/fixture_append")) << r.output;

    r = run_runner("test-plugin " + sh_quote(kFixtureAbi.string()));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, "ABI 999")) << r.output;
    EXPECT_TRUE(contains(r.output, "was refused")) << r.output;
  }
}
