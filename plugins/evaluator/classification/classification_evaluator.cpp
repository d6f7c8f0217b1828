// SPDX-License-Identifier: Apache-2.0
// Evaluator `classification`: accuracy, precision/recall/F1 (per class, macro, micro, weighted) and the
// confusion matrix, defined exactly as scikit-learn's precision_recall_fscore_support with zero_division=0.
// The class set is the dataset's labels when given (sklearn's `labels=`), else the classes seen in the labels
// or the predictions; a class with no predictions has precision 0, one with no examples recall 0.
#include <algorithm>
#include <set>

#include <stagehand/model.h>
#include <stagehand/plugin.h>

namespace stagehand {
namespace {

const std::string kOwner = "evaluator/classification";

double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

class ClassificationEvaluator : public Evaluator {
 public:
  explicit ClassificationEvaluator(const Options& o)
      : logits_(o.get<std::string>("logits")),
        labels_(o.get<std::string>("labels")),
        primary_(o.get<std::string>("primary")),
        ignore_index_(o.get<int64_t>("ignore_index")),
        confusion_max_classes_(o.get<int64_t>("confusion_max_classes")) {
    static const std::set<std::string> kGlobal = {
        "accuracy",        "macro_precision", "macro_recall", "macro_f1",           "micro_precision",
        "micro_recall",    "micro_f1",        "weighted_f1",  "weighted_precision", "weighted_recall"};
    bool per_class = primary_.rfind("f1.", 0) == 0 || primary_.rfind("precision.", 0) == 0 ||
                     primary_.rfind("recall.", 0) == 0;
    SH_CHECK(kGlobal.count(primary_) || per_class,
             "{}: option 'primary' is '{}'; expected one of accuracy, macro_f1, macro_precision, macro_recall, "
             "micro_f1, micro_precision, micro_recall, weighted_f1, weighted_precision, weighted_recall, or a "
             "per-class f1.<label> / precision.<label> / recall.<label>",
             kOwner, primary_);
  }

  void set_labels(const std::vector<std::string>& labels) override { names_ = labels; }
  void reset() override {
    y_true_.clear();
    y_pred_.clear();
  }

  void add(const Batch& outputs, const Batch& batch) override {
    SH_CHECK(outputs.has(logits_), "{}: the model outputs have no '{}'; expected (B, C) class logits (option "
                                   "'logits' names the output)", kOwner, logits_);
    SH_CHECK(batch.has(labels_), "{}: the batch has no '{}'; expected (B) class ids (option 'labels' names it)",
             kOwner, labels_);
    torch::NoGradGuard no_grad;
    torch::Tensor logits = outputs.at(logits_).detach().to(torch::kCPU);
    torch::Tensor labels = batch.at(labels_).detach().to(torch::kCPU).reshape({-1});
    SH_CHECK(!labels.is_floating_point(), "{}: labels '{}' are floating point; expected integer class ids", kOwner,
             labels_);
    torch::Tensor pred;
    if (logits.dim() == 1 || (logits.dim() >= 2 && logits.size(-1) == 1)) {
      // One logit per example is a binary classifier: class 1 when the log-odds are positive.
      pred = (logits.reshape({-1}) > 0).to(torch::kLong);
    } else {
      pred = logits.argmax(-1).reshape({-1});
    }
    SH_CHECK(pred.numel() == labels.numel(),
             "{}: {} predictions from '{}' but {} labels in '{}'; expected one prediction per label", kOwner,
             pred.numel(), logits_, labels.numel(), labels_);
    labels = labels.to(torch::kLong).contiguous();
    pred = pred.to(torch::kLong).contiguous();
    const int64_t* t = labels.data_ptr<int64_t>();
    const int64_t* p = pred.data_ptr<int64_t>();
    for (int64_t i = 0; i < labels.numel(); ++i) {
      if (t[i] == ignore_index_) continue;
      y_true_.push_back(t[i]);
      y_pred_.push_back(p[i]);
    }
  }

  std::map<std::string, double> compute() const override {
    std::map<std::string, double> m;
    const size_t n = y_true_.size();
    m["examples"] = static_cast<double>(n);
    std::vector<int64_t> classes;
    if (!names_.empty()) {
      for (int64_t c = 0; c < static_cast<int64_t>(names_.size()); ++c) classes.push_back(c);
    } else {
      std::set<int64_t> seen(y_true_.begin(), y_true_.end());
      seen.insert(y_pred_.begin(), y_pred_.end());
      classes.assign(seen.begin(), seen.end());
    }
    std::map<int64_t, size_t> index;
    for (size_t k = 0; k < classes.size(); ++k) index[classes[k]] = k;
    const size_t k_classes = classes.size();
    // confusion[true][pred] over the class set; pairs outside it only count towards accuracy (as in sklearn).
    std::vector<std::vector<int64_t>> confusion(k_classes, std::vector<int64_t>(k_classes, 0));
    std::vector<double> tp(k_classes, 0), pred_count(k_classes, 0), true_count(k_classes, 0);
    int64_t correct = 0;
    for (size_t i = 0; i < n; ++i) {
      correct += y_true_[i] == y_pred_[i];
      auto ti = index.find(y_true_[i]);
      auto pi = index.find(y_pred_[i]);
      if (ti != index.end()) true_count[ti->second] += 1;
      if (pi != index.end()) pred_count[pi->second] += 1;
      if (ti != index.end() && pi != index.end()) {
        confusion[ti->second][pi->second] += 1;
        if (ti->second == pi->second) tp[ti->second] += 1;
      }
    }
    m["accuracy"] = ratio(static_cast<double>(correct), static_cast<double>(n));

    double macro_p = 0, macro_r = 0, macro_f = 0, weighted_p = 0, weighted_r = 0, weighted_f = 0;
    double tp_sum = 0, pred_sum = 0, true_sum = 0;
    for (size_t k = 0; k < k_classes; ++k) {
      const std::string name = label_name(classes[k]);
      double precision = ratio(tp[k], pred_count[k]);
      double recall = ratio(tp[k], true_count[k]);
      // sklearn's F = 2PR / (P + R), 0 when both are 0.
      double f1 = ratio(2 * precision * recall, precision + recall);
      m["precision." + name] = precision;
      m["recall." + name] = recall;
      m["f1." + name] = f1;
      m["support." + name] = true_count[k];
      macro_p += precision;
      macro_r += recall;
      macro_f += f1;
      weighted_p += precision * true_count[k];
      weighted_r += recall * true_count[k];
      weighted_f += f1 * true_count[k];
      tp_sum += tp[k];
      pred_sum += pred_count[k];
      true_sum += true_count[k];
    }
    const double kc = static_cast<double>(k_classes);
    m["macro_precision"] = ratio(macro_p, kc);
    m["macro_recall"] = ratio(macro_r, kc);
    m["macro_f1"] = ratio(macro_f, kc);
    m["weighted_precision"] = ratio(weighted_p, true_sum);
    m["weighted_recall"] = ratio(weighted_r, true_sum);
    m["weighted_f1"] = ratio(weighted_f, true_sum);
    const double micro_p = ratio(tp_sum, pred_sum), micro_r = ratio(tp_sum, true_sum);
    m["micro_precision"] = micro_p;
    m["micro_recall"] = micro_r;
    m["micro_f1"] = ratio(2 * micro_p * micro_r, micro_p + micro_r);
    if (static_cast<int64_t>(k_classes) <= confusion_max_classes_) {
      for (size_t a = 0; a < k_classes; ++a)
        for (size_t b = 0; b < k_classes; ++b)
          m["confusion." + label_name(classes[a]) + "." + label_name(classes[b])] =
              static_cast<double>(confusion[a][b]);
    }
    return m;
  }

  std::string primary_metric() const override { return primary_; }

 private:
  std::string label_name(int64_t c) const {
    if (c >= 0 && c < static_cast<int64_t>(names_.size())) return names_[static_cast<size_t>(c)];
    return std::to_string(c);
  }

  std::string logits_, labels_, primary_;
  int64_t ignore_index_, confusion_max_classes_;
  std::vector<std::string> names_;
  std::vector<int64_t> y_true_, y_pred_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Evaluator>(
      "classification",
      "accuracy, precision/recall/F1 (per class, macro, micro, weighted) and confusion counts, as scikit-learn",
      stagehand::Schema()
          .opt("logits", std::string("logits"),
               "name of the (B, C) logits output (argmax), or (B, 1) binary log-odds (class 1 when > 0)")
          .opt("labels", std::string("labels"), "name of the (B) class-id tensor in the batch")
          .opt("primary", std::string("macro_f1"),
               "metric for model selection and early stopping (macro_f1, accuracy, micro_f1, weighted_f1, "
               "f1.<label>, ...)")
          .opt("ignore_index", int64_t{-100}, "examples with this label are not counted")
          .opt("confusion_max_classes", int64_t{50},
               "report confusion.<true>.<pred> for every pair when there are at most this many classes (0: never)")
          .min(0),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::ClassificationEvaluator>(o); });
}
