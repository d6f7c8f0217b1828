// SPDX-License-Identifier: Apache-2.0
// Stage `scidocs`: its algorithms against lightning 0.6, scikit-learn 1.2 and trec_eval (expected values written by
// tests/data/scidocs_reference/make_expected.py, or worked out by hand below), its input readers' one-line errors,
// and the stage end to end through the runner on the SciDocs-layout fixtures of tests/data/scidocs_reference.
#include <cmath>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "stagehand/config.h"

#include "../plugins/stage/scidocs/scidocs_io.h"
#include "../plugins/stage/scidocs/scidocs_metrics.h"
#include "../plugins/stage/scidocs/scidocs_svm.h"

using namespace sh_test;
using namespace stagehand::scidocs;
using nlohmann::json;

namespace {

const fs::path kRef = fs::path(STAGEHAND_TEST_DATA) / "scidocs_reference";

const json& expected() {
  static const json j = [] {
    std::ifstream in(kRef / "expected.json");
    return json::parse(in);
  }();
  return j;
}

std::vector<int64_t> ints(const json& j) { return j.get<std::vector<int64_t>>(); }

std::vector<double> flatten(const json& rows, size_t& dim) {
  std::vector<double> out;
  dim = rows.empty() ? 0 : rows[0].size();
  for (const auto& r : rows)
    for (const auto& v : r) out.push_back(v.get<double>());
  return out;
}

// ---------------------------------------------------------------- scikit-learn: folds, macro-F1, LinearSVC

TEST(ScidocsFolds, MatchStratifiedKFold) {
  for (const auto& c : expected().at("folds")) {
    std::vector<int> folds = stratified_test_folds(ints(c.at("y")), c.at("n_splits").get<int>());
    EXPECT_EQ(folds, c.at("folds").get<std::vector<int>>()) << c.at("y").dump() << " k=" << c.at("n_splits");
  }
}

TEST(ScidocsFolds, ByHand) {
  // Classes by first appearance: 5 -> 0 (3 examples), 1 -> 1 (3 examples). Sorted codes [0 0 0 1 1 1] dealt
  // round-robin to 2 folds: fold 0 gets codes at positions 0, 2, 4 = {0, 0, 1}, fold 1 gets {0, 1, 1}. So class 5's
  // examples go 2 to fold 0 then 1 to fold 1; class 1's 1 to fold 0 then 2 to fold 1, each in data order.
  std::vector<int64_t> y = {5, 1, 5, 1, 5, 1};
  EXPECT_EQ(stratified_test_folds(y, 2), (std::vector<int>{0, 0, 0, 1, 1, 1}));
  EXPECT_NE(error_of([&] { stratified_test_folds({1, 2, 3, 4}, 2); }).find("no class has 2 examples"),
            std::string::npos);
  EXPECT_NE(error_of([&] { stratified_test_folds({1, 1}, 3); }).find("cannot make 3 folds of 2 examples"),
            std::string::npos);
}

TEST(ScidocsF1, MacroF1MatchesSklearn) {
  for (const auto& c : expected().at("macro_f1"))
    EXPECT_NEAR(macro_f1(ints(c.at("y_true")), ints(c.at("y_pred"))), c.at("f1").get<double>(), 1e-15)
        << c.at("y_true").dump();
  // By hand: classes {0, 1, 2, 4, 9}; F1 0: P 2/3 R 2/3 -> 2/3; 1: P 2/4 R 2/3 -> 4/7; 2: P 1 R 1/2 -> 2/3;
  // 4 (never predicted) 0; 9 (predicted, never true) 0. Mean (2/3 + 4/7 + 2/3) / 5 = 8/21.
  EXPECT_NEAR(macro_f1({0, 0, 1, 1, 1, 4, 4, 2, 2, 0}, {0, 1, 1, 1, 9, 0, 1, 2, 9, 0}), 8.0 / 21.0, 1e-15);
  EXPECT_DOUBLE_EQ(accuracy({1, 2, 3, 4}, {1, 2, 0, 4}), 0.75);
}

// One classification fixture: training rows, test rows, labels.
struct SvmCase {
  std::string name;
  size_t dim = 0;
  std::vector<double> x, x_test;
  std::vector<int64_t> y;
  std::vector<size_t> all;

  explicit SvmCase(const json& c) : name(c.at("name").get<std::string>()) {
    size_t dim_test = 0;
    x = flatten(c.at("X_train"), dim);
    x_test = flatten(c.at("X_test"), dim_test);
    y = ints(c.at("y_train"));
    for (size_t i = 0; i < y.size(); ++i) all.push_back(i);
  }
  std::vector<int64_t> predict(const LinearSvc& m) const {
    std::vector<int64_t> pred;
    for (size_t i = 0; i * dim < x_test.size(); ++i) pred.push_back(m.predict(x_test.data() + i * dim));
    return pred;
  }
};

// Largest |a - b| over matching weights, relative to the largest |b| (at least 1); -1 when the shapes differ.
double weight_error(const std::vector<std::vector<double>>& a, const json& b) {
  if (a.size() != b.size()) return -1;
  double err = 0.0, scale = 1.0;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].size() != b[k].size()) return -1;
    for (size_t j = 0; j < a[k].size(); ++j) {
      err = std::max(err, std::abs(a[k][j] - b[k][j].get<double>()));
      scale = std::max(scale, std::abs(b[k][j].get<double>()));
    }
  }
  return err / scale;
}

// The grid search, its refit and the test predictions, against `ref` (expected.json's "lightning" or "liblinear").
void expect_grid_search(const json& c, const json& ref, const SvmSettings& settings) {
  SvmCase d(c);
  SvmRows rows(d.x, d.y.size(), d.dim);
  std::vector<size_t> calls;
  GridSearch g = grid_search_linear_svc(rows, d.y, c.at("cs").get<std::vector<double>>(), c.at("folds").get<int>(),
                                        settings, [&](size_t i, const GridSearch&) { calls.push_back(i); });
  EXPECT_EQ(calls.size(), g.cs.size()) << d.name;
  EXPECT_EQ(g.test_folds, c.at("test_folds").get<std::vector<int>>()) << d.name;
  for (size_t i = 0; i < g.cs.size(); ++i) {
    EXPECT_EQ(g.fold_accuracy[i], ref.at("fold_accuracy")[i].get<std::vector<double>>()) << d.name << " C=" << g.cs[i];
    // Exact: the same fold accuracies summed in the same order.
    EXPECT_EQ(g.mean_accuracy[i], ref.at("mean_accuracy")[i].get<double>()) << d.name << " C=" << g.cs[i];
  }
  EXPECT_EQ(g.best_c(), ref.at("best_c").get<double>()) << d.name;
  LinearSvc m = fit_linear_svc(rows, d.y, d.all, g.best_c(), settings);
  std::vector<int64_t> pred = d.predict(m);
  EXPECT_EQ(pred, ints(ref.at("pred"))) << d.name;
  EXPECT_NEAR(macro_f1(ints(c.at("y_test")), pred), ref.at("f1").get<double>(), 1e-15) << d.name;
}

// SciDocs' classify() with lightning's LinearSVC (expected values from lightning itself).
TEST(ScidocsSvm, GridSearchAndRefitMatchLightning) {
  for (const auto& c : expected().at("svm")) expect_grid_search(c, c.at("lightning"), SvmSettings{});
}

// lightning's weights, for every fold of every C and for the refit: no intercept, and the same numbers. They are
// equal bit for bit here (the project builds without -march, so nothing fuses multiply-adds); a build that fuses
// them rounds differently, may take another solver path and then agrees only to the solver's tolerance.
TEST(ScidocsSvm, WeightsAreLightnings) {
  for (const auto& c : expected().at("svm")) {
    SvmCase d(c);
    SvmRows rows(d.x, d.y.size(), d.dim);
    const json& ref = c.at("lightning");
    const std::vector<int> folds = c.at("test_folds").get<std::vector<int>>();
    const std::vector<double> cs = c.at("cs").get<std::vector<double>>();
    double worst = 0.0;
    for (size_t ci = 0; ci < cs.size(); ++ci) {
      for (int f = 0; f < c.at("folds").get<int>(); ++f) {
        std::vector<size_t> train_rows;
        for (size_t i = 0; i < folds.size(); ++i)
          if (folds[i] != f) train_rows.push_back(i);
        LinearSvc m = fit_linear_svc(rows, d.y, train_rows, cs[ci], SvmSettings{});
        const double err = weight_error(m.coef, ref.at("fold_coef")[ci][f]);
        EXPECT_TRUE(err >= 0 && err < 1e-12) << d.name << " C=" << cs[ci] << " fold " << f << ": " << err;
        worst = std::max(worst, err);
        EXPECT_EQ(m.intercept, std::vector<double>(m.coef.size(), 0.0)) << d.name;
      }
    }
    LinearSvc m = fit_linear_svc(rows, d.y, d.all, ref.at("best_c").get<double>(), SvmSettings{});
    const double err = weight_error(m.coef, ref.at("coef"));
    EXPECT_TRUE(err >= 0 && err < 1e-12) << d.name << " refit: " << err;
    std::cout << d.name << ": largest relative difference from lightning's weights "
              << std::max(worst, err) << "\n";
  }
}

// The objective is scikit-learn's LinearSVC(loss="squared_hinge", fit_intercept=False) (another solver, the same
// problem): solved to tol 1e-10, both reach the same weights.
TEST(ScidocsSvm, TightToleranceReachesSklearnsOptimum) {
  for (const auto& c : expected().at("svm")) {
    SvmCase d(c);
    SvmRows rows(d.x, d.y.size(), d.dim);
    const json& tight = c.at("lightning").at("tight");
    SvmSettings s;
    s.tol = tight.at("tol").get<double>();
    s.max_iter = tight.at("max_iter").get<int>();
    LinearSvc m = fit_linear_svc(rows, d.y, d.all, c.at("lightning").at("best_c").get<double>(), s);
    EXPECT_EQ(m.unconverged, 0) << d.name;
    const double err = weight_error(m.coef, tight.at("sklearn_coef"));
    EXPECT_TRUE(err >= 0 && err < 1e-8) << d.name << ": " << err;
  }
}

// lightning's RandomState(42).shuffle on shrinking prefixes (numpy's legacy RandomState gives the same).
TEST(ScidocsSvm, ShufflesAsLightningsRandomState) {
  const json& s = expected().at("shuffle");
  LightningRandom rng(s.at("seed").get<uint32_t>());
  std::vector<size_t> a;
  for (const auto& step : s.at("steps")) {
    if (step.at("fresh").get<bool>()) {
      a.resize(step.at("size").get<size_t>());
      for (size_t i = 0; i < a.size(); ++i) a[i] = i;
    }
    rng.shuffle(a, step.at("prefix").get<size_t>());
    EXPECT_EQ(a, step.at("result").get<std::vector<size_t>>()) << step.at("size") << " " << step.at("prefix");
  }
  // rk_interval(0) draws nothing; the mask of 5 is 7, so draws of 6 and 7 are thrown back.
  LightningRandom r(1), copy(1);
  EXPECT_EQ(r.interval(0), 0u);
  for (int i = 0; i < 50; ++i) EXPECT_LE(r.interval(5), 5u);
  std::mt19937 mt(1);
  for (int i = 0; i < 8; ++i) {
    uint32_t v;
    do {
      v = static_cast<uint32_t>(mt()) & 7u;
    } while (v > 5);
    EXPECT_EQ(copy.interval(5), v);
  }
}

// `svm: liblinear`: scikit-learn's LinearSVC (with its intercept) on LIBLINEAR.
TEST(ScidocsSvm, LiblinearMatchesSklearnLinearSvc) {
  for (const auto& c : expected().at("svm"))
    expect_grid_search(c, c.at("liblinear"), SvmSettings::defaults(SvmSolver::Liblinear));
}

TEST(ScidocsSvm, FitIsDeterministicAndNeedsTwoClasses) {
  SvmCase d(expected().at("svm")[0]);
  SvmRows rows(d.x, d.y.size(), d.dim);
  for (SvmSolver solver : {SvmSolver::Lightning, SvmSolver::Liblinear}) {
    const SvmSettings s = SvmSettings::defaults(solver);
    LinearSvc a = fit_linear_svc(rows, d.y, d.all, 100.0, s);
    LinearSvc b = fit_linear_svc(rows, d.y, d.all, 100.0, s);
    EXPECT_EQ(a.coef, b.coef);
    EXPECT_EQ(a.intercept, b.intercept);
    EXPECT_EQ(a.classes, (std::vector<int64_t>{0, 3, 5, 7}));
    ASSERT_EQ(a.coef.size(), 4u);
    EXPECT_EQ(a.coef[0].size(), d.dim);
    // lightning has no intercept; scikit-learn's LinearSVC has one per class.
    EXPECT_EQ(a.intercept == std::vector<double>(4, 0.0), solver == SvmSolver::Lightning);
    std::vector<size_t> one_class;
    for (size_t i = 0; i < d.y.size(); ++i)
      if (d.y[i] == 3) one_class.push_back(i);
    EXPECT_NE(error_of([&] { fit_linear_svc(rows, d.y, one_class, 1.0, s); }).find("all have class 3"),
              std::string::npos);
  }
  // Another random_state permutes differently: the weights move, within what tol 1e-3 allows.
  SvmSettings other;
  other.seed = 7;
  LinearSvc a = fit_linear_svc(rows, d.y, d.all, 1.0, SvmSettings{});
  LinearSvc b = fit_linear_svc(rows, d.y, d.all, 1.0, other);
  EXPECT_NE(a.coef, b.coef);
  EXPECT_EQ(d.predict(a), d.predict(b));
}

// A paper without an embedding (a zero row) scores 0 for every class without an intercept: the first class.
TEST(ScidocsSvm, ZeroRowGetsTheFirstClass) {
  LinearSvc m;
  m.classes = {2, 4, 9};
  m.dim = 2;
  m.coef = {{1, -1}, {0.5, 2}, {-3, 1}};
  m.intercept = {0, 0, 0};
  const double zero[2] = {0, 0};
  EXPECT_EQ(m.predict(zero), 2);
  const double x[2] = {0.1, 1};
  EXPECT_EQ(m.predict(x), 4);
  m.classes = {2, 4};
  m.coef = {{1, -1}};
  m.intercept = {0};
  EXPECT_EQ(m.predict(zero), 2);  // decision 0 is not > 0
}

// ---------------------------------------------------------------- trec_eval: ranking, MAP, nDCG

std::vector<Scored> ranked(std::vector<Scored> run) {
  trec_sort(run);
  return run;
}

TEST(ScidocsTrec, TiesGoByDocumentIdDescending) {
  auto r = ranked({{"a", 0.9}, {"b", 0.5}, {"c", 0.5}, {"d", 0.1}, {"ab", 0.5}});
  std::vector<std::string> ids;
  for (const auto& s : r) ids.push_back(s.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "c", "b", "ab", "d"}));
}

TEST(ScidocsTrec, HandComputedMapAndNdcg) {
  const double l3 = std::log2(3.0);
  {
    // Ranked a(0) c(1) b(1) d(0); e (relevant) was not retrieved: 3 relevant in the qrels.
    // AP = (1/2 + 2/3) / 3 = 7/18. DCG = 1/log2(3) + 1/log2(4); ideal = 1 + 1/log2(3) + 1/2.
    auto m = trec_query_metrics(ranked({{"a", 0.9}, {"b", 0.5}, {"c", 0.5}, {"d", 0.1}}),
                                {{"a", 0}, {"b", 1}, {"c", 1}, {"d", 0}, {"e", 1}});
    EXPECT_NEAR(m.ap, 7.0 / 18.0, 1e-15);
    EXPECT_NEAR(m.ndcg, (1 / l3 + 0.5) / (1 + 1 / l3 + 0.5), 1e-15);
  }
  {
    // Graded: x(0) y(2) z(1) w(0). AP counts relevance >= 1: (1/2 + 2/3) / 2 = 7/12.
    // DCG = 2/log2(3) + 1/2; ideal = 2/1 + 1/log2(3).
    auto m = trec_query_metrics(ranked({{"x", 3.0}, {"y", 2.0}, {"z", 1.0}, {"w", 0.5}}),
                                {{"x", 0}, {"y", 2}, {"z", 1}, {"w", 0}});
    EXPECT_NEAR(m.ap, 7.0 / 12.0, 1e-15);
    EXPECT_NEAR(m.ndcg, (2 / l3 + 0.5) / (2 + 1 / l3), 1e-15);
  }
  {
    // A tie between a relevant and a non-relevant document: "b" ranks before "a", so AP 1 (not 1/2).
    auto m = trec_query_metrics(ranked({{"a", -1.0}, {"b", -1.0}}), {{"a", 0}, {"b", 1}});
    EXPECT_DOUBLE_EQ(m.ap, 1.0);
    EXPECT_DOUBLE_EQ(m.ndcg, 1.0);
    auto m2 = trec_query_metrics(ranked({{"b", -1.0}, {"c", -1.0}}), {{"c", 0}, {"b", 1}});
    EXPECT_DOUBLE_EQ(m2.ap, 0.5);
    EXPECT_NEAR(m2.ndcg, 1 / l3, 1e-15);
  }
  {
    // Nothing relevant: both 0. A retrieved document missing from the qrels counts as not relevant.
    auto none = trec_query_metrics(ranked({{"a", 1.0}, {"b", 0.0}}), {{"a", 0}, {"b", 0}});
    EXPECT_EQ(none.ap, 0.0);
    EXPECT_EQ(none.ndcg, 0.0);
    auto unjudged = trec_query_metrics(ranked({{"u", 1.0}, {"b", 0.0}}), {{"b", 1}});
    EXPECT_DOUBLE_EQ(unjudged.ap, 0.5);
    EXPECT_NEAR(unjudged.ndcg, 1 / l3, 1e-15);
  }
}

TEST(ScidocsTrec, MatchesSklearnOnDistinctScores) {
  for (const auto& c : expected().at("ranking")) {
    std::vector<double> scores = c.at("scores").get<std::vector<double>>();
    std::vector<int64_t> rels = ints(c.at("rels"));
    std::vector<Scored> run;
    std::map<std::string, int64_t> qrels;
    for (size_t i = 0; i < scores.size(); ++i) {
      run.push_back({"d" + std::to_string(i), scores[i]});
      qrels["d" + std::to_string(i)] = rels[i];
    }
    auto m = trec_query_metrics(ranked(run), qrels);
    EXPECT_NEAR(m.ap, c.at("average_precision").get<double>(), 1e-12) << c.dump();
    EXPECT_NEAR(m.ndcg, c.at("ndcg").get<double>(), 1e-12) << c.dump();
  }
}

TEST(ScidocsScores, FacetsByHand) {
  // Query facets (1,0), (0,1); candidate facets (2,1), (-1,0).
  const double q[] = {1, 0, 0, 1};
  const double c[] = {2, 1, -1, 0};
  // cosines: q0c0 2/sqrt5, q0c1 -1, q1c0 1/sqrt5, q1c1 0 -> max 2/sqrt5.
  EXPECT_NEAR(similarity(Similarity::Cosine, q, c, 2, 2), 2 / std::sqrt(5.0), 1e-15);
  // dots: 2, -1, 1, 0 -> 2.
  EXPECT_DOUBLE_EQ(similarity(Similarity::Dot, q, c, 2, 2), 2.0);
  // distances: |(-1,-1)| = sqrt2, |(2,0)| = 2, |(-2,0)| = 2, |(1,1)| = sqrt2 -> -sqrt2.
  EXPECT_NEAR(similarity(Similarity::L2, q, c, 2, 2), -std::sqrt(2.0), 1e-15);
  // One facet: SciDocs' -||q - c||; a zero vector has cosine 0.
  const double a[] = {3, 4}, z[] = {0, 0};
  EXPECT_DOUBLE_EQ(similarity(Similarity::L2, a, z, 1, 2), -5.0);
  EXPECT_EQ(similarity(Similarity::Cosine, a, z, 1, 2), 0.0);
  EXPECT_DOUBLE_EQ(similarity(Similarity::Dot, a, a, 1, 2), 25.0);
  // np.round(x, 5).
  EXPECT_EQ(round_score(0.123456789, 5), 0.12346);
  EXPECT_EQ(round_score(-0.7071067811865476, 5), -0.70711);
  EXPECT_EQ(round_score(-2.000005, 5), -2.0);
  EXPECT_EQ(round_score(3.5e-6, 5), 0.0);
  EXPECT_EQ(round_score(0.123456789, -1), 0.123456789);
}

// ---------------------------------------------------------------- readers: one-line errors with file:line

TEST(ScidocsIo, ReadsFixtures) {
  Embeddings e = read_embeddings(kRef / "uc_facets.jsonl");
  EXPECT_TRUE(e.multi);
  EXPECT_EQ(e.facets, 3);
  EXPECT_EQ(e.dim, 3);
  ASSERT_NE(e.find("coview-val-q0"), nullptr);
  EXPECT_DOUBLE_EQ(e.find("coview-val-q0")[3], 1.340215);  // facet 2, value 1
  std::unordered_set<std::string> keep = {"mag-train-000"};
  Embeddings k = read_embeddings(kRef / "cls_embeddings.jsonl", &keep);
  EXPECT_EQ(k.index.size(), 1u);
  EXPECT_FALSE(k.multi);
  EXPECT_EQ(k.dim, 6);
  EXPECT_EQ(k.papers, 269);  // 155 MAG + 122 MeSH papers, 8 of them without an embedding
  LabeledPapers mag = read_classification_csv(kRef / "data" / "mag" / "train.csv");
  EXPECT_EQ(mag.ids.size(), 96u);
  EXPECT_EQ(mag.ids[0], "mag-train-000");
  Qrels q = read_qrels(kRef / "data" / "cite" / "test.qrel");
  EXPECT_EQ(q.queries.size(), 9u);
  EXPECT_EQ(q.duplicates, 1);
  EXPECT_EQ(q.relevance.at("cite-test-q1").at("cite-test-q1-c0"), 2);
}

// Lines in SciDocs' usual form take a fast path; any other valid JSON goes through a full parser: same values.
TEST(ScidocsIo, UnusualLinesReadLikeUsualOnes) {
  TempFolder dir;
  write_text(dir / "e.jsonl",
             "{\"paper_id\": \"a\", \"embedding\": [[1.5, -2e-3], [0.1, 7]]}\n"
             "{ \"embedding\" : [[3, 4], [5, 6]], \"paper_id\": \"b\" }\r\n"
             "{\"paper_id\": \"c\\\"q\", \"extra\": true, \"embedding\": [[0.25, 1E2], [-0.0, 0.30000000000000004]]}\n"
             "{\"paper_id\":\"d\",\"embedding\":[ [ 1 , 2 ] , [ 3 , 4 ] ]}\n");
  Embeddings e = read_embeddings(dir / "e.jsonl");
  EXPECT_EQ(e.facets, 2);
  EXPECT_EQ(e.dim, 2);
  auto row = [&](const std::string& id) {
    const double* r = e.find(id);
    return r ? std::vector<double>(r, r + 4) : std::vector<double>{};
  };
  EXPECT_EQ(row("a"), (std::vector<double>{1.5, -2e-3, 0.1, 7}));
  EXPECT_EQ(row("b"), (std::vector<double>{3, 4, 5, 6}));
  EXPECT_EQ(row("c\"q"), (std::vector<double>{0.25, 100, -0.0, 0.30000000000000004}));
  EXPECT_EQ(row("d"), (std::vector<double>{1, 2, 3, 4}));
  write_text(dir / "bad.jsonl", "{\"paper_id\": \"a\", \"embedding\": [1, -inf]}\n");
  std::string err = error_of([&] { read_embeddings(dir / "bad.jsonl"); });
  EXPECT_NE(err.find("bad.jsonl:1: not valid JSON"), std::string::npos) << err;
}

TEST(ScidocsIo, BadInputIsOneLineWithFileAndLine) {
  TempFolder dir;
  auto emb_error = [&](const std::string& text) {
    write_text(dir / "e.jsonl", text);
    return error_of([&] { read_embeddings(dir / "e.jsonl"); });
  };
  const std::string f = (dir / "e.jsonl").string();
  const std::string a = "{\"paper_id\": \"a\", \"embedding\": [1, 2]}\n";
  std::string e = emb_error(a + "{\"paper_id\": \"b\", \"embedding\": [1, 2\n");
  EXPECT_NE(e.find(f + ":2: not valid JSON"), std::string::npos) << e;
  e = emb_error(a + "{\"paper_id\": \"b\", \"embedding\": [1, 2, 3]}\n");
  EXPECT_NE(e.find(f + ":2: the embedding of paper 'b' has 3 values but line 1 has 2 values"), std::string::npos)
      << e;
  e = emb_error("{\"paper_id\": \"a\", \"embedding\": [[1, 2], [3, 4]]}\n"
                "{\"paper_id\": \"b\", \"embedding\": [1, 2]}\n");
  EXPECT_NE(e.find(f + ":2: the embedding of paper 'b' has 2 values but line 1 has 2 facets of 2 values"),
            std::string::npos) << e;
  e = emb_error("{\"paper_id\": \"a\", \"embedding\": [1, 2]}\n\n{\"paper_id\": \"a\", \"embedding\": [3, 4]}\n");
  EXPECT_NE(e.find(f + ":3: duplicate paper_id 'a' (first on line 1)"), std::string::npos) << e;
  e = emb_error("{\"id\": \"a\", \"embedding\": [1, 2]}\n");
  EXPECT_NE(e.find(f + ":1: no \"paper_id\""), std::string::npos) << e;
  EXPECT_NE(e.find("output: scidocs"), std::string::npos) << e;
  e = emb_error("{\"paper_id\": \"a\", \"embedding\": [1, \"x\"]}\n");
  EXPECT_NE(e.find(f + ":1: value 2 of the embedding of paper 'a' is \"x\"; expected a number"), std::string::npos)
      << e;
  e = emb_error("");
  EXPECT_NE(e.find(f + ": no embeddings"), std::string::npos) << e;

  write_text(dir / "t.csv", "pid,class_label\np1,3\np2,three\n");
  e = error_of([&] { read_classification_csv(dir / "t.csv"); });
  EXPECT_NE(e.find((dir / "t.csv").string() + ":3: class label 'three' of paper 'p2' is not an integer"),
            std::string::npos) << e;
  write_text(dir / "t.csv", "pid,class_label\np1,3,4\n");
  e = error_of([&] { read_classification_csv(dir / "t.csv"); });
  EXPECT_NE(e.find(":2: 'p1,3,4' is not two comma-separated fields"), std::string::npos) << e;
  write_text(dir / "t.csv", "pid,class_label\n");
  e = error_of([&] { read_classification_csv(dir / "t.csv"); });
  EXPECT_NE(e.find("t.csv: no examples (the file has only the header row)"), std::string::npos) << e;

  write_text(dir / "q.qrel", "q1 0 p1 1\nq1 0 p2\n");
  e = error_of([&] { read_qrels(dir / "q.qrel"); });
  EXPECT_NE(e.find((dir / "q.qrel").string() + ":2: 'q1 0 p2' has 3 fields; expected 4"), std::string::npos) << e;
  write_text(dir / "q.qrel", "q1 0 p1 yes\n");
  e = error_of([&] { read_qrels(dir / "q.qrel"); });
  EXPECT_NE(e.find(":1: relevance 'yes' is not a non-negative integer"), std::string::npos) << e;
  write_text(dir / "q.qrel", "\n");
  e = error_of([&] { read_qrels(dir / "q.qrel"); });
  EXPECT_NE(e.find("q.qrel: no judgements"), std::string::npos) << e;
  for (const std::string& one : {emb_error("{\"paper_id\": 1.5, \"embedding\": [1]}\n"), e})
    EXPECT_EQ(one.find('\n'), std::string::npos) << one;
}

// ---------------------------------------------------------------- the stage through the runner

void copy_fixtures(const TempFolder& dir) {
  fs::copy(kRef / "data", dir / "data", fs::copy_options::recursive);
  for (const char* f : {"cls_embeddings.jsonl", "uc_embeddings.jsonl", "uc_facets.jsonl"}) fs::copy(kRef / f, dir / f);
}

stagehand::ConfigNode stage_metrics(const TempFolder& dir, const std::string& pipeline, const std::string& stage) {
  return stagehand::load_yaml_file(dir / "runs" / pipeline / "latest" / "stages" / stage / "outputs.yaml")
      .at("metrics");
}

double metric(const stagehand::ConfigNode& m, const std::string& key) {
  const stagehand::ConfigNode* v = m.find(key);
  if (!v) {
    ADD_FAILURE() << "no metric " << key;
    return -1;
  }
  return v->is_int() ? static_cast<double>(v->as_int()) : v->as_double();
}

const json& svm_case(const std::string& name) {
  for (const auto& c : expected().at("svm"))
    if (c.at("name") == name) return c;
  throw std::runtime_error("no svm case " + name);
}

TEST(ScidocsStage, EndToEndMatchesReference) {
  TempFolder dir;
  copy_fixtures(dir);
  // The classification embeddings as two facets x/2, x/2: summed, they are x again, exactly.
  std::string halves;
  for (const auto& line : read_lines(dir / "cls_embeddings.jsonl")) {
    json j = json::parse(line);
    std::vector<double> v = j.at("embedding").get<std::vector<double>>();
    for (double& x : v) x /= 2;
    j["embedding"] = json::array({v, v});
    halves += j.dump() + "\n";
  }
  write_text(dir / "cls_facets.jsonl", halves);
  write_text(dir / "p.yaml", R"(name: scidocs_e2e
stages:
  bench:
    kind: scidocs
    data_dir: data
    classification_file: cls_embeddings.jsonl
    user_citation_file: uc_embeddings.jsonl
  facets:
    kind: scidocs
    data_dir: data
    split: validation
    tasks: [mesh, cite, cocite]
    classification_file: cls_embeddings.jsonl
    svm: liblinear
    user_citation_file: uc_facets.jsonl
    user_citation_metric: cosine
  summed:
    kind: scidocs
    data_dir: data
    tasks: [mag, coview, coread]
    classification_file: cls_facets.jsonl
    user_citation_file: uc_facets.jsonl
    user_citation_metric: dot
  nearest:
    kind: scidocs
    data_dir: data
    tasks: [cocite]
    user_citation_file: uc_facets.jsonl
)");
  auto r = runner("p.yaml", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json& uc = expected().at("user_citation");

  stagehand::ConfigNode m = stage_metrics(dir, "scidocs_e2e", "bench");
  for (const std::string task : {"mag", "mesh"}) {
    const json& c = svm_case(task + ".test");
    const json& light = c.at("lightning");  // SciDocs' classifier is the default
    EXPECT_NEAR(metric(m, task + ".f1"), light.at("f1").get<double>(), 1e-12) << task;
    EXPECT_EQ(metric(m, task + ".svm_c"), light.at("best_c").get<double>()) << task;
    std::vector<double> cv = light.at("mean_accuracy").get<std::vector<double>>();
    EXPECT_EQ(metric(m, task + ".cv_accuracy"), *std::max_element(cv.begin(), cv.end())) << task;
    EXPECT_EQ(metric(m, task + ".count.scored"), static_cast<double>(c.at("y_test").size())) << task;
    EXPECT_EQ(metric(m, task + ".count.missing_embeddings"), 3.0) << task;  // two training papers, one test paper
  }
  for (const std::string task : {"coview", "coread", "cite", "cocite"}) {
    const json& e = uc.at("l2").at("test").at(task);
    EXPECT_NEAR(metric(m, task + ".map"), e.at("map").get<double>(), 1e-12) << task;
    EXPECT_NEAR(metric(m, task + ".ndcg"), e.at("ndcg").get<double>(), 1e-12) << task;
    EXPECT_EQ(metric(m, task + ".count.queries"), e.at("queries").get<double>()) << task;
    EXPECT_EQ(metric(m, task + ".count.skipped_queries"), e.at("skipped_queries").get<double>()) << task;
    EXPECT_EQ(metric(m, task + ".count.missing_candidates"), e.at("missing_candidates").get<double>()) << task;
    // The run file: trec_eval's order (rank, ties by id descending), one line per ranked candidate.
    std::vector<std::string> lines =
        read_lines(dir / "runs" / "scidocs_e2e" / "latest" / "stages" / "bench" / (task + ".run"));
    const auto want = uc.at("l2_runs").at(task).get<std::vector<std::string>>();
    ASSERT_EQ(lines.size(), want.size()) << task;
    for (size_t i = 0; i < lines.size(); ++i) {
      EXPECT_EQ(lines[i].rfind(want[i] + " ", 0), 0u) << task << ": " << lines[i] << " vs " << want[i];
      EXPECT_EQ(lines[i].substr(lines[i].size() - 10), " stagehand");
    }
  }
  const fs::path out = dir / "runs" / "scidocs_e2e" / "latest" / "stages" / "bench";
  std::string md = read_text(out / "results.md");
  EXPECT_NE(md.find("mag.f1"), std::string::npos) << md;
  EXPECT_NE(md.find("cocite.ndcg"), std::string::npos) << md;
  EXPECT_NE(read_text(out / "results.csv").find("coview.map"), std::string::npos);

  // Validation split, scikit-learn's LinearSVC, Multi²SPE cosine over facets, a subset of the tasks.
  stagehand::ConfigNode f = stage_metrics(dir, "scidocs_e2e", "facets");
  EXPECT_NEAR(metric(f, "mesh.f1"), svm_case("mesh.val").at("liblinear").at("f1").get<double>(), 1e-12);
  EXPECT_EQ(metric(f, "mesh.svm_c"), svm_case("mesh.val").at("liblinear").at("best_c").get<double>());
  for (const std::string task : {"cite", "cocite"}) {
    const json& e = uc.at("cosine").at("validation").at(task);
    EXPECT_NEAR(metric(f, task + ".map"), e.at("map").get<double>(), 1e-12) << task;
    EXPECT_NEAR(metric(f, task + ".ndcg"), e.at("ndcg").get<double>(), 1e-12) << task;
  }
  EXPECT_EQ(f.find("mag.f1"), nullptr);
  EXPECT_EQ(f.find("coview.map"), nullptr);

  // Multi-facet classification embeddings are summed; Multi²SPE dot (max over facet pairs); -min L2 over pairs.
  stagehand::ConfigNode sum = stage_metrics(dir, "scidocs_e2e", "summed");
  EXPECT_NEAR(metric(sum, "mag.f1"), svm_case("mag.test").at("lightning").at("f1").get<double>(), 1e-12);
  EXPECT_EQ(metric(sum, "mag.svm_c"), svm_case("mag.test").at("lightning").at("best_c").get<double>());
  for (const std::string task : {"coview", "coread"}) {
    const json& e = uc.at("dot").at("test").at(task);
    EXPECT_NEAR(metric(sum, task + ".map"), e.at("map").get<double>(), 1e-12) << task;
    EXPECT_NEAR(metric(sum, task + ".ndcg"), e.at("ndcg").get<double>(), 1e-12) << task;
  }
  stagehand::ConfigNode l2 = stage_metrics(dir, "scidocs_e2e", "nearest");
  EXPECT_NEAR(metric(l2, "cocite.map"), uc.at("l2_facets").at("test").at("cocite").at("map").get<double>(), 1e-12);
  EXPECT_NEAR(metric(l2, "cocite.ndcg"), uc.at("l2_facets").at("test").at("cocite").at("ndcg").get<double>(), 1e-12);
}

// An embed stage run with trials (a tiny classifier trained twice, each trial embedding the fixture papers): the
// stage evaluates each trial's embeddings.jsonl, reports the mean with its spread and each trial's value, and
// each trial's value equals a run of the stage on that trial's file alone.
TEST(ScidocsStage, EvaluatesEachTrialOfTheEmbedStage) {
  TempFolder dir;
  copy_fixtures(dir);
  std::set<std::string> ids;
  for (const char* f : {"data/mesh/train.csv", "data/mesh/test.csv"}) {
    std::vector<std::string> lines = read_lines(dir / f);
    for (size_t i = 1; i < lines.size(); ++i) ids.insert(lines[i].substr(0, lines[i].find(',')));
  }
  for (const auto& line : read_lines(dir / "data" / "cite" / "test.qrel")) {
    std::istringstream in(line);
    std::string q, zero, p;
    in >> q >> zero >> p;
    ids.insert(q);
    ids.insert(p);
  }
  const char* words[] = {"cell", "protein", "graph", "network", "theorem", "galaxy", "enzyme", "neural"};
  std::string jsonl;
  size_t i = 0;
  for (const auto& id : ids) {
    std::string text;
    for (size_t w = 0; w < 3 + i % 5; ++w) text += std::string(w ? " " : "") + words[(i * 7 + w * 3) % 8];
    jsonl += fmt::format("{{\"id\": \"{}\", \"text\": \"{}\", \"label\": \"{}\"}}\n", id, text, i % 2 ? "x" : "y");
    ++i;
  }
  write_text(dir / "papers.jsonl", jsonl);
  const std::string data = fmt::format(
      "{{type: text_classification, train: papers.jsonl, id_field: id, max_length: 8, tokenizer: {{type: wordpiece, "
      "vocab: {}/tokenizers/bert-base-uncased-vocab.txt}}}}",
      STAGEHAND_TEST_DATA);
  write_text(dir / "p.yaml", fmt::format(R"(name: scidocs_trials
seed: 11
threads: {{intra_op: 1, blas: 1}}
stages:
  train:
    kind: train
    trials: 2
    data: {data}
    model:
      type: classifier
      encoder: {{type: transformer, vocab_size: 30522, hidden_size: 8, num_layers: 1, num_heads: 2,
                intermediate_size: 16, max_positions: 8}}
    loss: {{type: cross_entropy}}
    batch_size: 16
    steps: 2
  emb: {{kind: embed, model: train, trials: 2, data: {data}, output: scidocs, batch_size: 64}}
  bench: {{kind: scidocs, data_dir: data, tasks: [mesh, cite], classification: emb, user_citation: emb,
           svm_c: [0.1, 10.0]}}
)",
                                         fmt::arg("data", data)));
  auto r = runner("p.yaml", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path stages = dir / "runs" / "scidocs_trials" / "latest" / "stages";
  stagehand::ConfigNode m = stage_metrics(dir, "scidocs_trials", "bench");
  EXPECT_TRUE(fs::exists(stages / "bench" / "cite.trial-1.run"));
  EXPECT_TRUE(fs::exists(stages / "bench" / "cite.trial-2.run"));
  EXPECT_NE(read_text(stages / "bench" / "results.md").find(" ("), std::string::npos);  // mean (std) cells
  // The trials trained from different seeds: their embeddings differ.
  EXPECT_NE(read_text(stages / "emb" / "trial-1" / "embeddings.jsonl"),
            read_text(stages / "emb" / "trial-2" / "embeddings.jsonl"));
  EXPECT_NE(metric(m, "cite.ndcg.std"), 0.0);
  for (int k = 1; k <= 2; ++k) {
    const fs::path file = stages / "emb" / fmt::format("trial-{}", k) / "embeddings.jsonl";
    ASSERT_TRUE(fs::exists(file)) << file;
    write_text(dir / fmt::format("one{}.yaml", k),
               fmt::format("name: scidocs_one{}\nstages:\n  bench: {{kind: scidocs, data_dir: data, tasks: [mesh, "
                           "cite], classification_file: {}, user_citation_file: {}, svm_c: [0.1, 10.0]}}\n",
                           k, file.string(), file.string()));
    auto one = runner(fmt::format("one{}.yaml", k), dir.path());
    ASSERT_EQ(one.exit_code, 0) << one.output;
    stagehand::ConfigNode single = stage_metrics(dir, fmt::format("scidocs_one{}", k), "bench");
    for (const std::string key : {"mesh.f1", "mesh.svm_c", "cite.map", "cite.ndcg"}) {
      const size_t dot = key.find('.');
      EXPECT_EQ(metric(m, key.substr(0, dot) + fmt::format(".trials.{}.", k) + key.substr(dot + 1)),
                metric(single, key))
          << key << " trial " << k;
    }
  }
  for (const std::string key : {"mesh.f1", "cite.map", "cite.ndcg"}) {
    const size_t dot = key.find('.');
    const double a = metric(m, key.substr(0, dot) + ".trials.1." + key.substr(dot + 1));
    const double b = metric(m, key.substr(0, dot) + ".trials.2." + key.substr(dot + 1));
    EXPECT_NEAR(metric(m, key), (a + b) / 2, 1e-15) << key;
    EXPECT_NEAR(metric(m, key + ".std"), std::abs(a - b) / 2, 1e-15) << key;
    EXPECT_EQ(metric(m, key + ".min"), std::min(a, b)) << key;
  }
}

TEST(ScidocsStage, BadInputFailsWithOneLine) {
  TempFolder dir;
  copy_fixtures(dir);
  // A duplicate paper on line 2 of the classification embeddings.
  std::vector<std::string> lines = read_lines(dir / "cls_embeddings.jsonl");
  std::string text = lines[0] + "\n" + lines[0] + "\n";
  for (size_t i = 1; i < lines.size(); ++i) text += lines[i] + "\n";
  write_text(dir / "cls_embeddings.jsonl", text);
  write_text(dir / "p.yaml", R"(name: scidocs_bad
stages:
  bench: {kind: scidocs, data_dir: data, tasks: [mesh], classification_file: cls_embeddings.jsonl}
)");
  auto r = runner("p.yaml", dir.path());
  EXPECT_NE(r.exit_code, 0) << r.output;
  const std::string want = (dir / "cls_embeddings.jsonl").string() + ":2: duplicate paper_id 'mag-train-000' "
                           "(first on line 1); expected each paper once";
  EXPECT_NE(r.output.find(want), std::string::npos) << r.output;

  // A classification task with no embeddings named: one line saying which options to set.
  write_text(dir / "p2.yaml", R"(name: scidocs_none
stages:
  bench: {kind: scidocs, data_dir: data, tasks: [mag, coview], user_citation_file: uc_embeddings.jsonl}
)");
  auto r2 = runner("p2.yaml", dir.path());
  EXPECT_NE(r2.exit_code, 0) << r2.output;
  EXPECT_NE(r2.output.find("tasks mag need embeddings, but neither 'classification'"), std::string::npos)
      << r2.output;

  // A listed task whose folder data_dir lacks.
  fs::create_directories(dir / "empty");
  write_text(dir / "p4.yaml", R"(name: scidocs_nofolder
stages:
  bench: {kind: scidocs, data_dir: empty, tasks: [mesh], classification_file: cls_embeddings.jsonl}
)");
  auto r4 = runner("p4.yaml", dir.path());
  EXPECT_NE(r4.exit_code, 0) << r4.output;
  EXPECT_NE(r4.output.find("option 'tasks' lists 'mesh' but data_dir '" + (dir / "empty").string() +
                           "' has no folder mesh/"),
            std::string::npos)
      << r4.output;

  // A malformed qrel line.
  write_text(dir / "data" / "coread" / "test.qrel", "q1 0 p1 1\nq1 0 p2 x\n");
  write_text(dir / "p3.yaml", R"(name: scidocs_qrel
stages:
  bench: {kind: scidocs, data_dir: data, tasks: [coread], user_citation_file: uc_embeddings.jsonl}
)");
  auto r3 = runner("p3.yaml", dir.path());
  EXPECT_NE(r3.exit_code, 0) << r3.output;
  EXPECT_NE(r3.output.find("test.qrel:2: relevance 'x' is not a non-negative integer"), std::string::npos)
      << r3.output;
}

}  // namespace
