// SPDX-License-Identifier: Apache-2.0
// Evaluator `classification`: accuracy, precision/recall/F1 (per class, macro, micro, weighted) and the
// confusion matrix, defined exactly as scikit-learn's precision_recall_fscore_support with zero_division=0.
// The class set is the dataset's labels when given (sklearn's `labels=`), else the classes seen in the labels
// or the predictions; a class with no predictions has precision 0, one with no examples recall 0.
//
// Relation extraction as the two Bio-ELECTRA codes score it (tests/data/metrics holds both, made with their own
// sklearn calls):
//  - etetteh/bio-electra (downstream/remetrics.py, called by finetune.py): GAD f1_score(average='binary',
//    pos_label=1) = binary_f1 with `positive_label: '1'`; ChemProt and DDI f1_score(average='micro') over ALL
//    classes, the negative one included = micro_f1 (which always equals the accuracy);
//  - SciCrunch/bio_electra (show_re_performance.py): GAD the class-1 scores = binary_*; ChemProt micro-averaged over
//    the five CPR classes only = positive_micro_* with `negative_labels: [false]` (DDI: [DDI-false]).
// `positive_label`: binary_precision/recall/f1 = the precision/recall/F1 of that one class.
// `negative_labels`: positive_micro_precision/recall/f1, micro-averaged over every class that is not negative (as
//    sklearn's labels=<the others>, average='micro'): tp = examples predicted correctly whose gold class is
//    positive, predicted positives = examples predicted as a positive class, gold positives = examples whose gold
//    class is positive. A wrong positive class counts against both precision and recall; the negative class only
//    through them. (The ELECTRA TF scorer this descends from increments its gold count when the prediction is
//    positive, so its recall always equals its precision; these are the definitions it intended.)
// Every ratio with a zero denominator is 0, never NaN.
#include <algorithm>
#include <optional>
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
    if (o.has("positive_label")) positive_ = o.get<std::string>("positive_label");
    if (o.has("negative_labels")) negatives_ = o.get<std::vector<std::string>>("negative_labels");
    std::set<std::string> seen;
    for (const auto& n : negatives_) {
      SH_CHECK(seen.insert(n).second, "{}: option 'negative_labels' lists '{}' twice; list each label once", kOwner,
               n);
      SH_CHECK(!positive_ || n != *positive_,
               "{}: '{}' is both 'positive_label' and one of 'negative_labels'; it can only be one of them", kOwner, n);
    }
    static const std::set<std::string> kGlobal = {
        "accuracy",        "macro_precision", "macro_recall", "macro_f1",           "micro_precision",
        "micro_recall",    "micro_f1",        "weighted_f1",  "weighted_precision", "weighted_recall"};
    static const std::set<std::string> kBinary = {"binary_precision", "binary_recall", "binary_f1"};
    static const std::set<std::string> kPositiveMicro = {"positive_micro_precision", "positive_micro_recall",
                                                         "positive_micro_f1"};
    bool per_class = primary_.rfind("f1.", 0) == 0 || primary_.rfind("precision.", 0) == 0 ||
                     primary_.rfind("recall.", 0) == 0;
    SH_CHECK(kGlobal.count(primary_) || per_class || kBinary.count(primary_) || kPositiveMicro.count(primary_),
             "{}: option 'primary' is '{}'; expected one of accuracy, macro_f1, macro_precision, macro_recall, "
             "micro_f1, micro_precision, micro_recall, weighted_f1, weighted_precision, weighted_recall, "
             "binary_f1, binary_precision, binary_recall (with positive_label), positive_micro_f1, "
             "positive_micro_precision, positive_micro_recall (with negative_labels), or a per-class f1.<label> / "
             "precision.<label> / recall.<label>",
             kOwner, primary_);
    SH_CHECK(!kBinary.count(primary_) || positive_,
             "{}: option 'primary' is '{}', which needs 'positive_label' (the class whose precision/recall/F1 it is); "
             "set positive_label, e.g. positive_label: '1'",
             kOwner, primary_);
    SH_CHECK(!kPositiveMicro.count(primary_) || !negatives_.empty(),
             "{}: option 'primary' is '{}', which needs 'negative_labels' (the classes left out of the micro "
             "average); set negative_labels, e.g. negative_labels: [false]",
             kOwner, primary_);
  }

  // The option values are label names, so they are checked against the dataset's labels as soon as those arrive.
  void set_labels(const std::vector<std::string>& labels) override {
    names_ = labels;
    if (names_.empty()) return;
    auto known = [&](const std::string& l) { return std::find(names_.begin(), names_.end(), l) != names_.end(); };
    std::string list;
    for (const auto& l : names_) list += (list.empty() ? "'" : ", '") + l + "'";
    if (positive_)
      SH_CHECK(known(*positive_), "{}: positive_label '{}' is not one of the dataset's {} labels ({}); set it to one "
               "of them", kOwner, *positive_, names_.size(), list);
    for (const auto& n : negatives_)
      SH_CHECK(known(n), "{}: negative_labels lists '{}', which is not one of the dataset's {} labels ({}); list "
               "only those", kOwner, n, names_.size(), list);
    SH_CHECK(negatives_.size() < names_.size() || negatives_.empty(),
             "{}: negative_labels lists every one of the dataset's labels ({}), which leaves no positive class; "
             "list only the negative ones", kOwner, list);
  }
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
    if (positive_) {
      const int64_t c = class_of(*positive_, "positive_label");
      double tp_c = 0, pred_c = 0, true_c = 0;
      for (size_t i = 0; i < n; ++i) {
        pred_c += y_pred_[i] == c;
        true_c += y_true_[i] == c;
        tp_c += y_pred_[i] == c && y_true_[i] == c;
      }
      const double p = ratio(tp_c, pred_c), r = ratio(tp_c, true_c);
      m["binary_precision"] = p;
      m["binary_recall"] = r;
      m["binary_f1"] = ratio(2 * p * r, p + r);
    }
    if (!negatives_.empty()) {
      std::set<int64_t> negative;
      for (const auto& l : negatives_) negative.insert(class_of(l, "negative_labels"));
      double tp_pos = 0, pred_pos = 0, true_pos = 0;
      for (size_t i = 0; i < n; ++i) {
        const bool gold_positive = !negative.count(y_true_[i]), pred_positive = !negative.count(y_pred_[i]);
        true_pos += gold_positive;
        pred_pos += pred_positive;
        tp_pos += gold_positive && y_pred_[i] == y_true_[i];
      }
      const double p = ratio(tp_pos, pred_pos), r = ratio(tp_pos, true_pos);
      m["positive_micro_precision"] = p;
      m["positive_micro_recall"] = r;
      m["positive_micro_f1"] = ratio(2 * p * r, p + r);
    }
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
  // The class id a label option names: its index among the dataset's labels, or, when the dataset gave none,
  // the label read as a class id.
  int64_t class_of(const std::string& label, const char* option) const {
    if (!names_.empty()) {
      auto it = std::find(names_.begin(), names_.end(), label);
      SH_CHECK(it != names_.end(), "{}: {} names '{}', which is not one of the dataset's labels", kOwner, option,
               label);
      return static_cast<int64_t>(it - names_.begin());
    }
    size_t end = 0;
    int64_t c = -1;
    try {
      c = std::stoll(label, &end);
    } catch (const std::exception&) {
      end = 0;
    }
    SH_CHECK(end == label.size() && end > 0 && c >= 0,
             "{}: {} names '{}', but the dataset gave no label names, so labels are class ids; use the class id "
             "(e.g. '1') or a dataset with named labels", kOwner, option, label);
    return c;
  }

  std::string label_name(int64_t c) const {
    if (c >= 0 && c < static_cast<int64_t>(names_.size())) return names_[static_cast<size_t>(c)];
    return std::to_string(c);
  }

  std::string logits_, labels_, primary_;
  int64_t ignore_index_, confusion_max_classes_;
  std::optional<std::string> positive_;
  std::vector<std::string> negatives_;
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
               "f1.<label>, ...; binary_f1 with positive_label, positive_micro_f1 with negative_labels)")
          .optional("positive_label", stagehand::OptionType::String,
                    "a label name (e.g. '1' for GAD): adds binary_precision, binary_recall and binary_f1 of that "
                    "class (both Bio-ELECTRA codes' GAD metric, sklearn average='binary')")
          .list("negative_labels", stagehand::OptionType::String, stagehand::ConfigNode::null(),
                "label names of the 'no relation' classes (e.g. [false] for ChemProt, [DDI-false] for DDI): adds "
                "positive_micro_precision/recall/f1, micro-averaged over the other classes: tp = correct "
                "predictions whose gold class is positive, over predictions of a positive class (precision) "
                "and over gold positives (recall) (SciCrunch/bio_electra's ChemProt metric; etetteh/bio-electra's "
                "is micro_f1, over all classes)")
          .nullable()
          .opt("ignore_index", int64_t{-100}, "examples with this label are not counted")
          .opt("confusion_max_classes", int64_t{50},
               "report confusion.<true>.<pred> for every pair when there are at most this many classes (0: never)")
          .min(0),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::ClassificationEvaluator>(o); });
}
