// SPDX-License-Identifier: Apache-2.0
// Stage kind `baseline`: what a classification task scores without any neural model, so that a trained model's
// figures have something to stand beside. From the same `data:` spec a train stage takes (a dataset that shares
// its texts through sdk::TextSource, e.g. text_classification) it fits, on the training split only:
//  - `majority`: the class with the most training examples (ties: the smallest class id), predicted for every
//    example;
//  - `linear`: a LIBLINEAR classifier (Debian's liblinear) on word features, bag-of-words counts or TF-IDF
//    (text_features.h documents the words, the vocabulary and the values). Classes go to LIBLINEAR as their ids;
//    with bias >= 0 every row gets the bias feature (LIBLINEAR regularises it like a weight); class_weight
//    balanced multiplies C per class by n / (classes * count_c); srand(seed) before train() makes the solvers'
//    shuffling, hence the model, the same on every run.
// Both are scored by the same evaluators a train stage uses (default: classification), fed the predicted class
// as one-hot logits and the batch's labels, on every evaluation split. Metrics: <split>.<metric> for the linear
// model (so a report of 'test.*' sets it beside trained models) and majority.<split>.<metric>; features (the
// vocabulary size) and train_examples. Writes results.md (per split: the two columns, each class's F1 and the
// confusion matrices) and results.csv, and prints them.
#include <linear.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include <stagehand/dataset.h>
#include <stagehand/files.h>
#include <stagehand/model.h>
#include <stagehand/plugin.h>
#include <stagehand/results.h>
#include <stagehand/stage.h>

#include <stagehand/sdk/class_weights.h>
#include <stagehand/sdk/classification_table.h>
#include <stagehand/sdk/text_source.h>

#include "text_features.h"

namespace stagehand::baseline {
namespace {

void liblinear_silent(const char*) {}

// LIBLINEAR's solvers by their names in linear.h, lower-cased, with LIBLINEAR's default tolerance (train.c's).
struct Solver {
  const char* name;
  int type;
  double tol;
};
constexpr Solver kSolvers[] = {
    {"l2r_l2loss_svc_dual", L2R_L2LOSS_SVC_DUAL, 0.1}, {"l2r_l2loss_svc", L2R_L2LOSS_SVC, 0.01},
    {"l2r_l1loss_svc_dual", L2R_L1LOSS_SVC_DUAL, 0.1}, {"l2r_lr", L2R_LR, 0.01},
    {"l2r_lr_dual", L2R_LR_DUAL, 0.1},                 {"mcsvm_cs", MCSVM_CS, 0.1},
    {"l1r_l2loss_svc", L1R_L2LOSS_SVC, 0.01},          {"l1r_lr", L1R_LR, 0.01},
};

const Solver& solver_named(const std::string& name) {
  for (const auto& s : kSolvers)
    if (name == s.name) return s;
  fail("baseline: unknown solver '{}'", name);  // the schema's choices keep this from happening
}

/// A split's class ids, read from the dataset's batches.
std::vector<int64_t> split_labels(const Dataset& data, const std::string& split) {
  std::vector<int64_t> out;
  const int64_t n = data.size(split);
  for (int64_t start = 0; start < n; start += 256) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(n, start + 256); ++i) idx.push_back(i);
    const Batch b = data.batch(split, idx);
    SH_CHECK(b.has("labels"), "baseline: the data's '{}' batches have no 'labels' tensor; expected classification "
             "data (one class id per example)", split);
    const torch::Tensor t = b.at("labels").to(torch::kLong).reshape({-1}).contiguous();
    SH_CHECK(t.numel() == static_cast<int64_t>(idx.size()), "baseline: the data's '{}' batches have {} labels for {} "
             "examples; expected one class per example (token labels are not for this stage)", split, t.numel(),
             idx.size());
    out.insert(out.end(), t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  }
  return out;
}

/// LIBLINEAR rows: each document's features (1-based indices), the bias feature, the terminator.
class Rows {
 public:
  Rows(const std::vector<SparseRow>& docs, int32_t features, double bias) {
    for (const auto& d : docs) {
      start_.push_back(nodes_.size());
      for (const auto& [j, v] : d) nodes_.push_back({j + 1, v});
      if (bias >= 0) nodes_.push_back({features + 1, bias});
      nodes_.push_back({-1, 0.0});
    }
    for (size_t s : start_) rows_.push_back(nodes_.data() + s);
  }
  feature_node** data() { return rows_.data(); }
  feature_node* row(size_t i) const { return rows_[i]; }

 private:
  std::vector<feature_node> nodes_;
  std::vector<size_t> start_;
  std::vector<feature_node*> rows_;
};

struct LinearSettings {
  const Solver* solver = nullptr;
  double C = 1.0, tol = 0.1, bias = 1.0;
  bool balanced = false;
  unsigned seed = 0;
};

/// A fitted LIBLINEAR model; predicts class ids.
class Linear {
 public:
  Linear(const std::vector<SparseRow>& docs, const std::vector<int64_t>& y, int32_t features, int64_t classes,
         const LinearSettings& s, const std::vector<std::string>& names)
      : features_(features), bias_(s.bias) {
    Rows rows(docs, features, s.bias);
    std::vector<double> labels(y.begin(), y.end());
    problem prob{};
    prob.l = static_cast<int>(y.size());
    prob.n = features + (s.bias >= 0 ? 1 : 0);
    prob.y = labels.data();
    prob.x = rows.data();
    prob.bias = s.bias;
    parameter param{};
    param.solver_type = s.solver->type;
    param.C = s.C;
    param.eps = s.tol;
    param.p = 0.1;
    std::vector<int> weight_label;
    std::vector<double> weight;
    if (s.balanced) {
      std::vector<int64_t> counts(static_cast<size_t>(classes), 0);
      for (int64_t c : y) ++counts[static_cast<size_t>(c)];
      weight = sdk::balanced_class_weights(counts, names, "the training split");
      for (int64_t c = 0; c < classes; ++c) weight_label.push_back(static_cast<int>(c));
      param.nr_weight = static_cast<int>(classes);
      param.weight_label = weight_label.data();
      param.weight = weight.data();
    }
    if (const char* err = check_parameter(&prob, &param)) fail("baseline: LIBLINEAR refused the problem: {}", err);
    set_print_string_function(&liblinear_silent);
    std::srand(s.seed);
    model_ = train(&prob, &param);
    SH_CHECK(model_ != nullptr, "baseline: LIBLINEAR's train() returned no model");
  }
  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;
  ~Linear() { free_and_destroy_model(&model_); }

  std::vector<int64_t> predict_all(const std::vector<SparseRow>& docs) const {
    Rows rows(docs, features_, bias_);
    std::vector<int64_t> out;
    for (size_t i = 0; i < docs.size(); ++i) out.push_back(static_cast<int64_t>(predict(model_, rows.row(i))));
    return out;
  }

 private:
  model* model_ = nullptr;
  int32_t features_;
  double bias_;
};

/// The evaluators' metrics of predictions `pred` against the split's labels (one-hot logits, the dataset's batches).
std::map<std::string, double> score(StageContext& ctx, const Dataset& data, const std::string& split,
                                    const std::vector<int64_t>& pred, int64_t classes) {
  std::vector<std::shared_ptr<Evaluator>> evals;
  for (const auto& e : ctx.options().node("evaluators").items())
    evals.push_back(ctx.registry().create<Evaluator>(e, ctx.build_context()));
  for (auto& e : evals) {
    e->set_labels(data.labels());
    e->reset();
  }
  const int64_t n = data.size(split);
  for (int64_t start = 0; start < n; start += 256) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(n, start + 256); ++i) idx.push_back(i);
    const Batch b = data.batch(split, idx);
    auto logits = torch::zeros({static_cast<int64_t>(idx.size()), std::max<int64_t>(classes, 2)});
    for (size_t r = 0; r < idx.size(); ++r) logits[static_cast<int64_t>(r)][pred[static_cast<size_t>(idx[r])]] = 1.0;
    Batch outputs;
    outputs.set("logits", logits);
    for (auto& e : evals) e->add(outputs, b);
  }
  std::map<std::string, double> out;
  for (const auto& e : evals)
    for (const auto& [k, v] : e->compute()) out[k] = v;
  return out;
}

FeatureOptions feature_options(const Options& o) {
  FeatureOptions f;
  f.tfidf = o.get<std::string>("features") == "tfidf";
  f.lowercase = o.get<bool>("lowercase");
  f.min_df = o.get<int64_t>("min_df");
  f.max_features = o.has("max_features") ? o.get<int64_t>("max_features") : 0;
  f.ngram_max = o.get<int64_t>("ngram_max");
  f.sublinear_tf = o.get<bool>("sublinear_tf");
  f.l2_norm = o.get<std::string>("norm") == "l2";
  return f;
}

LinearSettings linear_settings(const Options& o, uint64_t seed) {
  LinearSettings s;
  s.solver = &solver_named(o.get<std::string>("solver"));
  s.C = o.get<double>("C");
  s.tol = o.has("tol") ? o.get<double>("tol") : s.solver->tol;
  s.bias = o.get<double>("bias");
  s.balanced = o.get<std::string>("class_weight") == "balanced";
  s.seed = static_cast<unsigned>(seed & 0xFFFFFFFFu);
  return s;
}

/// The splits to score: the `splits` option, else every split of the data but the training one.
std::vector<std::string> eval_splits(const Options& o, const Dataset& data, const std::string& train_split) {
  std::vector<std::string> out;
  if (o.has("splits")) {
    for (const auto& s : o.get<std::vector<std::string>>("splits")) {
      if (!data.has_split(s))
        fail_at(o.node("splits").location(), "baseline: the data has no '{}' split (its splits: {}); list only those",
                s, fmt::join(data.splits(), ", "));
      out.push_back(s);
    }
    return out;
  }
  for (const auto& s : data.splits())
    if (s != train_split) out.push_back(s);
  SH_CHECK(!out.empty(), "baseline: the data has no split besides '{}' to score on; give it a validation or test "
           "file", train_split);
  return out;
}

std::vector<SparseRow> featurize(const Vectorizer& v, const sdk::TextSource& texts, const std::string& split) {
  const auto& a = texts.texts(split);
  const auto& b = texts.text_pairs(split);
  std::vector<SparseRow> out;
  out.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) out.push_back(v.transform(a[i], b.empty() ? std::string_view() : b[i]));
  return out;
}

/// The majority class of the training labels (ties: the smallest id).
int64_t majority_class(const std::vector<int64_t>& y, int64_t classes) {
  std::vector<int64_t> counts(static_cast<size_t>(classes), 0);
  for (int64_t c : y) ++counts[static_cast<size_t>(c)];
  return static_cast<int64_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
}

class BaselineStage : public Stage {
 public:
  void run(StageContext& ctx) override;

 private:
  void report(StageContext& ctx, const Dataset& data, const std::string& split,
              const std::map<std::string, double>& linear, const std::map<std::string, double>& majority);
  ResultsTable csv_{{"linear", "majority"}};
  std::string markdown_;
};

void BaselineStage::run(StageContext& ctx) {
  const Options& o = ctx.options();
  auto data = ctx.build<Dataset>("data");
  const auto* texts = dynamic_cast<const sdk::TextSource*>(data.get());
  SH_CHECK(texts != nullptr, "baseline: the data does not share its texts (sdk::TextSource), so there are no words "
           "to count; use a text classification dataset such as text_classification");
  const std::string train_split = o.get<std::string>("train_split");
  SH_CHECK(data->has_split(train_split) && data->size(train_split) > 0,
           "baseline: the data has no (or an empty) '{}' split to fit on", train_split);
  const auto labels = data->labels();
  SH_CHECK(!labels.empty(), "baseline: the data reports no class labels; expected classification data");
  const auto classes = static_cast<int64_t>(labels.size());
  const std::vector<std::string> splits = eval_splits(o, *data, train_split);
  const std::vector<int64_t> y = split_labels(*data, train_split);

  Vectorizer vectorizer(feature_options(o));
  vectorizer.fit(texts->texts(train_split), texts->text_pairs(train_split));
  SH_CHECK(vectorizer.size() > 0, "baseline: no word of the '{}' split is kept as a feature (min_df {}); lower min_df",
           train_split, o.get<int64_t>("min_df"));
  const auto features = static_cast<int32_t>(vectorizer.size());
  Linear linear(featurize(vectorizer, *texts, train_split), y, features, classes, linear_settings(o, ctx.seed()),
                labels);
  if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
  const int64_t majority = majority_class(y, classes);
  ctx.info(fmt::format("baseline: {} {} features from {} '{}' examples; majority class '{}'", features,
                       o.get<std::string>("features"), y.size(), train_split, labels[static_cast<size_t>(majority)]));
  ctx.metric("features", static_cast<double>(features));
  ctx.metric("train_examples", static_cast<double>(y.size()));
  for (const auto& split : splits) {
    const auto m_linear = score(ctx, *data, split, linear.predict_all(featurize(vectorizer, *texts, split)), classes);
    const auto m_majority =
        score(ctx, *data, split, std::vector<int64_t>(static_cast<size_t>(data->size(split)), majority), classes);
    for (const auto& [k, v] : m_linear) ctx.metric(split + "." + k, v);
    for (const auto& [k, v] : m_majority) ctx.metric("majority." + split + "." + k, v);
    report(ctx, *data, split, m_linear, m_majority);
  }
  write_file_atomic(ctx.output_dir() / "results.csv", csv_.csv());
  write_file_atomic(ctx.output_dir() / "results.md", markdown_);
}

void BaselineStage::report(StageContext& ctx, const Dataset& data, const std::string& split,
                           const std::map<std::string, double>& linear, const std::map<std::string, double>& majority) {
  ResultsTable table({"majority", "linear"});
  for (const auto* m : {&majority, &linear})
    for (const auto& [k, v] : *m) {
      const std::string column = m == &linear ? "linear" : "majority";
      if (k.find('.') == std::string::npos) table.set(k, column, {v});
      csv_.set(split + "." + k, column, {v});
    }
  sdk::add_per_class_f1(table, "majority", data.labels(), {majority});
  sdk::add_per_class_f1(table, "linear", data.labels(), {linear});
  std::string md = fmt::format("on '{}' ({} examples):\n\n{}", split, data.size(split), table.markdown());
  for (const auto& [name, m] : {std::pair{"majority", &majority}, std::pair{"linear", &linear}}) {
    const std::string confusion = sdk::confusion_markdown(data.labels(), {*m});
    if (!confusion.empty())
      md += fmt::format("\nconfusion matrix of {} on '{}' (rows: true class, columns: predicted class; counts):\n\n{}",
                        name, split, confusion);
  }
  markdown_ += (markdown_.empty() ? "" : "\n") + md;
  ctx.info("baseline results " + md);
}

}  // namespace
}  // namespace stagehand::baseline

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  std::vector<std::string> solvers;
  for (const auto& s : stagehand::baseline::kSolvers) solvers.push_back(s.name);
  registrar.add<stagehand::Stage>(
      "baseline",
      "majority-class and word-feature (TF-IDF or counts, LIBLINEAR) baselines of a classification dataset, scored "
      "by the evaluators a train stage uses",
      stagehand::Schema()
          .component("data", "dataset",
                     "the classification data, the same spec a train stage takes (a dataset that shares its texts, "
                     "e.g. text_classification)")
          .choice("features", "tfidf", {"tfidf", "counts"},
                  "word features: tfidf (count x smoothed idf ln((1+n)/(1+df)) + 1) or counts (bag of words)")
          .opt("lowercase", true, "lower-case ASCII letters before counting words")
          .opt("ngram_max", int64_t{1}, "terms are runs of 1 to ngram_max words (1: single words)")
          .min(1)
          .max(3)
          .opt("min_df", int64_t{1}, "keep terms found in at least this many training documents")
          .min(1)
          .optional("max_features", OptionType::Int,
                    "keep at most this many terms, the most frequent over the training documents (ties: byte order)")
          .min(1)
          .opt("sublinear_tf", false, "tf = 1 + ln(count) instead of the count")
          .choice("norm", "l2", {"l2", "none"}, "scale each document's features to unit Euclidean length, or not")
          .choice("solver", "l2r_l2loss_svc_dual", solvers,
                  "LIBLINEAR's solver (linear.h's name, lower-cased): l2r_l2loss_svc_dual is scikit-learn's "
                  "LinearSVC, l2r_lr its LogisticRegression(solver='liblinear'); one-vs-rest except mcsvm_cs")
          .opt("C", 1.0, "inverse regularisation strength (LIBLINEAR's -c)")
          .min(1e-12)
          .optional("tol", OptionType::Float,
                    "stopping tolerance (LIBLINEAR's -e); unset: LIBLINEAR's default for the solver (0.01 or 0.1)")
          .min(1e-12)
          .opt("bias", 1.0, "value of the bias feature added to every row (LIBLINEAR's -B); negative: no bias")
          .choice("class_weight", "none", {"none", "balanced"},
                  "balanced: C of class c times n / (classes * count_c) over the training split (as scikit-learn's "
                  "class_weight='balanced')")
          .opt("train_split", std::string("train"), "the split the features and classifiers are fit on")
          .list("splits", OptionType::String, stagehand::ConfigNode::null(),
                "splits to score; unset: every split of the data but train_split")
          .nullable()
          .list("evaluators", OptionType::Component,
                stagehand::parse_yaml("[{type: classification}]", "<default>"),
                "what to measure, as in a train stage (fed the predicted class as one-hot logits)")
          .kind("evaluator"),
      [](const stagehand::Options&) { return std::make_shared<stagehand::baseline::BaselineStage>(); });
}
