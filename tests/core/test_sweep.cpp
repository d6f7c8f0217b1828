// SPDX-License-Identifier: Apache-2.0
// `runner sweep`: every combination its own run sharing the cache, --jobs at once, the closing tables with mean (std)
// over seeds, a sweep file, resuming after a kill, and clear errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace {

using namespace sh_test;
using json = nlohmann::json;

class Sweep : public ::testing::Test {
 protected:
  TempFolder tmp;
  void SetUp() override {
    // a depends only on the seed; b on the seed and its text.
    write_text(tmp / "p.yaml", "name: sw\nplugins: [\"" + kFixtureGood.string() +
                                   "\"]\nstages:\n  a:\n    kind: fixture_append\n    text: A\n"
                                   "    count_file: count_a.txt\n"
                                   "  b:\n    kind: fixture_append\n    upstream: a\n    text: B\n"
                                   "    count_file: count_b.txt\n");
  }
  CommandResult run(const std::string& args) { return runner(args, tmp.path()); }
  size_t lines(const std::string& file) { return read_lines(tmp / file).size(); }
};

TEST_F(Sweep, EveryCombinationIsARunSharingTheCacheWithMeanStdOverSeeds) {
  auto r = run("sweep p.yaml stages.b.text=x,yyy 'seed=range(1,3)' --jobs 2 --metrics b.length --runs-dir runs");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("4 runs (0 done before), 2 at a time"), std::string::npos) << r.output;
  EXPECT_EQ(lines("count_b.txt"), 4u) << "one b per combination";
  EXPECT_EQ(lines("count_a.txt"), 2u) << "a depends on the seed only: once per seed, shared by both texts";
  // The closing tables: each run, then each setting over its seeds ("A" + "x": 2 characters, "A" + "yyy": 4).
  EXPECT_NE(r.output.find("| stages.b.text=x seed=1 "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| stages.b.text=x   | 2    | 2.0000 (0.0000) |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| stages.b.text=yyy | 2    | 4.0000 (0.0000) |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("4 of 4 runs completed"), std::string::npos) << r.output;
  // Each is an ordinary run with its record.
  r = run("runs sw --runs-dir runs --format csv --metrics b.length");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_occurrences(r.output, "\n"), 5u) << r.output;

  // The same command again: nothing left to run.
  r = run("sweep p.yaml stages.b.text=x,yyy 'seed=range(1,3)' --jobs 2 --metrics b.length --runs-dir runs");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("4 runs (4 done before)"), std::string::npos) << r.output;
  EXPECT_EQ(lines("count_b.txt"), 4u);
}

TEST_F(Sweep, ASweepFileSaysTheSame) {
  write_text(tmp / "s.yaml",
             "pipeline: p.yaml\nparams:\n  stages.b.text: [x, yyy]\n  seed: range(1, 3)\nmetrics: [b.length]\n");
  auto r = run("sweep s.yaml --runs-dir runs");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("| stages.b.text=yyy | 2    | 4.0000 (0.0000) |"), std::string::npos) << r.output;
}

TEST_F(Sweep, AKilledSweepResumesWithWhatIsLeft) {
  write_text(tmp / "p.yaml", read_text(tmp / "p.yaml") + "    steps: 20\n    step_ms: 100\n");  // b takes 2 s
  const std::vector<std::string> args{"sweep", "p.yaml", "stages.b.text=x,yy,zzz", "--runs-dir", "runs"};
  const pid_t pid = spawn_runner(tmp.path(), args);
  // Wait until the first run completed, then stop the sweep while the second runs.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline && lines("count_b.txt") < 1)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 128 + SIGTERM) << read_text(tmp / "spawned.log");
  EXPECT_NE(read_text(tmp / "spawned.log").find("the same command resumes it"), std::string::npos);
  auto r = run("sweep p.yaml stages.b.text=x,yy,zzz --runs-dir runs --metrics b.length");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("3 runs (1 done before)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3 of 3 runs completed"), std::string::npos) << r.output;
}

TEST_F(Sweep, MistakesGetOneClearLine) {
  auto r = run("sweep p.yaml --runs-dir runs");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("nothing to sweep"), std::string::npos) << r.output;
  r = run("sweep p.yaml stages.b.text --runs-dir runs");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("'stages.b.text' must look like key.path=v1,v2"), std::string::npos) << r.output;
  r = run("sweep p.yaml 'seed=range(3,3)' --runs-dir runs");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("'seed=range(3,3)' gives no values"), std::string::npos) << r.output;
  // A setting the pipeline refuses fails its runs, each named with its output.
  r = run("sweep p.yaml stages.b.stpes=1,2 --runs-dir runs");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("[1/2] failed (exit 1); its output: "), std::string::npos) << r.output;
}

}  // namespace
