// SPDX-License-Identifier: Apache-2.0
// `trials: N` on any stage: N runs with derived seeds in trial-<k>/ folders, metrics summarised as mean, std
// (population), min and max with every trial's value in the record; downstream trials pair up with upstream
// trials; a report stage prints "mean (std)"; the whole is cached like any stage.
#include <cmath>
#include <set>

#include "support/test_support.h"
#include "stagehand/config.h"
#include "pipeline/pipeline.h"
#include "stagehand/results.h"

using namespace sh_test;
using stagehand::ConfigNode;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string yaml(const std::string& stages) {
  return "name: trials\nseed: 5\nplugins: [\"" + kFixtureGood.string() + "\"]\nstages:\n" + stages;
}

TEST(Trials, MetricsAreSummarisedAndEveryTrialIsRecorded) {
  TempFolder dir;
  write_text(dir / "p.yaml", yaml("  a:\n    kind: fixture_append\n    text: A\n    trials: 3\n"
                                  "    count_file: count.txt\n"
                                  "  table:\n    kind: report\n    stages: [a]\n    metrics: [seed_mod_1000, length]\n"));
  auto r = runner("run p.yaml", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_lines(dir / "count.txt").size(), 3u);  // three real runs
  ConfigNode rec = stagehand::load_yaml_file(dir / "runs/trials/latest/record.yaml");
  const ConfigNode& a = rec.at("stages").at("a");
  const ConfigNode& t = a.at("trials");
  EXPECT_EQ(t.at("count").as_int(), 3);
  // Trial 1 keeps the stage seed; the others are derived and distinct.
  const uint64_t stage_seed = std::stoull(rec.at("seeds").at("stages").at("a").as_string());
  std::set<std::string> seeds;
  for (const auto& s : t.at("seeds").items()) seeds.insert(s.as_string());
  EXPECT_EQ(seeds.size(), 3u);
  EXPECT_EQ(t.at("seeds").items()[0].as_string(), std::to_string(stage_seed));
  EXPECT_EQ(t.at("seeds").items()[1].as_string(), std::to_string(stagehand::trial_seed(stage_seed, 2)));
  // The fixture reports its seed mod 1000: the summary must be exactly the population statistics.
  std::vector<double> v;
  for (const auto& s : t.at("seeds").items()) v.push_back(static_cast<double>(std::stoull(s.as_string()) % 1000));
  const ConfigNode& m = t.at("metrics").at("seed_mod_1000");
  ASSERT_EQ(m.at("values").size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_DOUBLE_EQ(m.at("values").items()[k].as_double(), v[k]);
  const double mean = (v[0] + v[1] + v[2]) / 3;
  const double sd = std::sqrt(((v[0] - mean) * (v[0] - mean) + (v[1] - mean) * (v[1] - mean) +
                               (v[2] - mean) * (v[2] - mean)) / 3);
  EXPECT_NEAR(m.at("mean").as_double(), mean, 1e-9);
  EXPECT_NEAR(m.at("std").as_double(), sd, 1e-9);
  EXPECT_DOUBLE_EQ(m.at("min").as_double(), *std::min_element(v.begin(), v.end()));
  EXPECT_DOUBLE_EQ(m.at("max").as_double(), *std::max_element(v.begin(), v.end()));
  EXPECT_NEAR(a.at("metrics").at("seed_mod_1000").as_double(), mean, 1e-9);
  EXPECT_NEAR(a.at("metrics").at("seed_mod_1000.std").as_double(), sd, 1e-9);
  // Each trial has its own folder with its own output.
  for (int k = 1; k <= 3; ++k) EXPECT_EQ(read_text(dir / fmt::format("runs/trials/latest/stages/a/trial-{}/out.txt", k)), "A");
  // The log and the report print mean (std); length is 1 in every trial, so its std is 0.
  EXPECT_TRUE(contains(r.output, "[a] 3 trials: ")) << r.output;
  EXPECT_TRUE(contains(r.output, fmt::format("| seed_mod_1000 | {:.4f} ({:.4f}) |", mean, sd))) << r.output;
  EXPECT_TRUE(contains(r.output, "| length | 1.0000 (0.0000) |")) << r.output;

  // A second run reuses the whole stage: no trial runs again, the record still has every value.
  auto again = runner("run p.yaml", dir.path());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(read_lines(dir / "count.txt").size(), 3u);
  ConfigNode rec2 = stagehand::load_yaml_file(dir / "runs/trials/latest/record.yaml");
  EXPECT_EQ(rec2.at("stages").at("a").at("status").as_string(), "cached");
  EXPECT_EQ(rec2.at("stages").at("a").at("trials").at("metrics").at("seed_mod_1000").at("values").size(), 3u);
}

// A stage that evaluated a model run with trials (the evaluate stage) records <model>.<metric> (the mean) and
// <model>.trials.<k>.<metric>: a report of it shows mean (std) over those trials, not the mean alone.
TEST(Trials, AReportOfAnEvaluationOverTrialsShowsMeanAndStd) {
  TempFolder dir;
  write_text(dir / "p.yaml", yaml("  ev:\n    kind: fixture_append\n    text: A\n"
                                  "    metrics: {m.acc: 0.5, m.trials.1.acc: 0.4, m.trials.2.acc: 0.6, n.acc: 0.3}\n"
                                  "  table:\n    kind: report\n    stages: [ev]\n    metrics: [m.acc, n.acc]\n"));
  auto r = runner("run p.yaml", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "| m.acc | 0.5000 (0.1000) |")) << r.output;
  EXPECT_TRUE(contains(r.output, "| n.acc | 0.3000 |")) << r.output;  // no trials of its own: the value alone
  ConfigNode rec = stagehand::load_yaml_file(dir / "runs/trials/latest/record.yaml");
  EXPECT_NEAR(rec.at("stages").at("table").at("metrics").at("ev.m.acc.std").as_double(), 0.1, 1e-12);
}

TEST(Trials, OneTrialIsTheSameRunAsNoTrials) {
  TempFolder dir;
  write_text(dir / "p.yaml", yaml("  a:\n    kind: fixture_append\n    text: A\n"));
  write_text(dir / "q.yaml", yaml("  a:\n    kind: fixture_append\n    text: A\n    trials: 1\n"));
  ASSERT_EQ(runner("run p.yaml", dir.path()).exit_code, 0);
  ConfigNode p = stagehand::load_yaml_file(dir / "runs/trials/latest/record.yaml");
  ASSERT_EQ(runner("run q.yaml --runs-dir other", dir.path()).exit_code, 0);
  ConfigNode q = stagehand::load_yaml_file(dir / "other/trials/latest/record.yaml");
  EXPECT_EQ(p.at("stages").at("a").at("metrics").at("seed_mod_1000").as_double(),
            q.at("stages").at("a").at("metrics").at("seed_mod_1000").as_double());
  EXPECT_FALSE(q.at("stages").at("a").has("trials"));
}

TEST(Trials, DownstreamTrialsPairWithUpstreamTrials) {
  TempFolder dir;
  // b (3 trials) reads a (3 trials): trial k of b appends to trial k of a. c (no trials) reads a's trial 1.
  write_text(dir / "p.yaml", yaml("  a:\n    kind: fixture_append\n    text: A\n    trials: 3\n"
                                  "  b:\n    kind: fixture_append\n    upstream: a\n    text: B\n    trials: 3\n"
                                  "  c:\n    kind: fixture_append\n    upstream: a\n    text: C\n"));
  auto r = runner("run p.yaml", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int k = 1; k <= 3; ++k)
    EXPECT_EQ(read_text(dir / fmt::format("runs/trials/latest/stages/b/trial-{}/out.txt", k)), "AB");
  EXPECT_EQ(read_text(dir / "runs/trials/latest/stages/c/out.txt"), "AC");
  EXPECT_TRUE(contains(r.output, "[b trial 2/3]") || contains(r.output, "[b] trial 2/3")) << r.output;
}

TEST(Trials, MismatchedTrialCountsAreRefusedBeforeAnythingRuns) {
  TempFolder dir;
  write_text(dir / "p.yaml", yaml("  a:\n    kind: fixture_append\n    text: A\n    trials: 3\n"
                                  "  b:\n    kind: fixture_append\n    upstream: a\n    trials: 2\n"));
  auto r = runner("check p.yaml", dir.path());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "stage 'b' has trials: 2 but its upstream stage 'a' has trials: 3")) << r.output;
  EXPECT_TRUE(contains(r.output, "p.yaml:")) << r.output;
  write_text(dir / "q.yaml", yaml("  a:\n    kind: fixture_append\n    trials: 0\n"));
  auto z = runner("check q.yaml", dir.path());
  EXPECT_NE(z.exit_code, 0);
  EXPECT_TRUE(contains(z.output, "trials")) << z.output;
}

TEST(ResultsTable, CellsReadAsThePapersPrintThem) {
  stagehand::ResultsTable t({"ner", "gad"});
  t.set("test.f1", "ner", {0.7800, 0.7866, 0.7833});
  t.set("test.f1", "gad", {0.8});
  t.set("loss", "ner", {1.5, 2.5});
  t.set("examples", "gad", {1.0});  // in [0, 1] but not a ratio: not scaled
  // mean 0.7833, population std 0.002694 -> percent
  EXPECT_EQ(t.cell("test.f1", "ner"), "78.33 (0.27)");
  EXPECT_EQ(t.cell("test.f1", "gad"), "80.00");
  EXPECT_EQ(t.cell("loss", "ner"), "2.0000 (0.5000)");
  EXPECT_EQ(t.cell("loss", "gad"), "");
  EXPECT_EQ(t.cell("examples", "gad"), "1");  // a count reads as one
  t.set("examples", "ner", {400.0});
  EXPECT_EQ(t.cell("examples", "ner"), "400");

  EXPECT_TRUE(contains(t.markdown(), "| test.f1 | 78.33 (0.27) | 80.00 |"));
  EXPECT_TRUE(contains(t.csv(), "test.f1,ner,3,0.7833,"));
}

}  // namespace
