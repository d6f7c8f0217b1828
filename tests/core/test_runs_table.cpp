// SPDX-License-Identifier: Apache-2.0
// `runner runs`: the table of runs (from each run's summary.json, or its record.yaml when a run has none), its
// metric columns, sorting and formats, --compare, and clear errors for what it cannot do.
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace {

using namespace sh_test;
using json = nlohmann::json;

class RunsTable : public ::testing::Test {
 protected:
  TempFolder tmp;

  void SetUp() override {
    write_text(tmp / "p.yaml", "name: two\nplugins: [\"" + kFixtureGood.string() +
                                   "\"]\nstages:\n  a:\n    kind: fixture_append\n    text: A\n"
                                   "  b:\n    kind: fixture_append\n    upstream: a\n    text: B\n");
  }
  CommandResult run(const std::string& args) { return runner(args, tmp.path()); }
  /// Runs p.yaml with one override of a's text; returns the run id.
  std::string run_with(const std::string& text) {
    auto r = run("run p.yaml stages.a.text=" + text + " --runs-dir runs");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const json s = json::parse(read_text(tmp / "runs" / "two" / "latest" / "summary.json"));
    return s.at("run_id").get<std::string>();
  }
  /// The CSV output as rows of cells (no quoting needed for these values).
  static std::vector<std::vector<std::string>> csv(const std::string& out) {
    std::vector<std::vector<std::string>> rows;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      std::vector<std::string> cells;
      std::istringstream l(line);
      for (std::string c; std::getline(l, c, ',');) cells.push_back(c);
      rows.push_back(cells);
    }
    return rows;
  }
};

TEST_F(RunsTable, ListsEachRunWithItsOverridesAndChosenMetricsSortedAndInEachFormat) {
  const std::string id_short = run_with("xy");      // a.length 2, b.length 3
  const std::string id_long = run_with("abcdef");   // a.length 6, b.length 7
  // summary.json beside record.yaml says what the table needs.
  const json s = json::parse(read_text(tmp / "runs" / "two" / id_long / "summary.json"));
  EXPECT_EQ(s.at("pipeline"), "two");
  EXPECT_EQ(s.at("status"), "completed");
  EXPECT_EQ(s.at("stages").at("b").at("metrics").at("length"), 7.0);

  auto r = run("runs --runs-dir runs --metrics a.length,length --sort a.length --desc --format csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto rows = csv(r.output);
  ASSERT_EQ(rows.size(), 3u) << r.output;
  EXPECT_EQ(rows[0], (std::vector<std::string>{"id", "pipeline", "started", "status", "seconds", "duration", "commit",
                                               "overrides", "a.length", "length"}));
  EXPECT_EQ(rows[1][0], id_long);  // descending by a.length
  EXPECT_EQ(rows[1][7], "stages.a.text=abcdef");
  EXPECT_EQ(rows[1][8], "6");
  EXPECT_EQ(rows[1][9], "6");  // a bare metric name: the first stage that has it
  EXPECT_EQ(rows[2][0], id_short);
  EXPECT_EQ(rows[2][8], "2");
  EXPECT_EQ(rows[2][3], "completed");

  r = run("runs two --runs-dir runs --metrics b.length --format json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = json::parse(r.output);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0].at("b.length"), "3");  // sorted by start: the first run first

  r = run("runs --runs-dir runs --metrics b.length");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("| id "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| stages.a.text=xy "), std::string::npos) << r.output;

  // Another pipeline's name filters everything out.
  r = run("runs other --runs-dir runs");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no runs under 'runs' for other"), std::string::npos) << r.output;
}

TEST_F(RunsTable, CompareShowsRunsSideBySideAndRecordsWithoutSummariesStillCount) {
  const std::string a = run_with("one");
  const std::string b = run_with("three");
  // A run recorded before summaries existed: read from record.yaml.
  fs::remove(tmp / "runs" / "two" / a / "summary.json");
  auto r = run("runs --runs-dir runs --compare " + a + " runs/two/" + b + "/record.yaml --format csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto rows = csv(r.output);
  ASSERT_GE(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"field", a, b}));
  bool seen = false;
  for (const auto& row : rows)
    if (row[0] == "b.length") {
      seen = true;
      EXPECT_EQ(row, (std::vector<std::string>{"b.length", "4", "6"}));
    }
  EXPECT_TRUE(seen) << r.output;
  EXPECT_NE(r.output.find("overrides,stages.a.text=one,stages.a.text=three"), std::string::npos) << r.output;
}

TEST_F(RunsTable, MistakesGetOneClearLine) {
  const std::string id = run_with("x");
  auto r = run("runs --runs-dir runs --sort lenght");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--sort lenght: no such column"), std::string::npos) << r.output;
  r = run("runs --runs-dir runs --compare " + id + " " + id.substr(0, id.size() - 1) + "z");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("did you mean '" + id + "'"), std::string::npos) << r.output;
  r = run("runs --runs-dir nowhere");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no runs folder 'nowhere'"), std::string::npos) << r.output;
  r = run("runs --runs-dir runs --format xml");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("expected md, csv or json"), std::string::npos) << r.output;
}

// Thousands of runs: every one is listed (the time it took is printed for the record; speed is a benchmark figure,
// not a pass/fail condition).
TEST_F(RunsTable, ThousandsOfRunsAreAllListed) {
  const std::string id = run_with("x");
  const std::string summary = read_text(tmp / "runs" / "two" / id / "summary.json");
  for (int k = 0; k < 3000; ++k) {
    json s = json::parse(summary);
    s["run_id"] = "synthetic-" + std::to_string(k);
    write_text(tmp / "runs" / "many" / ("synthetic-" + std::to_string(k)) / "summary.json", s.dump());
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run("runs --runs-dir runs --metrics b.length --format csv");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.exit_code, 0) << r.output.substr(0, 2000);
  EXPECT_EQ(csv(r.output).size(), 3002u);
  std::cout << "runner runs over 3001 runs: " << secs << " s (runner start included)\n";
}

}  // namespace
