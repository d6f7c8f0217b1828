// SPDX-License-Identifier: Apache-2.0
// Stage kind `scidocs`: the SciDocs benchmark (allenai/scidocs) of paper embeddings. Reads SciDocs' data folder
// (mag/, mesh/: train/val/test.csv; coview/, coread/, cite/, cocite/: val/test.qrel) and embedding JSON lines
// ({"paper_id", "embedding"}, as the `embed` stage writes with output: scidocs, or a file), and returns:
//  - MAG / MeSH: macro-F1 on the split of a LinearSVC whose C is chosen by 3-fold stratified grid search on
//    train.csv (scidocs_svm.h: lightning's LinearSVC as SciDocs, or scikit-learn's on LIBLINEAR); papers without an
//    embedding get a zero vector; multi-facet embeddings are summed into one vector;
//  - co-view / co-read / cite / co-cite: trec_eval's MAP and nDCG (scidocs_metrics.h) of each query's judged
//    candidates ranked by -L2 distance (or cosine / dot, max over facet pairs for multi-facet embeddings).
// Metrics are fractions ("mag.f1", "coview.map", ...; the results table shows them in percent like SciDocs' x100
// numbers), with the chosen C ("mag.svm_c"), its mean CV accuracy ("mag.cv_accuracy"), the split's accuracy and
// counts ("<task>.count.*": papers, queries, papers without an embedding); results.csv, results.md and one TREC run
// file (<task>.run: `qid Q0 pid rank score stagehand`) per user-activity/citation task go to the output folder.
// An embed stage run with trials is evaluated trial by trial and its cells read "mean (std)".
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include <stagehand/plugin.h>
#include <stagehand/results.h>
#include <stagehand/stage.h>
#include <stagehand/files.h>
#include <stagehand/summary.h>

#include "scidocs_io.h"
#include "scidocs_metrics.h"
#include "scidocs_svm.h"

namespace fs = std::filesystem;

namespace stagehand {
namespace {

using namespace scidocs;

const std::vector<std::string> kTasks = {"mag", "mesh", "coview", "coread", "cite", "cocite"};
bool is_classification(const std::string& task) { return task == "mag" || task == "mesh"; }

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// Where one kind of embeddings (classification or user-activity/citation) comes from: one file per trial.
struct Source {
  std::string label;           // the stage's name, or the file's name
  std::vector<fs::path> files;
};

Source resolve_source(StageContext& ctx, const std::string& stage_opt, const std::string& file_opt, bool needed,
                      const std::string& tasks) {
  const Options& o = ctx.options();
  const bool has_stage = o.has(stage_opt), has_file = o.has(file_opt);
  Source s;
  if (!needed) return s;
  SH_CHECK(!(has_stage && has_file),
           "options '{}' and '{}' are both set; expected exactly one source of the embeddings for {}: remove one",
           stage_opt, file_opt, tasks);
  SH_CHECK(has_stage || has_file,
           "tasks {} need embeddings, but neither '{}' (an embed stage with output: scidocs) nor '{}' (a JSON lines "
           "file) is set; set one of them, or leave those tasks out of 'tasks'",
           tasks, stage_opt, file_opt);
  if (has_file) {
    s.files.push_back(o.path(file_opt));
    s.label = s.files.back().filename().string();
    return s;
  }
  const std::string name = o.get<std::string>(stage_opt);
  const StageOutput& up = ctx.upstream(name);
  s.label = name;
  if (up.trials.empty()) {
    s.files.push_back(up.dir / "embeddings.jsonl");
  } else {
    for (const auto& t : up.trials) s.files.push_back(t.dir / "embeddings.jsonl");
  }
  for (const auto& f : s.files)
    SH_CHECK(fs::exists(f),
             "option '{}': stage '{}' wrote no embeddings.jsonl ({} is missing); expected an embed stage with output: "
             "scidocs (output: tensor writes embeddings.pt)",
             stage_opt, name, f.string());
  return s;
}

// X (n x H) of the papers `ids`: their embeddings with the facets summed, or zeros (SciDocs) when absent.
std::vector<double> features(const Embeddings& emb, const std::vector<std::string>& ids, int64_t& missing) {
  const size_t h = static_cast<size_t>(emb.dim), k = static_cast<size_t>(emb.facets);
  std::vector<double> x(ids.size() * h, 0.0);
  for (size_t i = 0; i < ids.size(); ++i) {
    const double* e = emb.find(ids[i]);
    if (!e) {
      ++missing;
      continue;
    }
    for (size_t f = 0; f < k; ++f)
      for (size_t j = 0; j < h; ++j) x[i * h + j] += e[f * h + j];
  }
  return x;
}

struct ClassificationTask {
  std::string name;
  LabeledPapers train, eval;
};

struct QrelTask {
  std::string name;
  Qrels qrels;
};

class ScidocsStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    const fs::path data_dir = o.path("data_dir");
    const std::string split = o.get<std::string>("split");
    const std::string stem = split == "validation" ? "val" : "test";

    // Which tasks: the listed ones (each folder must exist), else every task whose folder exists.
    std::vector<std::string> tasks;
    if (o.has("tasks")) {
      for (const auto& t : o.get<std::vector<std::string>>("tasks")) {
        SH_CHECK(std::find(tasks.begin(), tasks.end(), t) == tasks.end(),
                 "option 'tasks' lists '{}' twice; list each task once", t);
        SH_CHECK(fs::is_directory(data_dir / t),
                 "option 'tasks' lists '{}' but data_dir '{}' has no folder {}/; point data_dir at SciDocs' data "
                 "folder or remove '{}' from tasks",
                 t, data_dir.string(), t, t);
        tasks.push_back(t);
      }
      SH_CHECK(!tasks.empty(), "option 'tasks' is an empty list; list some of {} or leave it out (every task found)",
               join(kTasks, ", "));
    } else {
      for (const auto& t : kTasks)
        if (fs::is_directory(data_dir / t)) tasks.push_back(t);
      SH_CHECK(!tasks.empty(),
               "data_dir '{}' has none of SciDocs' task folders ({}); point data_dir at SciDocs' data folder",
               data_dir.string(), join(kTasks, "/, ") + "/");
    }
    std::vector<std::string> cls_names, uc_names;
    for (const auto& t : tasks) (is_classification(t) ? cls_names : uc_names).push_back(t);

    const Source cls = resolve_source(ctx, "classification", "classification_file", !cls_names.empty(),
                                      join(cls_names, ", "));
    const Source uc = resolve_source(ctx, "user_citation", "user_citation_file", !uc_names.empty(),
                                     join(uc_names, ", "));

    // The task files, read (and checked) before any embedding.
    auto task_file = [&](const std::string& task, const std::string& file) {
      fs::path p = data_dir / task / file;
      SH_CHECK(fs::exists(p), "task '{}' needs {}, which does not exist; expected SciDocs' layout {}/{}/{}", task,
               p.string(), data_dir.string(), task, file);
      return p;
    };
    std::vector<ClassificationTask> cls_tasks;
    std::unordered_set<std::string> cls_ids, uc_ids;
    for (const auto& t : cls_names) {
      ClassificationTask c{t, read_classification_csv(task_file(t, "train.csv")),
                           read_classification_csv(task_file(t, stem + ".csv"))};
      cls_ids.insert(c.train.ids.begin(), c.train.ids.end());
      cls_ids.insert(c.eval.ids.begin(), c.eval.ids.end());
      cls_tasks.push_back(std::move(c));
    }
    std::vector<QrelTask> uc_tasks;
    for (const auto& t : uc_names) {
      QrelTask q{t, read_qrels(task_file(t, stem + ".qrel"))};
      if (q.qrels.duplicates > 0)
        ctx.info(fmt::format("{}: {} repeats {} (query, paper) pairs; the last relevance of each counts, as in "
                             "trec_eval", t, q.qrels.file.string(), q.qrels.duplicates));
      for (const auto& [query, cands] : q.qrels.candidates) {
        uc_ids.insert(query);
        uc_ids.insert(cands.begin(), cands.end());
      }
      uc_tasks.push_back(std::move(q));
    }

    std::vector<double> cs = o.get<std::vector<double>>("svm_c");
    SH_CHECK(!cs.empty(), "option 'svm_c' is an empty list; expected the values of C to try, e.g. [0.01, 0.1, 1]");
    for (double c : cs) SH_CHECK(c > 0, "option 'svm_c' holds {}; expected positive values of C", c);
    const int folds = static_cast<int>(o.get<int64_t>("cv_folds"));
    SvmSettings svm = SvmSettings::defaults(o.get<std::string>("svm") == "liblinear" ? SvmSolver::Liblinear
                                                                                     : SvmSolver::Lightning);
    svm.seed = static_cast<uint32_t>(o.get<int64_t>("svm_seed"));
    if (o.has("svm_tol")) svm.tol = o.get<double>("svm_tol");
    SH_CHECK(svm.tol > 0, "option 'svm_tol' is {}; expected a positive tolerance, e.g. 1e-3", svm.tol);
    const std::string metric_name = o.get<std::string>("user_citation_metric");
    const Similarity sim = metric_name == "cosine" ? Similarity::Cosine
                           : metric_name == "dot"  ? Similarity::Dot
                                                   : Similarity::L2;
    const int decimals = static_cast<int>(o.get<int64_t>("score_decimals"));

    std::vector<std::string> order;                      // metric names, first-seen order
    std::map<std::string, std::vector<double>> values;   // metric -> one value per trial
    auto record = [&](const std::string& key, double v) {
      if (!values.count(key)) order.push_back(key);
      values[key].push_back(v);
    };

    const size_t runs = std::max(cls.files.size(), uc.files.size());
    for (size_t k = 0; k < runs; ++k) {
      const std::string trial = runs > 1 ? fmt::format("trial {}: ", k + 1) : "";
      std::map<fs::path, std::shared_ptr<Embeddings>> loaded;
      auto load = [&](const fs::path& file) {
        auto it = loaded.find(file);
        if (it != loaded.end()) return it->second;
        // Keep only the papers some task asks for (every line is still checked).
        std::unordered_set<std::string> keep;
        if (k < cls.files.size() && cls.files[k] == file) keep.insert(cls_ids.begin(), cls_ids.end());
        if (k < uc.files.size() && uc.files[k] == file) keep.insert(uc_ids.begin(), uc_ids.end());
        auto e = std::make_shared<Embeddings>(read_embeddings(file, &keep));
        ctx.info(fmt::format("{}read {} embeddings ({}{} values) from {}; {} of them are used", trial, e->papers,
                             e->multi ? fmt::format("{} facets x ", e->facets) : "", e->dim, file.string(),
                             e->index.size()));
        loaded[file] = e;
        return e;
      };
      if (k < cls.files.size()) {
        auto emb = load(cls.files[k]);
        for (const auto& t : cls_tasks)
          for (const auto& [key, v] : run_classification(ctx, trial, t, *emb, cs, folds, svm))
            record(t.name + "." + key, v);
      }
      if (k < uc.files.size()) {
        auto emb = load(uc.files[k]);
        for (const auto& t : uc_tasks) {
          const std::string run_file = runs > 1 ? fmt::format("{}.trial-{}.run", t.name, k + 1) : t.name + ".run";
          for (const auto& [key, v] : run_qrels(ctx, trial, t, *emb, sim, decimals, ctx.output_dir() / run_file))
            record(t.name + "." + key, v);
        }
      }
    }

    // Metrics (mean over trials, with their spread and each trial's value when there are several) and the table.
    std::string column = cls.label.empty() ? uc.label : cls.label;
    if (!cls.label.empty() && !uc.label.empty() && cls.label != uc.label) column = cls.label + " + " + uc.label;
    ResultsTable table({column});
    static const std::set<std::string> kHeadline = {"f1", "svm_c", "map", "ndcg"};
    for (const auto& key : order) {
      const std::vector<double>& v = values[key];
      Summary s = summarize(v);
      ctx.metric(key, s.mean);
      if (v.size() > 1) {
        ctx.metric(key + ".std", s.std);
        ctx.metric(key + ".min", s.min);
        ctx.metric(key + ".max", s.max);
        const size_t dot = key.find('.');
        for (size_t k = 0; k < v.size(); ++k)
          ctx.metric(fmt::format("{}.trials.{}.{}", key.substr(0, dot), k + 1, key.substr(dot + 1)), v[k]);
      }
      if (kHeadline.count(key.substr(key.find('.') + 1))) table.set(key, column, v);
    }
    write_file_atomic(ctx.output_dir() / "results.csv", table.csv());
    write_file_atomic(ctx.output_dir() / "results.md", table.markdown());
    ctx.info(fmt::format("SciDocs results on '{}'{}:\n{}", split, runs > 1 ? fmt::format(" ({} trials)", runs) : "",
                         table.markdown()));
  }

 private:
  // MAG / MeSH: GridSearchCV(LinearSVC) on train.csv, macro-F1 on the split (SciDocs' classification.py).
  static std::vector<std::pair<std::string, double>> run_classification(StageContext& ctx, const std::string& trial,
                                                                         const ClassificationTask& t,
                                                                         const Embeddings& emb,
                                                                         const std::vector<double>& cs, int folds,
                                                                         const SvmSettings& svm) {
    int64_t missing_train = 0, missing_eval = 0;
    std::vector<double> x_train = features(emb, t.train.ids, missing_train);
    std::vector<double> x_eval = features(emb, t.eval.ids, missing_eval);
    const size_t n = t.train.ids.size(), h = static_cast<size_t>(emb.dim);
    SH_CHECK(missing_train < static_cast<int64_t>(n),
             "{}: none of the {} papers of {} has an embedding in {}; expected the embeddings of SciDocs' MAG/MeSH "
             "papers (paper_metadata_mag_mesh.json)",
             t.name, n, t.train.file.string(), emb.file.string());
    const int64_t smallest = smallest_class_count(t.train.labels);
    ctx.info(fmt::format("{}{}: {} training papers, {} to score; {} + {} without an embedding get zero vectors (as "
                         "SciDocs); grid search over {} values of C with {}-fold stratified CV",
                         trial, t.name, n, t.eval.ids.size(), missing_train, missing_eval, cs.size(), folds));
    if (smallest < folds)
      ctx.warn(fmt::format("{}{}: the smallest class of {} has {} papers, fewer than cv_folds = {}", trial, t.name,
                           t.train.file.string(), smallest, folds));
    SvmRows rows(x_train, n, h);
    GridSearch g = grid_search_linear_svc(rows, t.train.labels, cs, folds, svm, [&](size_t i, const GridSearch& s) {
      std::string per_fold;
      for (double a : s.fold_accuracy[i]) per_fold += fmt::format("{}{:.4f}", per_fold.empty() ? "" : ", ", a);
      ctx.info(fmt::format("{}{}: C={:g}: cv accuracy {:.4f} (folds {}){}", trial, t.name, s.cs[i],
                           s.mean_accuracy[i], per_fold, unconverged_note(s.unconverged[i], svm)));
      if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
    });
    std::vector<size_t> all(n);
    for (size_t i = 0; i < n; ++i) all[i] = i;
    LinearSvc model = fit_linear_svc(rows, t.train.labels, all, g.best_c(), svm);
    if (model.unconverged > 0)
      ctx.info(fmt::format("{}{}: the refit{}", trial, t.name, unconverged_note(model.unconverged, svm)));
    std::vector<int64_t> pred;
    pred.reserve(t.eval.ids.size());
    for (size_t i = 0; i < t.eval.ids.size(); ++i) pred.push_back(model.predict(x_eval.data() + i * h));
    const double f1 = macro_f1(t.eval.labels, pred);
    const double acc = accuracy(t.eval.labels, pred);
    ctx.info(fmt::format("{}{}: best C={:g} (cv accuracy {:.4f}); refit on {} papers: macro-F1 {:.4f}, accuracy {:.4f} "
                         "on {} papers", trial, t.name, g.best_c(), g.mean_accuracy[g.best], n, f1, acc,
                         t.eval.ids.size()));
    return {{"f1", f1},
            {"accuracy", acc},
            {"svm_c", g.best_c()},
            {"cv_accuracy", g.mean_accuracy[g.best]},
            {"count.train", static_cast<double>(n)},
            {"count.scored", static_cast<double>(t.eval.ids.size())},
            {"count.missing_embeddings", static_cast<double>(missing_train + missing_eval)}};
  }

  // lightning stops silently at max_iter (as SciDocs ran it); say so in the log.
  static std::string unconverged_note(int vectors, const SvmSettings& svm) {
    if (vectors == 0) return "";
    return fmt::format("; {} class vector(s) stopped at max_iter {} before tol {:g}", vectors, svm.max_iter,
                       svm.tol);
  }

  // co-view / co-read / cite / co-cite: rank each query's judged candidates, trec_eval's map and ndcg (SciDocs'
  // user_activity_and_citations.py). As SciDocs: a query without an embedding is skipped; a candidate without one is
  // left out of the run (it still counts as relevant in the qrels, so it lowers AP and nDCG); a query none of whose
  // candidates has an embedding has no run lines and, as in trec_eval, is not evaluated; scores are rounded to
  // `decimals` (SciDocs writes np.round(score, 5) to its run file) before trec_eval's ranking.
  static std::vector<std::pair<std::string, double>> run_qrels(StageContext& ctx, const std::string& trial,
                                                               const QrelTask& t, const Embeddings& emb, Similarity sim,
                                                               int decimals, const fs::path& run_file) {
    int64_t evaluated = 0, skipped = 0, no_candidates = 0, missing_candidates = 0;
    double sum_ap = 0.0, sum_ndcg = 0.0;
    std::string run_text;
    const size_t facets = static_cast<size_t>(emb.facets), dim = static_cast<size_t>(emb.dim);
    for (const auto& q : t.qrels.queries) {
      const double* qe = emb.find(q);
      if (!qe) {
        ++skipped;
        continue;
      }
      std::vector<Scored> run;
      for (const auto& c : t.qrels.candidates.at(q)) {
        const double* ce = emb.find(c);
        if (!ce) {
          ++missing_candidates;
          continue;
        }
        run.push_back({c, round_score(similarity(sim, qe, ce, facets, dim), decimals)});
      }
      if (run.empty()) {
        ++no_candidates;
        continue;
      }
      trec_sort(run);
      QueryMetrics m = trec_query_metrics(run, t.qrels.relevance.at(q));
      sum_ap += m.ap;
      sum_ndcg += m.ndcg;
      ++evaluated;
      for (size_t r = 0; r < run.size(); ++r)
        run_text += fmt::format("{} Q0 {} {} {} stagehand\n", q, run[r].id, r + 1, run[r].score);
    }
    SH_CHECK(evaluated > 0,
             "{}: no query of {} could be evaluated ({} of {} queries have no embedding in {}, {} have no candidate "
             "with one); expected the embeddings of SciDocs' co-view/co-read/cite/co-cite papers "
             "(paper_metadata_view_cite_read.json)",
             t.name, t.qrels.file.string(), skipped, t.qrels.queries.size(), emb.file.string(), no_candidates);
    write_file_atomic(run_file, run_text);
    const double map = sum_ap / static_cast<double>(evaluated), ndcg = sum_ndcg / static_cast<double>(evaluated);
    ctx.info(fmt::format("{}{}: MAP {:.4f}, nDCG {:.4f} over {} queries ({} skipped without an embedding, {} without "
                         "candidates; {} candidates without an embedding left out); run file {}",
                         trial, t.name, map, ndcg, evaluated, skipped, no_candidates, missing_candidates,
                         run_file.filename().string()));
    return {{"map", map},
            {"ndcg", ndcg},
            {"count.queries", static_cast<double>(evaluated)},
            {"count.skipped_queries", static_cast<double>(skipped + no_candidates)},
            {"count.missing_candidates", static_cast<double>(missing_candidates)}};
  }
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  stagehand::OptionSpec tasks;
  tasks.name = "tasks";
  tasks.type = OptionType::List;
  tasks.item_type = OptionType::String;
  tasks.choices = stagehand::kTasks;
  tasks.nullable = true;
  tasks.doc = "which tasks (mag, mesh, coview, coread, cite, cocite); null: every one whose folder is in data_dir";
  registrar
      .add<stagehand::Stage>(
          "scidocs",
          "the SciDocs benchmark of paper embeddings: MAG/MeSH macro-F1 (lightning's LinearSVC) and co-view/co-read/"
          "cite/co-cite MAP and nDCG",
          stagehand::Schema()
              .path("data_dir", "SciDocs' data folder (mag/, mesh/: train/val/test.csv; coview/, coread/, cite/, "
                                "cocite/: val/test.qrel)")
              .add(tasks)
              .choice("split", "test", {"test", "validation"},
                      "which split to score (validation reads val.csv / val.qrel); classifiers always fit on "
                      "train.csv")
              .optional("classification", OptionType::Stage,
                        "an embed stage (output: scidocs) whose embeddings.jsonl holds the MAG/MeSH papers")
              .optional("classification_file", OptionType::Path,
                        "or: the MAG/MeSH embeddings as SciDocs JSON lines ({\"paper_id\", \"embedding\"})")
              .optional("user_citation", OptionType::Stage,
                        "an embed stage (output: scidocs) whose embeddings.jsonl holds the co-view/co-read/cite/"
                        "co-cite papers")
              .optional("user_citation_file", OptionType::Path,
                        "or: the co-view/co-read/cite/co-cite embeddings as SciDocs JSON lines")
              .list("svm_c", OptionType::Float,
                    stagehand::parse_yaml("[0.0001, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0]", "<default>"),
                    "values of the LinearSVC's C tried by the grid search (SciDocs: np.logspace(-4, 2, 7))")
              .opt("cv_folds", int64_t{3}, "folds of the stratified cross-validation that picks C")
              .min(2)
              .choice("svm", "lightning", {"lightning", "liblinear"},
                      "the MAG/MeSH classifier: lightning: SciDocs' lightning.classification.LinearSVC(loss="
                      "\"squared_hinge\") (no intercept, tol 1e-3); liblinear: scikit-learn's LinearSVC("
                      "loss=\"squared_hinge\") (intercept, tol 1e-4)")
              .opt("svm_seed", int64_t{42},
                   "lightning: random_state of LinearSVC (its solver's MT19937 permutations); liblinear: srand() "
                   "seed before each fit (its solver shuffles with rand())")
              .min(0)
              .max(4294967295.0)
              .optional("svm_tol", OptionType::Float,
                        "the solver's stopping tolerance (absent: lightning's 1e-3, scikit-learn's 1e-4)")
              .min(0)
              .choice("user_citation_metric", "l2", {"l2", "cosine", "dot"},
                      "how candidates are scored: l2: -L2 distance (SciDocs); cosine / dot: Multi²SPE's (max over "
                      "facet pairs; l2 then takes the smallest distance)")
              .opt("score_decimals", int64_t{5},
                   "scores are rounded to this many decimals before ranking, as SciDocs' run file (np.round(s, 5)); "
                   "ties then go by paper id as in trec_eval; -1: no rounding")
              .min(-1),
          [](const stagehand::Options&) { return std::make_shared<stagehand::ScidocsStage>(); })
      .with_example(stagehand::parse_yaml("{type: scidocs, data_dir: ., user_citation_metric: cosine}", "<example>"));
}
