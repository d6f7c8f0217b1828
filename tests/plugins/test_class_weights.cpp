// SPDX-License-Identifier: Apache-2.0
// Class weights of a classification loss, for a task of one's own (issue 25, item 8):
//  - `class_weights: balanced` is scikit-learn's compute_class_weight("balanced"): the SDK's function against
//    numbers scikit-learn printed (tests/data/class_weights/make_balanced.py), and a train stage through the runner
//    that works them out from its training split;
//  - a list whose length is not the number of classes is a `runner check` error at the list's file:line:col when the
//    data's classes are known before it is built (text_classification: its `labels`, or its train file's labels),
//    and an error at the same place when the stage builds the data otherwise (token_classification);
//  - a train stage with select_best: false records no best_step.
#include <gtest/gtest.h>

#include <regex>

#include <fmt/format.h>

#include <stagehand/config.h>
#include <stagehand/error.h>
#include <stagehand/sdk/class_weights.h>

#include "support/test_support.h"

using namespace sh_test;

namespace {

// Printed by tests/data/class_weights/make_balanced.py (scikit-learn 1.2.1's compute_class_weight).
const std::vector<double> kSklearn4 = {0.625, 1.6666666666666667, 2.5, 0.7142857142857143};
const std::vector<double> kSklearn15 = {8.0, 4.0, 2.6666666666666665, 2.0, 1.6, 1.3333333333333333,
                                        1.1428571428571428, 1.0, 0.8888888888888888, 0.8, 0.7272727272727273,
                                        0.6666666666666666, 0.6153846153846154, 0.5714285714285714,
                                        0.5333333333333333};

std::vector<int64_t> counts_of(const std::vector<int64_t>& y, size_t k) {
  std::vector<int64_t> c(k, 0);
  for (int64_t v : y) ++c[static_cast<size_t>(v)];
  return c;
}

TEST(ClassWeights, BalancedAsScikitLearn) {
  const std::vector<int64_t> y4 = {0, 0, 0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 2, 0, 1, 0, 0};
  const auto w4 = stagehand::sdk::balanced_class_weights(counts_of(y4, 4));
  ASSERT_EQ(w4.size(), kSklearn4.size());
  for (size_t c = 0; c < w4.size(); ++c) EXPECT_NEAR(w4[c], kSklearn4[c], 1e-15) << c;
  std::vector<int64_t> y15;
  for (int64_t c = 0; c < 15; ++c)
    for (int64_t k = 0; k <= c; ++k) y15.push_back(c);
  const auto w15 = stagehand::sdk::balanced_class_weights(counts_of(y15, 15));
  ASSERT_EQ(w15.size(), kSklearn15.size());
  for (size_t c = 0; c < w15.size(); ++c) EXPECT_NEAR(w15[c], kSklearn15[c], 1e-15) << c;
  // A class without examples has no balanced weight (scikit-learn refuses too).
  const std::string e =
      error_of([] { stagehand::sdk::balanced_class_weights({3, 0, 2}, {"a", "b", "c"}, "the 'train' split"); });
  EXPECT_NE(e.find("class 'b' has no example in the 'train' split"), std::string::npos) << e;
}

TEST(ClassWeights, BalancedIsReplacedInNestedSpecsKeepingItsLocation) {
  const auto spec = stagehand::parse_yaml("{type: x, inner: {type: cross_entropy, class_weights: balanced}}", "p.yaml");
  EXPECT_TRUE(stagehand::sdk::wants_balanced_class_weights(spec));
  const auto out = stagehand::sdk::with_class_weights(spec, {0.5, 2.0});
  const auto& w = out.at("inner").at("class_weights");
  ASSERT_TRUE(w.is_sequence());
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w.items()[1].as_double(), 2.0);
  EXPECT_EQ(w.location().str(), spec.at("inner").at("class_weights").location().str());
  EXPECT_FALSE(stagehand::sdk::wants_balanced_class_weights(out));
}

// 15 genres; genre c has c + 1 training examples (as in make_balanced.py's 15-class case).
void write_genres(const fs::path& dir) {
  std::string train, dev;
  for (int c = 0; c < 15; ++c) {
    for (int k = 0; k <= c; ++k)
      train += fmt::format("{{\"text\": \"story {} of genre{} words\", \"label\": \"g{:02d}\"}}\n", k, c, c);
    dev += fmt::format("{{\"text\": \"another genre{} story\", \"label\": \"g{:02d}\"}}\n", c, c);
  }
  write_text(dir / "train.jsonl", train);
  write_text(dir / "dev.jsonl", dev);
}

std::string genre_pipeline(const std::string& data_extra, const std::string& class_weights) {
  const std::string vocab = (fs::path(STAGEHAND_TEST_DATA) / "tokenizers" / "bert-base-uncased-vocab.txt").string();
  return fmt::format(R"(name: genres
seed: 5
threads: {{intra_op: 1, blas: 1}}
stages:
  train:
    kind: train
    data:
      type: text_classification
      train: train.jsonl
      validation: dev.jsonl
      tokenizer: {{type: wordpiece, vocab: {}}}
      max_length: 16{}
    model:
      type: classifier
      encoder: {{type: transformer, vocab_size: 30522, hidden_size: 16, num_layers: 1, num_heads: 2,
                intermediate_size: 32, max_positions: 16}}
    loss: {{type: cross_entropy, class_weights: {}}}
    evaluators: [{{type: classification}}]
    batch_size: 8
    steps: 2
    eval_every: 1
    select_best: false
)",
                     vocab, data_extra, class_weights);
}

const std::string kFourteen = "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]";

TEST(ClassWeights, AListOfTheWrongLengthIsARunnerCheckErrorAtTheList) {
  TempFolder dir;
  write_genres(dir.path());
  // The classes come from the train file's labels: read at check time, nothing is built or tokenized.
  write_text(dir / "p.yaml", genre_pipeline("", kFourteen));
  CommandResult r = runner("check p.yaml", dir.path());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("p.yaml:17:48: stage 'train': loss/cross_entropy: class_weights has 14 weight(s) but "
                          "there are 15 classes (num_labels from the dataset 'text_classification')"),
            std::string::npos)
      << r.output;
  // From the `labels` option (here in the data's order, 15 of them), without reading the file.
  std::string labels;
  for (int c = 0; c < 15; ++c) labels += fmt::format("{}g{:02d}", c ? ", " : "", c);
  write_text(dir / "q.yaml", genre_pipeline(fmt::format("\n      labels: [{}]", labels), kFourteen));
  r = runner("check q.yaml", dir.path());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("q.yaml:18:48:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("has 14 weight(s) but there are 15 classes"), std::string::npos) << r.output;
  // Fifteen weights pass, and so does `balanced`; something else is an error at the option.
  write_text(dir / "ok.yaml", genre_pipeline("", "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2.5]"));
  r = runner("check ok.yaml", dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  write_text(dir / "b.yaml", genre_pipeline("", "balanced"));
  r = runner("check b.yaml", dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  write_text(dir / "x.yaml", genre_pipeline("", "balance"));
  r = runner("check x.yaml", dir.path());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("x.yaml:17:48:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("class_weights is 'balance'; expected a list of numbers"), std::string::npos) << r.output;
}

TEST(ClassWeights, DataWhoseClassesCheckCannotKnowFailsWhenBuiltAtTheList) {
  TempFolder dir;
  // Token classification reports its tag set only once built: check passes, the stage stops at the option.
  write_text(dir / "train.tsv", "The\tDET\ncat\tNOUN\nsat\tVERB\n\nA\tDET\ndog\tNOUN\nran\tVERB\n.\tPUNCT\n");
  const std::string model = (fs::path(STAGEHAND_TEST_DATA) / "tokenizers" / "albert-30k-clean.model").string();
  write_text(dir / "p.yaml", fmt::format(R"(name: tags
stages:
  train:
    kind: train
    data: {{type: token_classification, train: train.tsv, scheme: none, max_length: 16,
           tokenizer: {{type: sentencepiece, model: {}}}}}
    model:
      type: tagger
      encoder: {{type: transformer, hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32,
                max_positions: 16}}
    loss: {{type: cross_entropy, class_weights: [1.0, 2.0]}}
    steps: 1
    batch_size: 2
)",
                                         model));
  CommandResult r = runner("check p.yaml", dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = runner("p.yaml", dir.path());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("p.yaml:11:48: stage 'train': loss 'cross_entropy': loss/cross_entropy: class_weights has "
                          "2 weight(s) but there are 4 classes (num_labels from the data)"),
            std::string::npos)
      << r.output;
}

TEST(ClassWeights, BalancedTrainingWorksThemOutFromTheTrainingSplit) {
  TempFolder dir;
  write_genres(dir.path());
  write_text(dir / "p.yaml", genre_pipeline("", "balanced"));
  CommandResult r = runner("p.yaml", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("class_weights: balanced over the 'train' split: ([^\\n]*)")))
      << r.output;
  const std::string line = m[1];
  for (int c = 0; c < 15; ++c) {
    std::smatch w;
    ASSERT_TRUE(std::regex_search(line, w, std::regex(fmt::format("g{:02d} ([0-9.e+-]+) \\((\\d+)\\)", c)))) << line;
    EXPECT_NEAR(std::stod(w[1]), kSklearn15[static_cast<size_t>(c)], 1e-5) << line;  // printed with 6 digits
    EXPECT_EQ(std::stoi(w[2]), c + 1) << line;
  }
  // select_best: false keeps the last step's weights: no best_step is recorded.
  const auto metrics =
      stagehand::load_yaml_file(dir / "runs" / "genres" / "latest" / "record.yaml").at("stages").at("train").at("metrics");
  EXPECT_EQ(metrics.find("best_step"), nullptr);
  EXPECT_NE(metrics.find("steps"), nullptr);
  EXPECT_NE(metrics.find("validation.macro_f1"), nullptr);
}

}  // namespace
