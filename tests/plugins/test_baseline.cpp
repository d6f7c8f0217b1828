// SPDX-License-Identifier: Apache-2.0
// The `baseline` stage (plugins/stage/baseline) and the classification results tables (issue 25, item 8):
//  - its words and TF-IDF values against scikit-learn's TfidfVectorizer (tests/data/baseline/make_tfidf.py);
//  - through the runner on the shipped e-mails (data/spam, pipelines/quickstart.yaml's data): the majority baseline
//    scores what the test file's class shares, counted here independently, give; the TF-IDF + LIBLINEAR one beats
//    it; two runs record the same metrics; a report sets it beside a trained model, and the evaluate stage's table
//    has each class's F1, the scale in its header and a confusion matrix of whole counts.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <stagehand/config.h>

#include "support/test_support.h"
#include "text_features.h"

using namespace sh_test;

namespace {

using stagehand::baseline::Vectorizer;
using stagehand::baseline::words;

TEST(BaselineFeatures, WordsAreLowercasedRunsOfWordCharactersOfTwoOrMore) {
  EXPECT_EQ(words("Hello, WORLD! a x_y 42 I'm", true),
            (std::vector<std::string>{"hello", "world", "x_y", "42"}));
  // Non-ASCII letters are word characters (kept as written); curly quotes, dashes and no-break spaces separate.
  EXPECT_EQ(words("Café \u201cquoted\u201d\u2014Été\u00a0ok", true),
            (std::vector<std::string>{"café", "quoted", "Été", "ok"}));
  EXPECT_EQ(words("ABC def", false), (std::vector<std::string>{"ABC", "def"}));
}

TEST(BaselineFeatures, TfidfAsScikitLearn) {
  // tests/data/baseline/make_tfidf.py: scikit-learn 1.2.1's TfidfVectorizer() on these documents.
  const std::vector<std::string> docs = {"The cat sat on the mat.", "The dog sat; the DOG ran!",
                                         "A cat and a dog: friends_42 ok"};
  const std::vector<std::vector<std::pair<int32_t, double>>> want = {
      {{1, 0.32516554853793517}, {4, 0.42755362018356385}, {6, 0.42755362018356385}, {8, 0.32516554853793517},
       {9, 0.6503310970758703}},
      {{2, 0.6105935546463103}, {7, 0.40142857372745955}, {8, 0.30529677732315513}, {9, 0.6105935546463103}},
      {{0, 0.49047908420610337}, {1, 0.3730219858594306}, {2, 0.3730219858594306}, {3, 0.49047908420610337},
       {5, 0.49047908420610337}}};
  Vectorizer v(stagehand::baseline::FeatureOptions{});
  v.fit(docs, {});
  EXPECT_EQ(v.terms(), (std::vector<std::string>{"and", "cat", "dog", "friends_42", "mat", "ok", "on", "ran", "sat",
                                                 "the"}));
  for (size_t d = 0; d < docs.size(); ++d) {
    const auto row = v.transform(docs[d]);
    ASSERT_EQ(row.size(), want[d].size()) << d;
    for (size_t k = 0; k < row.size(); ++k) {
      EXPECT_EQ(row[k].first, want[d][k].first) << d;
      EXPECT_NEAR(row[k].second, want[d][k].second, 1e-15) << d << " " << k;
    }
  }
  // min_df and max_features: "the" (4 in all), "sat", "cat", "dog" (2 documents each) are the frequent ones.
  stagehand::baseline::FeatureOptions o;
  o.min_df = 2;
  Vectorizer frequent(o);
  frequent.fit(docs, {});
  EXPECT_EQ(frequent.terms(), (std::vector<std::string>{"cat", "dog", "sat", "the"}));
  o.min_df = 1;
  o.max_features = 2;
  o.tfidf = false;
  o.l2_norm = false;
  Vectorizer two(o);
  two.fit(docs, {});
  EXPECT_EQ(two.terms(), (std::vector<std::string>{"dog", "the"}));  // the: 4, dog: 3, then cat/sat: 2
  EXPECT_EQ(two.transform(docs[1]), (stagehand::baseline::SparseRow{{0, 2.0}, {1, 2.0}}));
}

const fs::path kSpam = fs::path(STAGEHAND_SOURCE_DIR) / "data" / "spam";

std::string spam_data() {
  return fmt::format(
      "{{type: text_classification, train: {}, validation: {}, test: {}, max_length: 32,\n"
      "           tokenizer: {{type: wordpiece, vocab: {}}}}}",
      (kSpam / "train.jsonl").string(), (kSpam / "dev.jsonl").string(), (kSpam / "test.jsonl").string(),
      (fs::path(STAGEHAND_TEST_DATA) / "tokenizers" / "bert-base-uncased-vocab.txt").string());
}

std::string pipeline() {
  return fmt::format(R"(name: own
seed: 11
threads: {{intra_op: 1, blas: 1}}
stages:
  baseline:
    kind: baseline
    data: {data}
  finetune:
    kind: train
    data: {data}
    model:
      type: classifier
      encoder: {{type: transformer, vocab_size: 30522, hidden_size: 16, num_layers: 1, num_heads: 2,
                intermediate_size: 32, max_positions: 32}}
    loss: {{type: cross_entropy}}
    evaluators: [{{type: classification}}]
    batch_size: 16
    steps: 3
    eval_every: 3
  report:
    kind: report
    stages: [baseline, finetune]
    metrics: [test.macro_f1, test.accuracy]
  evaluate:
    kind: evaluate
    models: [finetune]
    data: {data}
)",
                     fmt::arg("data", spam_data()));
}

stagehand::ConfigNode stage_metrics(const fs::path& dir, const std::string& stage) {
  return stagehand::load_yaml_file(dir / "runs" / "own" / "latest" / "record.yaml").at("stages").at(stage).at("metrics");
}

// Examples per label of a JSON lines file, counted here, not by the data plugin.
std::map<std::string, int> label_counts(const fs::path& file) {
  std::map<std::string, int> out;
  for (const auto& line : read_lines(file))
    if (!line.empty()) ++out[nlohmann::json::parse(line).at("label").get<std::string>()];
  return out;
}

class BaselineRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempFolder;
    write_text(dir_->path() / "p.yaml", pipeline());
    result_ = new CommandResult(runner("p.yaml", dir_->path()));
  }
  static void TearDownTestSuite() {
    delete result_;
    delete dir_;
  }
  static TempFolder* dir_;
  static CommandResult* result_;
};
TempFolder* BaselineRun::dir_ = nullptr;
CommandResult* BaselineRun::result_ = nullptr;

TEST_F(BaselineRun, TheMajorityBaselineScoresTheTestFilesClassShares) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  const auto train = label_counts(kSpam / "train.jsonl"), test = label_counts(kSpam / "test.jsonl");
  std::string majority;
  for (const auto& [label, n] : train)
    if (majority.empty() || n > train.at(majority)) majority = label;
  int total = 0;
  for (const auto& [label, n] : test) total += n;
  const double share = static_cast<double>(test.at(majority)) / total;
  // Precision of the majority class = its share, recall 1; every other class's F1 is 0.
  const double macro_f1 = 2 * share / (share + 1) / static_cast<double>(train.size());
  const auto m = stage_metrics(dir_->path(), "baseline");
  EXPECT_NEAR(m.at("majority.test.accuracy").as_double(), share, 1e-12);
  EXPECT_NEAR(m.at("majority.test.macro_f1").as_double(), macro_f1, 1e-12);
  EXPECT_EQ(m.at("majority.test.confusion." + majority + "." + majority).as_double(), test.at(majority));
  EXPECT_EQ(m.at("train_examples").as_double(), static_cast<double>(read_lines(kSpam / "train.jsonl").size()));
}

TEST_F(BaselineRun, TfidfWithLiblinearBeatsTheMajorityOnTheShippedEmails) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  const auto m = stage_metrics(dir_->path(), "baseline");
  for (const std::string split : {"validation", "test"}) {
    EXPECT_GT(m.at(split + ".macro_f1").as_double(), m.at("majority." + split + ".macro_f1").as_double() + 0.3);
    EXPECT_GT(m.at(split + ".accuracy").as_double(), 0.9) << split;
  }
  EXPECT_GT(m.at("features").as_double(), 1000);
}

TEST_F(BaselineRun, ARunAgainRecordsTheSameMetrics) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  TempFolder again;
  write_text(again / "p.yaml", pipeline());
  CommandResult r = runner("p.yaml", again.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = stage_metrics(dir_->path(), "baseline"), b = stage_metrics(again.path(), "baseline");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a.entries()) EXPECT_EQ(v.as_double(), b.at(k).as_double()) << k;
}

TEST_F(BaselineRun, AReportSetsTheBaselineBesideTheTrainedModel) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  const std::string md = read_text(dir_->path() / "runs" / "own" / "latest" / "stages" / "report" / "results.md");
  EXPECT_NE(md.find("| metric (ratios in %, 0-100) | baseline | finetune |"), std::string::npos) << md;
  const auto base = stage_metrics(dir_->path(), "baseline"), fine = stage_metrics(dir_->path(), "finetune");
  EXPECT_NE(md.find(fmt::format("| test.macro_f1 | {:.2f} | {:.2f} |", 100 * base.at("test.macro_f1").as_double(),
                                100 * fine.at("test.macro_f1").as_double())),
            std::string::npos)
      << md;
  // The baseline's own table: both predictors, per-class F1, and confusion matrices of whole counts.
  const std::string own = read_text(dir_->path() / "runs" / "own" / "latest" / "stages" / "baseline" / "results.md");
  EXPECT_NE(own.find("| metric (ratios in %, 0-100) | majority | linear |"), std::string::npos) << own;
  EXPECT_NE(own.find("| f1.spam | 0.00 |"), std::string::npos) << own;
  EXPECT_NE(own.find("confusion matrix of linear on 'test'"), std::string::npos) << own;
}

TEST_F(BaselineRun, TheEvaluateTableHasPerClassF1AndAConfusionMatrixOfCounts) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  const std::string md = read_text(dir_->path() / "runs" / "own" / "latest" / "stages" / "evaluate" / "results.md");
  const auto m = stage_metrics(dir_->path(), "evaluate");
  EXPECT_NE(md.find("| metric (ratios in %, 0-100) | finetune |"), std::string::npos) << md;
  for (const std::string label : {"ham", "spam"})
    EXPECT_NE(md.find(fmt::format("| f1.{} | {:.2f} |", label, 100 * m.at("finetune.f1." + label).as_double())),
              std::string::npos)
        << md;
  EXPECT_NE(md.find("confusion matrix of finetune on 'test' (rows: true class, columns: predicted class; counts)"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| true \\ predicted | ham | spam |"), std::string::npos) << md;
  const auto count = [&](const char* t, const char* p) {
    return static_cast<int64_t>(m.at(fmt::format("finetune.confusion.{}.{}", t, p)).as_double());
  };
  EXPECT_NE(md.find(fmt::format("| ham | {} | {} |", count("ham", "ham"), count("ham", "spam"))), std::string::npos)
      << md;
  EXPECT_NE(md.find(fmt::format("| spam | {} | {} |", count("spam", "ham"), count("spam", "spam"))),
            std::string::npos)
      << md;
  EXPECT_EQ(count("ham", "ham") + count("ham", "spam") + count("spam", "ham") + count("spam", "spam"), 400);
}

TEST(Baseline, OptionsAndDataItCannotUseAreErrors) {
  TempFolder dir;
  write_text(dir / "p.yaml", fmt::format("name: bad\nstages:\n  baseline:\n    kind: baseline\n    solver: svm\n"
                                         "    data: {}\n",
                                         spam_data()));
  CommandResult r = runner("check p.yaml", dir.path());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("p.yaml:5:13"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("l2r_l2loss_svc_dual"), std::string::npos) << r.output;  // the choices are listed
  write_text(dir / "q.yaml", fmt::format("name: bad\nstages:\n  baseline:\n    kind: baseline\n    splits: [dev]\n"
                                         "    data: {}\n",
                                         spam_data()));
  r = runner("q.yaml", dir.path());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("q.yaml:5:13"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the data has no 'dev' split"), std::string::npos) << r.output;
}

}  // namespace
