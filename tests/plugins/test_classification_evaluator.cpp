// SPDX-License-Identifier: Apache-2.0
// The classification evaluator against scikit-learn: tests/data/metrics/classification_expected.json holds
// sklearn's precision_recall_fscore_support (zero_division=0), accuracy and confusion matrix for fixed vectors
// (make_classification_expected.py writes it), including a class never predicted and one never present.
// The relation-extraction metrics are checked against both Bio-ELECTRA scorings, computed in the fixture with
// their own sklearn calls (etetteh's remetrics.py: binary_* for GAD, micro_* over all classes for ChemProt/DDI;
// Ozyurt's show_re_performance.py: binary_* for GAD, positive_micro_* for ChemProt), and against counts worked
// out by hand in the comments.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "stagehand/files.h"
#include "plugin/loader.h"
#include "stagehand/model.h"

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

/// The evaluator spec of a fixture case: its positive_label / negative_labels options, quoted as YAML strings.
std::string spec_of(const nlohmann::json& c) {
  std::string spec = "{type: classification";
  if (c.contains("options")) {
    const auto& o = c["options"];
    if (o.contains("positive_label")) spec += ", positive_label: '" + o["positive_label"].get<std::string>() + "'";
    if (o.contains("negative_labels")) {
      std::string list;
      for (const auto& n : o["negative_labels"]) list += (list.empty() ? "'" : ", '") + n.get<std::string>() + "'";
      spec += ", negative_labels: [" + list + "]";
    }
  }
  return spec + "}";
}

/// The evaluator's metrics for a fixture case (labels named when the case names them).
std::map<std::string, double> evaluate_case(const std::function<std::shared_ptr<Evaluator>(const std::string&)>& make,
                                            const nlohmann::json& c) {
  auto truth = c["y_true"].get<std::vector<int64_t>>();
  auto pred = c["y_pred"].get<std::vector<int64_t>>();
  auto ev = make(spec_of(c));
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
  return ev->compute();
}

}  // namespace

TEST_F(ClassificationEvaluatorTest, MatchesScikitLearn) {
  nlohmann::json doc = fixture();
  ASSERT_GE(doc["cases"].size(), 8u);
  for (const auto& c : doc["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    auto got = evaluate_case([&](const std::string& spec) { return make(spec); }, c);
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

TEST_F(ClassificationEvaluatorTest, BioElectraRelationScoresAreTheReferencesOwnSklearnCalls) {
  // etetteh/bio-electra (downstream/remetrics.py): GAD with average 'binary' is binary_* (positive_label '1');
  // ChemProt and DDI with average 'micro' over every class, the negative one included, are micro_* (which equal
  // the accuracy). SciCrunch/bio_electra (show_re_performance.py): GAD's class-1 scores are binary_* too;
  // ChemProt's micro average over the CPR classes only is positive_micro_* (negative_labels [false]).
  nlohmann::json doc = fixture();
  int tasks = 0;
  for (const auto& c : doc["cases"]) {
    if (!c.contains("remetrics")) continue;
    ++tasks;
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    auto got = evaluate_case([&](const std::string& spec) { return make(spec); }, c);
    const auto& re = c["remetrics"];
    const std::string etetteh = re["average"] == "binary" ? "binary_" : "micro_";
    EXPECT_EQ(etetteh == "binary_", c["task"] == "gad");
    for (const char* m : {"precision", "recall", "f1"})
      EXPECT_NEAR(got.at(etetteh + m), re[m].get<double>(), 1e-12) << etetteh << m;
    EXPECT_NEAR(got.at("accuracy"), re["accuracy"].get<double>(), 1e-12);
    const auto& ozyurt = c["show_re_performance"];
    const std::string scicrunch = c["task"] == "gad" ? "binary_" : "positive_micro_";
    for (const char* m : {"precision", "recall", "f1"})
      EXPECT_NEAR(got.at(scicrunch + m), ozyurt[m].get<double>(), 1e-12) << scicrunch << m;
  }
  EXPECT_EQ(tasks, 4);
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

TEST_F(ClassificationEvaluatorTest, ChemProtLikePositiveMicroByHand) {
  // Classes CPR:3, CPR:4 and the negative 'false'.
  auto ev = make("{type: classification, negative_labels: [false], primary: positive_micro_f1}");
  EXPECT_EQ(ev->primary_metric(), "positive_micro_f1");
  ev->set_labels({"CPR:3", "CPR:4", "false"});
  //            0  1  2  3  4  5  6  7  8  9
  // truth:     3  3  3  4  4  f  f  f  f  4
  // predicted: 3  4  f  4  4  3  f  3  4  f
  add_as_logits(*ev, {0, 0, 0, 1, 1, 2, 2, 2, 2, 1}, {0, 1, 2, 1, 1, 0, 2, 0, 1, 2}, 3, 4);
  auto m = ev->compute();
  // Gold positive: 0,1,2,3,4,9 (6). Predicted positive: 0,1,3,4,5,7,8 (7). Correct with positive gold: 0,3,4 (3).
  // Example 1 (CPR:3 predicted CPR:4) counts against both precision and recall.
  EXPECT_DOUBLE_EQ(m.at("positive_micro_precision"), 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(m.at("positive_micro_recall"), 3.0 / 6.0);
  EXPECT_NEAR(m.at("positive_micro_f1"), 6.0 / 13.0, 1e-12);  // 2 tp / (predicted + gold) = 6 / 13
  // Not the all-class micro F1 (= accuracy: examples 0, 3, 4, 6 right) that etetteh/bio-electra reports.
  EXPECT_DOUBLE_EQ(m.at("micro_f1"), 4.0 / 10.0);
  EXPECT_EQ(m.count("binary_f1"), 0u);  // only with positive_label
}

TEST_F(ClassificationEvaluatorTest, GadLikeBinaryByHand) {
  auto ev = make("{type: classification, positive_label: '1', primary: binary_f1}");
  EXPECT_EQ(ev->primary_metric(), "binary_f1");
  ev->set_labels({"0", "1"});
  // truth:     1 1 1 0 0 0 1 0
  // predicted: 1 0 1 1 0 0 1 1   -> tp 3 (0, 2, 6), predicted 1: 5, gold 1: 4
  add_as_logits(*ev, {1, 1, 1, 0, 0, 0, 1, 0}, {1, 0, 1, 1, 0, 0, 1, 1}, 2, 3);
  auto m = ev->compute();
  EXPECT_DOUBLE_EQ(m.at("binary_precision"), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(m.at("binary_recall"), 3.0 / 4.0);
  EXPECT_NEAR(m.at("binary_f1"), 2.0 / 3.0, 1e-12);  // 2*3 / (5 + 4)
  EXPECT_DOUBLE_EQ(m.at("binary_f1"), m.at("f1.1"));
  EXPECT_DOUBLE_EQ(m.at("accuracy"), 5.0 / 8.0);
  EXPECT_EQ(m.count("positive_micro_f1"), 0u);  // only with negative_labels

  // Without label names the option is a class id, and a single log-odds column works too.
  auto ids = make("{type: classification, positive_label: 1}");
  Batch out, batch;
  out.set("logits", torch::tensor({2.0, -1.0, 0.5, -3.0}).reshape({4, 1}));  // predicts 1, 0, 1, 0
  batch.set("labels", torch::tensor(std::vector<int64_t>{1, 1, 0, 0}));
  ids->add(out, batch);
  auto mi = ids->compute();
  EXPECT_DOUBLE_EQ(mi.at("binary_precision"), 0.5);
  EXPECT_DOUBLE_EQ(mi.at("binary_recall"), 0.5);
  EXPECT_DOUBLE_EQ(mi.at("binary_f1"), 0.5);
}

TEST_F(ClassificationEvaluatorTest, NoPositivePredictionsGiveZerosNotNaN) {
  auto ev = make("{type: classification, positive_label: '1', negative_labels: ['0']}");
  ev->set_labels({"0", "1"});
  add_as_logits(*ev, {1, 0, 1, 0}, {0, 0, 0, 0}, 2, 2);
  auto m = ev->compute();
  for (const char* k : {"binary_precision", "binary_recall", "binary_f1", "positive_micro_precision",
                        "positive_micro_recall", "positive_micro_f1"})
    EXPECT_EQ(m.at(k), 0.0) << k;  // precision 0 by convention: nothing predicted positive
  // No gold positives but positive predictions: recall 0, precision 0 (all wrong).
  auto none = make("{type: classification, negative_labels: [DDI-false]}");
  none->set_labels({"DDI-advise", "DDI-false"});
  add_as_logits(*none, {1, 1, 1}, {0, 1, 0}, 2, 1);
  auto n = none->compute();
  EXPECT_EQ(n.at("positive_micro_precision"), 0.0);
  EXPECT_EQ(n.at("positive_micro_recall"), 0.0);
  EXPECT_EQ(n.at("positive_micro_f1"), 0.0);
  // And with no examples at all.
  auto empty = make("{type: classification, positive_label: '1', negative_labels: ['0']}");
  empty->set_labels({"0", "1"});
  auto e = empty->compute();
  EXPECT_EQ(e.at("binary_f1"), 0.0);
  EXPECT_EQ(e.at("positive_micro_f1"), 0.0);
}

TEST_F(ClassificationEvaluatorTest, RelationOptionsAreCheckedAgainstTheLabels) {
  auto message = [&](const std::string& yaml, const std::vector<std::string>& labels) -> std::string {
    try {
      auto ev = make(yaml);
      if (!labels.empty()) ev->set_labels(labels);
      ev->compute();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  std::string err = message("{type: classification, positive_label: yes_rel}", {"0", "1"});
  EXPECT_NE(err.find("positive_label 'yes_rel' is not one of the dataset's 2 labels ('0', '1'); set it to one of "
                     "them"),
            std::string::npos)
      << err;
  err = message("{type: classification, negative_labels: [DDI-false, other]}",
                {"DDI-advise", "DDI-effect", "DDI-false", "DDI-int", "DDI-mechanism"});
  EXPECT_NE(err.find("negative_labels lists 'other', which is not one of the dataset's 5 labels ('DDI-advise', "
                     "'DDI-effect', 'DDI-false', 'DDI-int', 'DDI-mechanism')"),
            std::string::npos)
      << err;
  err = message("{type: classification, negative_labels: ['0', '1']}", {"0", "1"});
  EXPECT_NE(err.find("leaves no positive class"), std::string::npos) << err;
  err = message("{type: classification, primary: binary_f1}", {});
  EXPECT_NE(err.find("option 'primary' is 'binary_f1', which needs 'positive_label'"), std::string::npos) << err;
  err = message("{type: classification, primary: positive_micro_f1}", {});
  EXPECT_NE(err.find("option 'primary' is 'positive_micro_f1', which needs 'negative_labels'"), std::string::npos)
      << err;
  err = message("{type: classification, positive_label: '1', negative_labels: ['1']}", {});
  EXPECT_NE(err.find("'1' is both 'positive_label' and one of 'negative_labels'"), std::string::npos) << err;
  err = message("{type: classification, negative_labels: [false, false]}", {});
  EXPECT_NE(err.find("option 'negative_labels' lists 'false' twice"), std::string::npos) << err;
  // Without label names, a name that is not a class id cannot be resolved.
  err = message("{type: classification, positive_label: pos}", {});
  EXPECT_NE(err.find("positive_label names 'pos', but the dataset gave no label names, so labels are class ids"),
            std::string::npos)
      << err;
  EXPECT_EQ(message("{type: classification, positive_label: '1', negative_labels: ['0']}", {"0", "1"}), "");
}
