// SPDX-License-Identifier: Apache-2.0
// The classification evaluator against scikit-learn: tests/data/metrics/classification_expected.json holds
// sklearn's precision_recall_fscore_support (zero_division=0), accuracy and confusion matrix for fixed vectors
// (make_classification_expected.py writes it), including a class never predicted and one never present.
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "stagehand/loader.h"
#include "stagehand/model.h"
#include "stagehand/util.h"

using namespace stagehand;

namespace {

class ClassificationEvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loader_.load(std::string(STAGEHAND_PLUGIN_DIR) + "/evaluator_classification.so");
    ASSERT_TRUE(registry_.find("evaluator", "classification")) << "evaluator_classification.so not loaded";
  }
  std::shared_ptr<Evaluator> make(const std::string& yaml = "{type: classification}") {
    BuildContext ctx;
    ctx.registry = &registry_;
    ctx.seed = 1;
    return registry_.create<Evaluator>(parse_yaml(yaml, "test"), ctx);
  }
  Registry registry_;
  PluginLoader loader_{registry_};
};

/// Logits whose argmax is `pred` (one row per example, `classes` columns), and the labels, as two batches.
void add_as_logits(Evaluator& ev, const std::vector<int64_t>& truth, const std::vector<int64_t>& pred,
                   int64_t classes, size_t split) {
  for (auto [begin, end] : {std::pair<size_t, size_t>{0, split}, std::pair<size_t, size_t>{split, truth.size()}}) {
    const int64_t n = static_cast<int64_t>(end - begin);
    auto logits = torch::zeros({n, classes});
    for (int64_t i = 0; i < n; ++i) logits[i][pred[begin + i]] = 5.0;
    Batch out, batch;
    out.set("logits", logits);
    batch.set("labels", torch::tensor(std::vector<int64_t>(truth.begin() + begin, truth.begin() + end)));
    ev.add(out, batch);
  }
}

nlohmann::json fixture() {
  return nlohmann::json::parse(read_file(std::string(STAGEHAND_TEST_DATA) + "/metrics/classification_expected.json"));
}

}  // namespace

TEST_F(ClassificationEvaluatorTest, MatchesScikitLearn) {
  nlohmann::json doc = fixture();
  ASSERT_GE(doc["cases"].size(), 4u);
  for (const auto& c : doc["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    auto truth = c["y_true"].get<std::vector<int64_t>>();
    auto pred = c["y_pred"].get<std::vector<int64_t>>();
    auto ev = make();
    int64_t classes = 0;
    for (int64_t v : truth) classes = std::max(classes, v + 1);
    for (int64_t v : pred) classes = std::max(classes, v + 1);
    if (c.contains("names")) {
      auto names = c["names"].get<std::vector<std::string>>();
      ev->set_labels(names);
      classes = static_cast<int64_t>(names.size());
    }
    ev->reset();
    add_as_logits(*ev, truth, pred, classes, truth.size() / 3);
    auto got = ev->compute();
    std::set<std::string> expected_keys;
    for (const auto& [key, value] : c["expected"].items()) {
      expected_keys.insert(key);
      ASSERT_TRUE(got.count(key)) << "missing metric " << key;
      EXPECT_NEAR(got.at(key), value.get<double>(), 1e-12) << key;
    }
    // Nothing beyond sklearn's set: a stray class would show up as an extra per-class or confusion entry.
    for (const auto& [key, value] : got) EXPECT_TRUE(expected_keys.count(key)) << "unexpected metric " << key;
  }
}

TEST_F(ClassificationEvaluatorTest, UnpredictedAndAbsentClassesByHand) {
  // y_true has class 3 that is never predicted; y_pred has class 2 that never occurs.
  auto ev = make();
  add_as_logits(*ev, {0, 0, 1, 1, 1, 3, 3, 0, 1, 3, 0, 1}, {0, 1, 1, 1, 2, 0, 1, 0, 2, 0, 0, 1}, 4, 5);
  auto m = ev->compute();
  EXPECT_EQ(m.at("precision.3"), 0.0);  // no predictions: precision 0 (zero_division=0)
  EXPECT_EQ(m.at("recall.2"), 0.0);     // no examples: recall 0
  EXPECT_EQ(m.at("support.2"), 0.0);
  EXPECT_EQ(m.at("support.3"), 3.0);
  EXPECT_DOUBLE_EQ(m.at("precision.0"), 3.0 / 5.0);  // predicted 0 five times, three right
  EXPECT_DOUBLE_EQ(m.at("recall.0"), 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(m.at("accuracy"), 6.0 / 12.0);
  // Macro F1 averages all four classes, the two zeros included: (2/3 + 3/5 + 0 + 0) / 4.
  EXPECT_NEAR(m.at("macro_f1"), (2.0 / 3.0 + 0.6) / 4.0, 1e-12);
  EXPECT_EQ(m.at("confusion.3.0"), 2.0);
  EXPECT_EQ(m.at("confusion.1.2"), 2.0);
  EXPECT_EQ(m.at("examples"), 12.0);
}

TEST_F(ClassificationEvaluatorTest, ResetIgnoreIndexBinaryLogitAndOptions) {
  auto ev = make("{type: classification, primary: accuracy, confusion_max_classes: 0}");
  EXPECT_EQ(ev->primary_metric(), "accuracy");
  EXPECT_TRUE(ev->higher_is_better());
  // One log-odds column: class 1 when positive. The -100 label is skipped.
  Batch out, batch;
  out.set("logits", torch::tensor({2.0, -1.0, 0.5, -3.0}).reshape({4, 1}));
  batch.set("labels", torch::tensor(std::vector<int64_t>{1, 1, -100, 0}));
  ev->add(out, batch);
  auto m = ev->compute();
  EXPECT_EQ(m.at("examples"), 3.0);
  EXPECT_DOUBLE_EQ(m.at("accuracy"), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.at("recall.1"), 0.5);
  EXPECT_DOUBLE_EQ(m.at("precision.1"), 1.0);
  for (const auto& [k, v] : m) EXPECT_NE(k.rfind("confusion.", 0), 0u) << k;

  ev->reset();
  ev->add(out, batch);
  EXPECT_EQ(ev->compute().at("examples"), 3.0) << "reset must drop the earlier batches";

  EXPECT_EQ(make()->primary_metric(), "macro_f1");
  EXPECT_THROW(make("{type: classification, primary: f_1}"), Error);
  // No examples at all: zeros, not NaN, so that an empty split cannot poison model selection.
  auto empty = make()->compute();
  EXPECT_EQ(empty.at("macro_f1"), 0.0);
  EXPECT_EQ(empty.at("accuracy"), 0.0);
}

TEST_F(ClassificationEvaluatorTest, NamedLabelsKeepUnseenClasses) {
  auto ev = make();
  ev->set_labels({"neg", "pos", "neutral"});
  add_as_logits(*ev, {0, 1, 1}, {0, 1, 0}, 3, 1);
  auto m = ev->compute();
  // "neutral" never occurs nor is predicted; with the dataset's label set it still counts in the macro average.
  EXPECT_EQ(m.at("f1.neutral"), 0.0);
  EXPECT_EQ(m.at("support.neutral"), 0.0);
  EXPECT_NEAR(m.at("macro_f1"), (2.0 / 3.0 + 2.0 / 3.0 + 0.0) / 3.0, 1e-12);
  EXPECT_EQ(m.at("confusion.pos.neg"), 1.0);
  EXPECT_EQ(m.at("confusion.neutral.neutral"), 0.0);
}
