// SPDX-License-Identifier: Apache-2.0
// The MAG/MeSH classifier of the `scidocs` stage and the grid search over its C, as SciDocs' classification.py
// runs them: GridSearchCV(lightning.classification.LinearSVC(loss="squared_hinge", random_state=42),
// param_grid={"C": np.logspace(-4, 2, 7)}, cv=3).fit(X_train, y_train).predict(X_test).
//  - SvmSolver::Lightning (default; SciDocs' classifier): lightning's LinearSVC (scikit-learn-contrib/lightning,
//    lightning/impl/dual_cd.py, dual_cd_fast.pyx), written here from its algorithm. Objective per class vector:
//    min_w 0.5 |w|^2 + C sum_i max(0, 1 - y_i w.x_i)^2 with y_i = +1 / -1, NO intercept; one-vs-rest over the sorted
//    classes (one vector, for classes[1], when there are two). Solver: dual coordinate descent on
//    0.5 a'Qa - sum a + sum a_i^2 / (4C), a >= 0 (Q_ii += 1/(2C)), with lightning's defaults tol 1e-3,
//    max_iter 1000, shrinking and a random permutation of the active coordinates before every pass; it stops when
//    the projected gradients of a pass span at most tol (max PG - min PG), over all coordinates when shrinking had
//    removed some. The permutations are lightning's: its RandomState(random_state) is MT19937 seeded by
//    init_genrand (std::mt19937 is the same generator), shuffle() swaps x[i] with x[rk_interval(i)] for i from the
//    end, and one generator serves all the class vectors of a fit in turn. Every sum runs in lightning's order, so
//    on x86-64 without FMA contraction the weights are lightning's bit for bit (tests/plugins/test_scidocs.cpp).
//  - SvmSolver::Liblinear: scikit-learn's LinearSVC(loss="squared_hinge") on LIBLINEAR (Debian's liblinear,
//    <linear.h>): classes passed as 0..K-1, solver L2R_L2LOSS_SVC_DUAL, bias 1 (intercept_scaling 1, the
//    intercept is regularised like a weight), eps (tol) 1e-4, LIBLINEAR's fixed 1000 iterations; zero features are
//    left out of its sparse rows, as scikit-learn's dense-to-sparse conversion does. Its solver shuffles with
//    rand(): srand(seed) before every train() call makes a fit reproducible (scikit-learn's bundled copy draws from
//    its own generator, so solutions agree to the solver's tolerance, not bit for bit).
//  - predict (both): as decision_function + LabelBinarizer.inverse_transform: two classes: classes[1] when
//    w.x + b > 0, else classes[0]; more: the class of the largest w_k.x + b_k, the first (smallest label) on ties.
//    Without an intercept a zero row (a paper without an embedding) scores 0 everywhere and gets classes[0].
//  - grid search: StratifiedKFold(k, shuffle=False) folds (scidocs_metrics.h); each fold trains on the other
//    folds' rows in data order; the score of a C is the mean of its folds' accuracies; the best is the first C
//    (grid order) with the highest mean; the final model is refit on every training row with it.
// Header-only; the includer links liblinear. This file changes LIBLINEAR's global print function (silenced).
#pragma once

#include <linear.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <stagehand/error.h>

#include "scidocs_metrics.h"

namespace stagehand::scidocs {

enum class SvmSolver { Lightning, Liblinear };

struct SvmSettings {
  SvmSolver solver = SvmSolver::Lightning;
  double tol = 1e-3;     ///< stopping tolerance (lightning LinearSVC's default; scikit-learn's LinearSVC: 1e-4)
  int max_iter = 1000;   ///< passes over the data (lightning); LIBLINEAR's is fixed at 1000
  uint32_t seed = 42;    ///< lightning: random_state; LIBLINEAR: srand() before each train() call
  bool shrinking = true; ///< lightning's shrinking of the active set

  /// The defaults of each solver as SciDocs (lightning) and scikit-learn (LIBLINEAR) leave them.
  static SvmSettings defaults(SvmSolver solver) {
    SvmSettings s;
    s.solver = solver;
    s.tol = solver == SvmSolver::Lightning ? 1e-3 : 1e-4;
    return s;
  }
};

/// The training matrix: n dense rows of `dim` values (row-major), which must outlive this object. LIBLINEAR's
/// sparse rows (non-zero features with 1-based indices, the bias feature dim + 1 = 1, the terminator) are built on
/// first use.
class SvmRows {
 public:
  SvmRows(const std::vector<double>& x, size_t n, size_t dim) : dense_(x.data()), n_(n), dim_(dim) {
    SH_CHECK(x.size() == n * dim, "SVM rows: {} values for {} rows of {}", x.size(), n, dim);
  }
  size_t rows() const { return n_; }
  size_t dim() const { return dim_; }
  const double* dense(size_t i) const { return dense_ + i * dim_; }
  feature_node* liblinear_row(size_t i) {
    if (start_.empty()) build_liblinear();
    return nodes_.data() + start_[i];
  }

 private:
  void build_liblinear() {
    start_.reserve(n_);
    for (size_t i = 0; i < n_; ++i) {
      start_.push_back(nodes_.size());
      for (size_t j = 0; j < dim_; ++j)
        if (dense(i)[j] != 0.0) nodes_.push_back({static_cast<int>(j + 1), dense(i)[j]});
      nodes_.push_back({static_cast<int>(dim_ + 1), 1.0});
      nodes_.push_back({-1, 0.0});
    }
  }

  const double* dense_;
  size_t n_, dim_;
  std::vector<feature_node> nodes_;
  std::vector<size_t> start_;
};

/// A fitted linear classifier: one weight vector (and intercept, 0 for lightning) per decision function.
struct LinearSvc {
  std::vector<int64_t> classes;  ///< sorted
  size_t dim = 0;
  std::vector<std::vector<double>> coef;  ///< 1 row for two classes (the decision for classes[1]), else one per class
  std::vector<double> intercept;          ///< one per row of coef
  int unconverged = 0;                    ///< class vectors whose solver stopped at max_iter (lightning)

  double decision(size_t k, const double* x) const {
    const std::vector<double>& w = coef[k];
    double s = 0.0;
    for (size_t j = 0; j < dim; ++j) s += w[j] * x[j];
    return s + intercept[k];
  }
  int64_t predict(const double* x) const {
    if (classes.size() == 2) return decision(0, x) > 0 ? classes[1] : classes[0];
    size_t best = 0;
    double best_value = decision(0, x);
    for (size_t k = 1; k < coef.size(); ++k) {
      const double v = decision(k, x);
      if (v > best_value) {
        best_value = v;
        best = k;
      }
    }
    return classes[best];
  }
};

// ---------------------------------------------------------------- lightning's LinearSVC

/// lightning's RandomState (randomkit, the same stream as numpy's legacy RandomState): MT19937 seeded by
/// init_genrand(seed), and uniform integers in [0, max] by masking 32-bit draws to the smallest 2^k - 1 >= max and
/// drawing again while the value exceeds max (rk_interval).
class LightningRandom {
 public:
  explicit LightningRandom(uint32_t seed) : mt_(seed) {}
  uint32_t interval(uint32_t max) {
    if (max == 0) return 0;
    uint32_t mask = max;
    for (int shift : {1, 2, 4, 8, 16}) mask |= mask >> shift;
    uint32_t v;
    do {
      v = static_cast<uint32_t>(mt_()) & mask;
    } while (v > max);
    return v;
  }
  /// RandomState.shuffle(x[:n]): for i = n-1 down to 1, swap x[i] and x[interval(i)].
  void shuffle(std::vector<size_t>& x, size_t n) {
    for (size_t i = n; i-- > 1;) std::swap(x[i], x[interval(static_cast<uint32_t>(i))]);
  }

 private:
  std::mt19937 mt_;
};

struct DualCdResult {
  std::vector<double> w;
  int passes = 0;
  bool converged = false;
};

/// The dual problem's diagonal: |x_i|^2 (summed in feature order, as lightning's _sqnorms) + d_ii.
inline std::vector<double> dual_diagonal(const SvmRows& rows, const std::vector<size_t>& subset, double d_ii) {
  std::vector<double> qd;
  qd.reserve(subset.size());
  for (size_t i : subset) {
    const double* x = rows.dense(i);
    double sq = 0.0;
    for (size_t j = 0; j < rows.dim(); ++j) sq += x[j] * x[j];
    qd.push_back(sq + d_ii);
  }
  return qd;
}

/// lightning's _dual_cd with loss squared_hinge (no upper bound on a, D_ii = 1/(2C)) on the rows `subset` of
/// `rows` with labels `y` (+1 / -1, one per subset row); coordinates are subset positions, as in lightning's copy
/// X[subset].
inline DualCdResult lightning_dual_cd(const SvmRows& rows, const std::vector<size_t>& subset,
                                      const std::vector<double>& y, double C, const SvmSettings& s,
                                      LightningRandom& rng) {
  const size_t n = subset.size(), dim = rows.dim();
  const double d_ii = 1.0 / (2 * C);
  const std::vector<double> qd = dual_diagonal(rows, subset, d_ii);
  std::vector<double> alpha(n, 0.0);
  std::vector<size_t> active(n);
  for (size_t i = 0; i < n; ++i) active[i] = i;
  size_t active_size = n;
  // lightning's M_bar: the last pass's largest projected gradient. (Its m_bar shrinks coordinates at the upper
  // bound, which squared hinge does not have.)
  double last_pg_max = DBL_MAX;
  DualCdResult r;
  r.w.assign(dim, 0.0);
  std::vector<double>& w = r.w;
  for (r.passes = 0; r.passes < s.max_iter;) {
    ++r.passes;
    rng.shuffle(active, active_size);
    double pg_max = -DBL_MAX, pg_min = DBL_MAX;
    for (size_t k = 0; k < active_size;) {
      const size_t i = active[k];
      const double* x = rows.dense(subset[i]);
      const double alpha_i = std::fabs(alpha[i]);
      double g = 0.0;
      for (size_t j = 0; j < dim; ++j) g += w[j] * x[j];
      g = y[i] * g - 1 + d_ii * alpha_i;
      double pg = 0.0;
      if (alpha_i == 0) {
        if (g < 0) {
          pg = g;
        } else if (g > last_pg_max && s.shrinking) {
          // At the bound and pushing outward by more than the last pass's largest violation: shrink it.
          std::swap(active[k], active[--active_size]);
          continue;
        }
      } else {
        pg = g;
      }
      pg_max = std::max(pg_max, pg);
      pg_min = std::min(pg_min, pg);
      if (std::fabs(pg) > 1e-12) {
        const double updated = std::max(alpha_i - g / qd[i], 0.0);
        alpha[i] = updated * y[i];
        const double step = (updated - alpha_i) * y[i];
        for (size_t j = 0; j < dim; ++j) w[j] += step * x[j];
      }
      ++k;
    }
    if (pg_max - pg_min <= s.tol) {
      if (active_size == n) {
        r.converged = true;
        break;
      }
      // Converged on the shrunk set: one more look at every coordinate before stopping.
      active_size = n;
      last_pg_max = DBL_MAX;
      continue;
    }
    last_pg_max = pg_max <= 0 ? DBL_MAX : pg_max;
  }
  return r;
}

/// lightning's LinearSVC.fit: one vector per class (one for two classes), each from its own dual problem, one
/// RandomState(seed) for all of them in turn.
inline void fit_lightning(LinearSvc& m, const SvmRows& rows, const std::vector<int64_t>& y,
                          const std::vector<size_t>& subset, double C, const SvmSettings& settings) {
  LightningRandom rng(settings.seed);
  const size_t vectors = m.classes.size() == 2 ? 1 : m.classes.size();
  for (size_t k = 0; k < vectors; ++k) {
    const int64_t positive = m.classes[vectors == 1 ? 1 : k];
    std::vector<double> labels;
    labels.reserve(subset.size());
    for (size_t i : subset) labels.push_back(y[i] == positive ? 1.0 : -1.0);
    DualCdResult r = lightning_dual_cd(rows, subset, labels, C, settings, rng);
    m.unconverged += r.converged ? 0 : 1;
    m.coef.push_back(std::move(r.w));
    m.intercept.push_back(0.0);
  }
}

// ---------------------------------------------------------------- scikit-learn's LinearSVC (LIBLINEAR)

namespace detail {
inline void liblinear_silent(const char*) {}
}  // namespace detail

inline void fit_liblinear(LinearSvc& m, SvmRows& rows, const std::vector<int64_t>& y,
                          const std::vector<size_t>& subset, double C, const SvmSettings& settings) {
  std::map<int64_t, int> code;
  for (size_t k = 0; k < m.classes.size(); ++k) code[m.classes[k]] = static_cast<int>(k);
  std::vector<double> labels;
  std::vector<feature_node*> x;
  labels.reserve(subset.size());
  x.reserve(subset.size());
  for (size_t i : subset) {
    labels.push_back(static_cast<double>(code[y[i]]));
    x.push_back(rows.liblinear_row(i));
  }
  problem prob{};
  prob.l = static_cast<int>(subset.size());
  prob.n = static_cast<int>(rows.dim()) + 1;
  prob.y = labels.data();
  prob.x = x.data();
  prob.bias = 1.0;
  parameter param{};
  param.solver_type = L2R_L2LOSS_SVC_DUAL;
  param.eps = settings.tol;
  param.C = C;
  param.p = 0.1;
  if (const char* err = check_parameter(&prob, &param))
    throw Error(fmt::format("LIBLINEAR refused the problem: {}", err));
  set_print_string_function(&detail::liblinear_silent);
  std::srand(settings.seed);
  model* raw = train(&prob, &param);
  SH_CHECK(raw != nullptr, "LIBLINEAR's train() returned no model (C {}, {} examples)", C, subset.size());
  const int nr_class = raw->nr_class;
  const size_t columns = nr_class == 2 ? 1 : static_cast<size_t>(nr_class);
  m.coef.assign(columns, std::vector<double>(m.dim, 0.0));
  m.intercept.assign(columns, 0.0);
  for (size_t c = 0; c < columns; ++c) {
    // Two classes: LIBLINEAR's one vector decides for label[0] (its first class by order of appearance),
    // scikit-learn's for classes[1]. More: column c is the vector of class label[c].
    const size_t row = nr_class == 2 ? 0 : static_cast<size_t>(raw->label[c]);
    const double sign = nr_class == 2 && raw->label[0] != 1 ? -1.0 : 1.0;
    for (size_t j = 0; j < m.dim; ++j) m.coef[row][j] = sign * raw->w[j * columns + c];
    m.intercept[row] = sign * raw->w[m.dim * columns + c];
  }
  free_and_destroy_model(&raw);
}

// ---------------------------------------------------------------- fit, grid search

/// Fits the classifier of `settings.solver` with C on rows `subset` of `rows` (in that order) with labels `y`
/// (indexed like `rows`).
inline LinearSvc fit_linear_svc(SvmRows& rows, const std::vector<int64_t>& y, const std::vector<size_t>& subset,
                                double C, const SvmSettings& settings) {
  SH_CHECK(C > 0, "LinearSVC: C is {}; expected a positive value", C);
  LinearSvc m;
  m.dim = rows.dim();
  std::set<int64_t> distinct;
  for (size_t i : subset) distinct.insert(y[i]);
  m.classes.assign(distinct.begin(), distinct.end());
  SH_CHECK(m.classes.size() >= 2,
           "LinearSVC: the {} training examples all have class {}; expected examples of at least 2 classes",
           subset.size(), m.classes.empty() ? 0 : m.classes[0]);
  if (settings.solver == SvmSolver::Lightning)
    fit_lightning(m, rows, y, subset, C, settings);
  else
    fit_liblinear(m, rows, y, subset, C, settings);
  return m;
}

struct GridSearch {
  std::vector<double> cs;
  std::vector<std::vector<double>> fold_accuracy;  ///< [C][fold]
  std::vector<double> mean_accuracy;               ///< [C]
  std::vector<int> unconverged;                    ///< [C]: class vectors over all folds that hit max_iter
  size_t best = 0;
  std::vector<int> test_folds;
  double best_c() const { return cs[best]; }
};

/// GridSearchCV(LinearSVC, {"C": cs}, cv=StratifiedKFold(n_splits)) on `rows` with labels `y`.
/// `on_c(i, search)` is called after the folds of cs[i] are scored (for progress lines and interruption).
inline GridSearch grid_search_linear_svc(SvmRows& rows, const std::vector<int64_t>& y, const std::vector<double>& cs,
                                         int n_splits, const SvmSettings& settings,
                                         const std::function<void(size_t, const GridSearch&)>& on_c = {}) {
  SH_CHECK(!cs.empty(), "grid search: no values of C to try; expected at least one");
  GridSearch g;
  g.cs = cs;
  g.test_folds = stratified_test_folds(y, n_splits);
  for (size_t ci = 0; ci < cs.size(); ++ci) {
    std::vector<double> accs;
    int unconverged = 0;
    for (int f = 0; f < n_splits; ++f) {
      std::vector<size_t> train_rows, test_rows;
      for (size_t i = 0; i < y.size(); ++i) (g.test_folds[i] == f ? test_rows : train_rows).push_back(i);
      LinearSvc m = fit_linear_svc(rows, y, train_rows, cs[ci], settings);
      unconverged += m.unconverged;
      std::vector<int64_t> truth, pred;
      for (size_t i : test_rows) {
        truth.push_back(y[i]);
        pred.push_back(m.predict(rows.dense(i)));
      }
      accs.push_back(accuracy(truth, pred));
    }
    double sum = 0.0;
    for (double a : accs) sum += a;
    g.fold_accuracy.push_back(accs);
    g.mean_accuracy.push_back(sum / static_cast<double>(accs.size()));
    g.unconverged.push_back(unconverged);
    if (g.mean_accuracy.back() > g.mean_accuracy[g.best]) g.best = ci;
    if (on_c) on_c(ci, g);
  }
  return g;
}

}  // namespace stagehand::scidocs
