#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the fixtures of tests/plugins/test_scidocs.cpp (stage `scidocs`) and their expected values:

  data/{mag,mesh}/{train,val,test}.csv            SciDocs-layout classification splits (header, paper id, label)
  data/{coview,coread,cite,cocite}/{val,test}.qrel  SciDocs-layout qrels (qid 0 pid rel)
  cls_embeddings.jsonl                            {"paper_id", "embedding": [6 floats]} for MAG/MeSH papers
  uc_embeddings.jsonl                             {"paper_id", "embedding": [4 floats]} for the qrel papers
  uc_facets.jsonl                                 {"paper_id", "embedding": [[3 floats] x 3]} for the same papers
  expected.json                                   lightning's / scikit-learn's / trec_eval's numbers on all of it

How it was run (Debian 12: python3-sklearn 1.2.1, python3-numpy 1.24.2, cython3 0.29.32):
  apt-get install cython3
  (a checkout of scikit-learn-contrib/lightning at commit dbbe833, version 0.6.3.dev0, in /tmp/lightning)
  /usr/bin/python3 tests/data/scidocs_reference/build_lightning.py /tmp/lightning
  LIGHTNING_SRC=/tmp/lightning /usr/bin/python3 tests/data/scidocs_reference/make_expected.py

The MAG/MeSH classifier, two ways, on the same data ("svm" cases):
  "lightning"  SciDocs' own (scidocs/classification.py, classify()): GridSearchCV(lightning.classification.
               LinearSVC(loss="squared_hinge", random_state=42), param_grid={"C": Cs}, cv=3), fitted, then
               predict and f1_score(average="macro"), run with lightning itself (its dual_cd_fast and randomkit
               extensions built from source; the algorithm is unchanged since lightning 0.5.0, the release SciDocs'
               conda environment would have installed). Also every fold's and the refit's weights (coef_), and the
               refit problem solved at tol 1e-10 by lightning and by sklearn.svm.LinearSVC(loss="squared_hinge",
               dual=True, fit_intercept=False), the same objective by another solver (asserted equal to 1e-8).
  "liblinear"  GridSearchCV(sklearn.svm.LinearSVC(loss="squared_hinge")) (the stage's `svm: liblinear`).
SciDocs pinned scikit-learn 0.22.2; the parts used here (StratifiedKFold's fold assignment, rewritten in 0.22,
GridSearchCV's mean of fold accuracies and first-best choice, LabelBinarizer, f1_score) are the same in 1.2.
"shuffle": lightning's RandomState(42).shuffle steps (the solver's permutations), checked equal to numpy's legacy
RandomState(42), which draws the same MT19937 stream.

Other references: scikit-learn 1.2's StratifiedKFold test folds, f1_score(average="macro"), average_precision_score
and ndcg_score. The user-activity and citation metrics are trec_eval's `map` / `ndcg` (no cutoff) written out below
from their definitions (trec_eval's m_map.c, m_ndcg.c, form_res_rels.c; pytrec_eval is not packaged for Debian),
with SciDocs' run making (user_activity_and_citations.py: -np.linalg.norm(q - c), np.round(score, 5), queries and
candidates without an embedding left out), and cross-checked against scikit-learn where the two agree (distinct
scores, every judged candidate ranked).

LIBLINEAR (Debian's liblinear, called by the stage for `svm: liblinear`) and scikit-learn's bundled copy shuffle
with different random generators, so their solutions agree only to the solver's tolerance. When Debian's
liblinear.so.4 is present this script refits every model with it (through ctypes, srand(42) before each fit, as the
stage) and asserts that every prediction agrees with scikit-learn's: the data below (seeds included) were picked so
that they do.

Everything is drawn from fixed seeds, so rerunning reproduces the files byte for byte (for one scikit-learn and
lightning version).
"""
import ctypes
import ctypes.util
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, f1_score, ndcg_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import LinearSVC

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
# SciDocs' grid is np.logspace(-4, 2, 7), whose 1e-4 and 0.1 come out one ulp low (9.999999999999999e-05,
# 0.09999999999999999); the stage's default (and this reference) uses the decimal values.
CS = [0.0001, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0]
assert np.allclose(CS, np.logspace(-4, 2, 7), rtol=1e-15, atol=0)
SVM_SEED = 42
SCALE = 0.15


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def r6(a):
    return [round(float(v), 6) for v in a]


# ---------------------------------------------------------------- LIBLINEAR through ctypes (agreement check only)

class FeatureNode(ctypes.Structure):
    _fields_ = [("index", ctypes.c_int), ("value", ctypes.c_double)]


class Problem(ctypes.Structure):
    _fields_ = [("l", ctypes.c_int), ("n", ctypes.c_int), ("y", ctypes.POINTER(ctypes.c_double)),
                ("x", ctypes.POINTER(ctypes.POINTER(FeatureNode))), ("bias", ctypes.c_double)]


class Parameter(ctypes.Structure):
    _fields_ = [("solver_type", ctypes.c_int), ("eps", ctypes.c_double), ("C", ctypes.c_double),
                ("nr_weight", ctypes.c_int), ("weight_label", ctypes.POINTER(ctypes.c_int)),
                ("weight", ctypes.POINTER(ctypes.c_double)), ("p", ctypes.c_double),
                ("init_sol", ctypes.POINTER(ctypes.c_double))]


class Model(ctypes.Structure):
    _fields_ = [("param", Parameter), ("nr_class", ctypes.c_int), ("nr_feature", ctypes.c_int),
                ("w", ctypes.POINTER(ctypes.c_double)), ("label", ctypes.POINTER(ctypes.c_int)),
                ("bias", ctypes.c_double)]


def load_liblinear():
    try:
        lib = ctypes.CDLL("liblinear.so.4")
    except OSError:
        return None, None
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    lib.train.restype = ctypes.POINTER(Model)
    lib.train.argtypes = [ctypes.POINTER(Problem), ctypes.POINTER(Parameter)]
    lib.free_and_destroy_model.argtypes = [ctypes.POINTER(ctypes.POINTER(Model))]
    PRINT = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
    lib._quiet = PRINT(lambda s: None)
    lib.set_print_string_function(lib._quiet)
    return lib, libc


LIBLINEAR, LIBC = load_liblinear()


# ---------------------------------------------------------------- lightning (SciDocs' classifier)

def load_lightning():
    """lightning's LinearSVC (lightning.classification.LinearSVC is lightning.impl.dual_cd.LinearSVC) and its
    RandomState, from a source checkout of scikit-learn-contrib/lightning whose three extensions LinearSVC needs were
    built in place by build_lightning.py; LIGHTNING_SRC names the checkout."""
    root = os.environ.get("LIGHTNING_SRC")
    if not root:
        sys.exit("set LIGHTNING_SRC to a lightning checkout built with build_lightning.py (see its header)")
    sys.path.insert(0, root)
    import lightning
    from lightning.impl.dual_cd import LinearSVC as svc
    from lightning.impl.randomkit import RandomState
    return svc, RandomState, lightning.__version__


LIGHTNING_SVC, LIGHTNING_RANDOM_STATE, LIGHTNING_VERSION = load_lightning()


def liblinear_predict(X_train, y_train, X_test, C):
    """The stage's LinearSVC: Debian LIBLINEAR, labels = sorted classes as 0..K-1, bias 1, srand(42)."""
    classes = sorted(set(y_train))
    code = {c: i for i, c in enumerate(classes)}
    n, d = X_train.shape
    rows = []
    for x in X_train:
        nodes = [(j + 1, v) for j, v in enumerate(x) if v != 0] + [(d + 1, 1.0), (-1, 0.0)]
        rows.append((FeatureNode * len(nodes))(*nodes))
    xs = (ctypes.POINTER(FeatureNode) * n)(*[ctypes.cast(r, ctypes.POINTER(FeatureNode)) for r in rows])
    ys = (ctypes.c_double * n)(*[float(code[v]) for v in y_train])
    prob = Problem(n, d + 1, ys, xs, 1.0)
    param = Parameter(1, 1e-4, C, 0, None, None, 0.1, None)
    LIBC.srand(SVM_SEED)
    m = LIBLINEAR.train(ctypes.byref(prob), ctypes.byref(param))
    k = m.contents.nr_class
    labels = [m.contents.label[i] for i in range(k)]
    cols = 1 if k == 2 else k
    W = np.array([[m.contents.w[j * cols + c] for c in range(cols)] for j in range(d + 1)])
    LIBLINEAR.free_and_destroy_model(ctypes.byref(m))
    Xb = np.hstack([X_test, np.ones((len(X_test), 1))])
    if k == 2:
        s = Xb @ W[:, 0] * (1.0 if labels[0] == 1 else -1.0)
        return [classes[1] if v > 0 else classes[0] for v in s]
    scores = np.zeros((len(X_test), len(classes)))
    for c in range(k):
        scores[:, labels[c]] = Xb @ W[:, c]
    return [classes[i] for i in scores.argmax(axis=1)]


# ---------------------------------------------------------------- classification

def blobs(rng, n_per_class, labels, dim, spread, scale=SCALE):
    """Overlapping Gaussian classes. Small values (scale) keep the dual solver converging within LIBLINEAR's 1000
    iterations up to C = 100, where both implementations then agree."""
    centers = {c: rng.normal(0.0, 1.0, dim) for c in labels}
    pts = []
    for c, n in zip(labels, n_per_class):
        for _ in range(n):
            pts.append((c, scale * (centers[c] + rng.normal(0.0, spread, dim))))
    order = rng.permutation(len(pts))
    return [pts[i] for i in order]


def sklearn_reference(X_train, y_train, X_test, y_test, test_folds, folds):
    """GridSearchCV(sklearn.svm.LinearSVC(loss="squared_hinge")): the stage's `svm: liblinear`."""
    gs = GridSearchCV(LinearSVC(loss="squared_hinge", random_state=0), {"C": CS}, cv=folds)
    gs.fit(X_train, y_train)
    pred = gs.predict(X_test)
    res = gs.cv_results_
    out = {
        "mean_accuracy": [float(v) for v in res["mean_test_score"]],
        "fold_accuracy": [[float(res[f"split{f}_test_score"][i]) for f in range(folds)] for i in range(len(CS))],
        "best_c": float(gs.best_params_["C"]),
        "pred": [int(v) for v in pred],
        "f1": float(f1_score(y_test, pred, average="macro")),
        "accuracy": float(np.mean(np.asarray(pred) == np.asarray(y_test))),
    }
    if LIBLINEAR is not None:
        for ci, C in enumerate(CS):
            for f in range(folds):
                tr, te = test_folds != f, test_folds == f
                ours = liblinear_predict(X_train[tr], list(y_train[tr]), X_train[te], C)
                ref = LinearSVC(loss="squared_hinge", random_state=0, C=C).fit(X_train[tr], y_train[tr])
                assert list(ref.predict(X_train[te])) == ours, f"C={C} fold {f}: LIBLINEAR and sklearn differ"
        ours = liblinear_predict(X_train, list(y_train), X_test, out["best_c"])
        assert ours == out["pred"], "refit: LIBLINEAR and sklearn differ"
    return out


def margin(scores, X):
    """How far predictions are from a tie: |w.x| (one vector), else the gap between the two largest w_k.x. Zero
    rows (papers without an embedding) are left out: without an intercept all their scores are exactly 0, a tie
    that every implementation breaks the same way (the first class)."""
    scores = np.asarray(scores)[np.any(X != 0, axis=1)]
    if scores.ndim == 1 or scores.shape[1] == 1:
        return float(np.min(np.abs(scores)))
    top = np.sort(scores, axis=1)
    return float(np.min(top[:, -1] - top[:, -2]))


def lightning_reference(X_train, y_train, X_test, y_test, test_folds, folds):
    """SciDocs' classify(): GridSearchCV(lightning LinearSVC(loss="squared_hinge", random_state=42), {"C": Cs},
    cv=3), predict, f1_score(average="macro"); with every fold's and the refit's weights (coef_), and the refit C's
    problem solved to a tight tolerance by lightning and by sklearn.svm.LinearSVC(fit_intercept=False), the same
    objective (0.5 |w|^2 + C sum squared hinge, one-vs-rest, no intercept) by another solver."""
    gs = GridSearchCV(LIGHTNING_SVC(loss="squared_hinge", random_state=SVM_SEED), param_grid={"C": CS}, cv=folds)
    gs.fit(X_train, y_train)
    pred = gs.predict(X_test)
    res = gs.cv_results_
    margins = [margin(gs.best_estimator_.decision_function(X_test), X_test)]
    fold_coef = []
    for ci, C in enumerate(CS):
        per_fold = []
        for f in range(folds):
            tr, te = np.flatnonzero(test_folds != f), np.flatnonzero(test_folds == f)
            m = LIGHTNING_SVC(loss="squared_hinge", random_state=SVM_SEED, C=C).fit(X_train[tr], y_train[tr])
            acc = float(np.mean(m.predict(X_train[te]) == y_train[te]))
            assert acc == res[f"split{f}_test_score"][ci], f"C={C} fold {f}: not GridSearchCV's fold"
            margins.append(margin(m.decision_function(X_train[te]), X_train[te]))
            per_fold.append([[float(v) for v in row] for row in m.coef_])
        fold_coef.append(per_fold)
    # Predictions are decided by at least this much (so summation-order rounding cannot flip one).
    assert min(margins) > 1e-9, f"a prediction is a near tie: {min(margins)}"
    best_c = float(gs.best_params_["C"])
    tight = dict(tol=1e-10, max_iter=1000000)
    light = LIGHTNING_SVC(loss="squared_hinge", random_state=SVM_SEED, C=best_c, **tight).fit(X_train, y_train)
    sk = LinearSVC(loss="squared_hinge", dual=True, fit_intercept=False, C=best_c, random_state=0,
                   **tight).fit(X_train, y_train)
    diff = float(np.max(np.abs(light.coef_ - sk.coef_)))
    assert diff < 1e-8 * max(1.0, float(np.max(np.abs(sk.coef_)))), f"lightning and sklearn disagree by {diff}"
    return {
        "mean_accuracy": [float(v) for v in res["mean_test_score"]],
        "fold_accuracy": [[float(res[f"split{f}_test_score"][i]) for f in range(folds)] for i in range(len(CS))],
        "best_c": best_c,
        "pred": [int(v) for v in pred],
        "f1": float(f1_score(y_test, pred, average="macro")),
        "accuracy": float(np.mean(np.asarray(pred) == np.asarray(y_test))),
        "coef": [[float(v) for v in row] for row in gs.best_estimator_.coef_],
        "fold_coef": fold_coef,
        "min_margin": min(margins),
        "tight": {**tight, "sklearn_coef": [[float(v) for v in row] for row in sk.coef_],
                  "lightning_minus_sklearn": diff},
    }


def grid_reference(name, X_train, y_train, X_test, y_test, folds=3):
    y_train = np.asarray(y_train)
    skf = StratifiedKFold(n_splits=folds)
    test_folds = np.empty(len(y_train), dtype=int)
    for f, (_, te) in enumerate(skf.split(X_train, y_train)):
        test_folds[te] = f
    out = {
        "name": name,
        "X_train": [r6(x) for x in X_train], "y_train": [int(v) for v in y_train],
        "X_test": [r6(x) for x in X_test], "y_test": [int(v) for v in y_test],
        "cs": CS, "folds": folds,
        "test_folds": [int(v) for v in test_folds],
        "lightning": lightning_reference(X_train, y_train, X_test, y_test, test_folds, folds),
        "liblinear": sklearn_reference(X_train, y_train, X_test, y_test, test_folds, folds),
    }
    for kind in ("lightning", "liblinear"):
        acc = out[kind]["mean_accuracy"]
        assert len(set(acc)) > 1, f"{name}: C does not matter for {kind}: {acc}"
    return out


def classification(rng):
    """MAG (4 classes) and MeSH (3 classes) splits over one embeddings file; a few papers have no embedding."""
    emb = {}
    files = {}
    cases = {}
    specs = {
        "mag": dict(labels=[3, 0, 7, 5], train=[30, 24, 20, 22], val=[8, 7, 6, 6], test=[10, 8, 6, 8], spread=0.9),
        "mesh": dict(labels=[2, 9, 4], train=[28, 25, 22], val=[7, 6, 7], test=[9, 10, 8], spread=0.8),
    }
    for task, s in specs.items():
        sizes = [a + b + c for a, b, c in zip(s["train"], s["val"], s["test"])]
        pts = blobs(rng, sizes, s["labels"], 6, s["spread"])
        by_class = {c: [p for p in pts if p[0] == c] for c in s["labels"]}
        splits = {"train": [], "val": [], "test": []}
        for ci, c in enumerate(s["labels"]):
            a, b = s["train"][ci], s["val"][ci]
            splits["train"] += by_class[c][:a]
            splits["val"] += by_class[c][a:a + b]
            splits["test"] += by_class[c][a + b:]
        for split, rows in splits.items():
            order = rng.permutation(len(rows))
            rows = [rows[i] for i in order]
            ids = [f"{task}-{split}-{i:03d}" for i in range(len(rows))]
            text = "pid,class_label\n" + "".join(f"{pid},{c}\n" for pid, (c, _) in zip(ids, rows))
            files[f"{task}/{split}.csv"] = text
            for pid, (c, x) in zip(ids, rows):
                emb[pid] = r6(x)
            splits[split] = (ids, rows)
        # Papers without an embedding: SciDocs gives them zero vectors.
        for pid in (splits["train"][0][4], splits["train"][0][11], splits["test"][0][2], splits["val"][0][5]):
            del emb[pid]
        def xy(split):
            ids, rows = splits[split]
            X = np.array([emb.get(pid, [0.0] * 6) for pid in ids])
            return X, [c for c, _ in rows]
        Xtr, ytr = xy("train")
        for split in ("test", "val"):
            Xte, yte = xy(split)
            cases[f"{task}.{split}"] = grid_reference(f"{task}.{split}", Xtr, ytr, Xte, yte)
    for rel, text in files.items():
        write(os.path.join(DATA, rel), text)
    return emb, cases


def binary_case(rng):
    pts = blobs(rng, [34, 26], [1, 0], 4, 1.1)
    X = np.array([r6(x) for _, x in pts])
    y = [c for c, _ in pts]
    return grid_reference("binary", X[:45], y[:45], X[45:], y[45:])


# ---------------------------------------------------------------- user activity and citations (trec_eval)

def trec_metrics(run, qrels):
    """trec_eval map and ndcg of one query. run: [(pid, score)], qrels: {pid: rel}."""
    ranked = sorted(run, key=lambda p: p[0], reverse=True)      # ties: document id descending ...
    ranked = sorted(ranked, key=lambda p: p[1], reverse=True)   # ... under score descending (stable sort)
    num_rel = sum(1 for r in qrels.values() if r >= 1)
    s, found, dcg = 0.0, 0, 0.0
    for i, (pid, _) in enumerate(ranked):
        rel = qrels.get(pid, 0)
        if rel >= 1:
            found += 1
            s += found / (i + 1)
        if rel > 0:
            dcg += rel / np.log2(i + 2)
    ideal = sorted((r for r in qrels.values() if r > 0), reverse=True)
    idcg = 0.0
    for i, r in enumerate(ideal):
        idcg += r / np.log2(i + 2)
    return (s / num_rel if found else 0.0), (dcg / idcg if idcg > 0 else 0.0), ranked


def scidocs_score(q, c, metric):
    """SciDocs' -||q - c|| (np.linalg.norm), or Multi²SPE's facet forms; q, c: (K, H) arrays."""
    if metric == "l2":
        return -min(float(np.linalg.norm(a - b)) for a in q for b in c)
    if metric == "dot":
        return max(float(np.dot(a, b)) for a in q for b in c)
    def cos(a, b):
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return 0.0 if na == 0 or nb == 0 else float(np.dot(a, b) / (na * nb))
    return max(cos(a, b) for a in q for b in c)


def evaluate_qrels(qrel_text, emb, metric):
    qrels, order = {}, []
    for line in qrel_text.splitlines():
        qid, _, pid, rel = line.split()
        if qid not in qrels:
            qrels[qid] = {}
            order.append(qid)
        qrels[qid][pid] = int(rel)
    aps, ndcgs, run_lines = [], [], []
    skipped = missing = 0
    for qid in order:
        if qid not in emb:
            skipped += 1
            continue
        run = []
        for pid in qrels[qid]:
            if pid not in emb:
                missing += 1
                continue
            run.append((pid, float(np.round(scidocs_score(np.array(emb[qid]), np.array(emb[pid]), metric), 5))))
        if not run:
            skipped += 1
            continue
        ap, nd, ranked = trec_metrics(run, qrels[qid])
        aps.append(ap)
        ndcgs.append(nd)
        run_lines += [f"{qid} Q0 {pid} {i + 1}" for i, (pid, _) in enumerate(ranked)]
        # Cross-check: with distinct scores and every judged candidate ranked, trec_eval = scikit-learn.
        scores = [s for _, s in run]
        if len(set(scores)) == len(scores) and len(run) == len(qrels[qid]) and len(run) > 1:
            y = [qrels[qid][p] for p, _ in run]
            if any(v > 0 for v in y):
                assert abs(average_precision_score([int(v >= 1) for v in y], scores) - ap) < 1e-12
                assert abs(ndcg_score([y], [scores]) - nd) < 1e-12
    return {"map": float(np.mean(aps)), "ndcg": float(np.mean(ndcgs)), "queries": len(aps),
            "skipped_queries": skipped, "missing_candidates": missing}, run_lines


def user_citation(rng):
    """Per task and split: 7 queries of 6-9 judged candidates. Embeddings of 4 values (plain) and 3 x 3 (facets).
    Special cases: a query without an embedding, a relevant candidate without one, a query whose only candidates
    have none, a repeated (query, paper) line, two candidates with identical embeddings (tied scores), and a graded
    relevance of 2 in cite."""
    flat, facets = {}, {}
    files = {}

    def paper(pid):
        if pid not in flat:
            flat[pid] = r6(rng.normal(0.0, 1.0, 4))
            facets[pid] = [r6(rng.normal(0.0, 1.0, 3)) for _ in range(3)]
        return pid

    drop = set()
    for ti, task in enumerate(["coview", "coread", "cite", "cocite"]):
        for split in ("val", "test"):
            lines = []
            for qi in range(7):
                q = paper(f"{task}-{split}-q{qi}")
                n = 6 + (qi + ti) % 4
                cands = [paper(f"{task}-{split}-q{qi}-c{ci}") for ci in range(n)]
                rels = [1 if rng.random() < 0.4 else 0 for _ in cands]
                rels[qi % n] = 1
                if task == "cite" and qi == 1:
                    rels[0] = 2
                for c, r in zip(cands, rels):
                    lines.append(f"{q} 0 {c} {r}")
                if qi == 2:  # two candidates with the same embedding: tied scores, ordered by id descending
                    flat[cands[1]] = list(flat[cands[4]])
                    facets[cands[1]] = [list(v) for v in facets[cands[4]]]
                if qi == 3:  # a relevant candidate without an embedding still counts in the qrels
                    lines.append(f"{q} 0 {task}-{split}-q3-gone 1")
                if qi == 4 and split == "test":  # a repeated line: the last relevance counts
                    lines.append(f"{q} 0 {cands[0]} {1 - rels[0]}")
            lines.append(f"{task}-{split}-noemb 0 {cands[0]} 1")          # a query without an embedding
            lines.append(f"{task}-{split}-lonely 0 {task}-{split}-x 1")   # only a candidate without one
            paper(f"{task}-{split}-lonely")
            drop.add(f"{task}-{split}-x")
            files[f"{task}/{split}.qrel"] = "".join(l + "\n" for l in lines)
    for p in drop:
        flat.pop(p, None)
        facets.pop(p, None)
    for rel, text in files.items():
        write(os.path.join(DATA, rel), text)
    expected = {}
    for metric, emb in (("l2", flat), ("cosine", facets), ("dot", facets), ("l2_facets", facets)):
        for rel, text in files.items():
            task, split = rel.split("/")
            split = split.split(".")[0]
            m, run_lines = evaluate_qrels(text, {k: (v if metric in ("cosine", "dot", "l2_facets") else [v])
                                                  for k, v in emb.items()}, metric.replace("_facets", ""))
            expected.setdefault(metric, {}).setdefault("validation" if split == "val" else "test", {})[task] = m
            if metric == "l2" and split == "test":
                expected.setdefault("l2_runs", {})[task] = run_lines
    return flat, facets, expected


def ranking_cases(rng):
    """Random queries with distinct scores: trec_eval's AP / nDCG equal scikit-learn's."""
    cases = []
    for i in range(6):
        n = 5 + i * 2
        scores = [float(v) for v in rng.permutation(n) * 0.37 - 1.0]
        rels = [int(v) for v in rng.integers(0, 3 if i % 2 else 2, n)]
        if not any(rels):
            rels[0] = 1
        cases.append({"scores": scores, "rels": rels,
                      "average_precision": float(average_precision_score([int(r >= 1) for r in rels], scores)),
                      "ndcg": float(ndcg_score([rels], [scores]))})
    return cases


def f1_cases():
    cases = [
        # class 9 is predicted but never true; class 4 is true but never predicted
        {"y_true": [0, 0, 1, 1, 1, 4, 4, 2, 2, 0], "y_pred": [0, 1, 1, 1, 9, 0, 1, 2, 9, 0]},
        {"y_true": [5, 5, 5, 3, 3, 3, 3], "y_pred": [5, 5, 5, 3, 3, 3, 3]},
        {"y_true": [1, 2, 3, 1, 2, 3], "y_pred": [2, 3, 1, 2, 3, 1]},
    ]
    for c in cases:
        c["f1"] = float(f1_score(c["y_true"], c["y_pred"], average="macro"))
    return cases


def shuffle_cases():
    """lightning's RandomState(42).shuffle on a prefix of an index array, one generator across the steps as in one
    fit (the dual solver shuffles its active set, a shrinking prefix, every pass). fresh: start from 0..size-1."""
    rs = LIGHTNING_RANDOM_STATE(seed=SVM_SEED)
    legacy = np.random.RandomState(SVM_SEED)   # numpy's legacy generator draws the same stream
    steps = []
    a = b = None
    for size, prefix in ((12, 12), (12, 9), (12, 1), (12, 2), (600, 600), (600, 317)):
        fresh = a is None or len(a) != size
        if fresh:
            a = np.arange(size, dtype=np.int32)
            b = a.copy()
        rs.shuffle(a[:prefix])
        legacy.shuffle(b[:prefix])
        assert (a == b).all()
        steps.append({"size": size, "prefix": prefix, "fresh": fresh, "result": [int(v) for v in a]})
    return {"seed": SVM_SEED, "steps": steps}


def fold_cases():
    ys = [
        [3, 3, 1, 2, 1, 3, 2, 2, 1, 3, 1, 1, 2, 3, 3, 1],
        [7, 7, 7, 7, 7, 0, 0, 5, 5, 5, 0, 7, 5, 0, 7, 7, 7],
        [1, 0, 1, 1, 0, 1, 0, 1, 1, 1],
    ]
    out = []
    for y in ys:
        for k in (2, 3, 4):
            folds = np.empty(len(y), dtype=int)
            for f, (_, te) in enumerate(StratifiedKFold(n_splits=k).split(np.zeros(len(y)), y)):
                folds[te] = f
            out.append({"y": y, "n_splits": k, "folds": [int(v) for v in folds]})
    return out


def main():
    rng = np.random.default_rng(20240611)
    cls_emb, cls_cases = classification(np.random.RandomState(16))
    binary = binary_case(np.random.RandomState(5))
    flat, facets, uc = user_citation(np.random.default_rng(7))
    with open(os.path.join(HERE, "cls_embeddings.jsonl"), "w") as f:
        for pid, v in cls_emb.items():
            f.write(json.dumps({"paper_id": pid, "embedding": v}) + "\n")
    with open(os.path.join(HERE, "uc_embeddings.jsonl"), "w") as f:
        for pid, v in flat.items():
            f.write(json.dumps({"paper_id": pid, "embedding": v}) + "\n")
    with open(os.path.join(HERE, "uc_facets.jsonl"), "w") as f:
        for pid, v in facets.items():
            f.write(json.dumps({"paper_id": pid, "embedding": v}) + "\n")
    expected = {
        "sklearn_version": sklearn.__version__,
        "liblinear_checked": LIBLINEAR is not None,
        "lightning": LIGHTNING_VERSION,
        "folds": fold_cases(),
        "macro_f1": f1_cases(),
        "ranking": ranking_cases(rng),
        "svm": [cls_cases["mag.test"], cls_cases["mag.val"], cls_cases["mesh.test"], cls_cases["mesh.val"], binary],
        "shuffle": shuffle_cases(),
        "user_citation": uc,
    }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    differ = []
    for c in expected["svm"]:
        for kind in ("lightning", "liblinear"):
            r = c[kind]
            print(f"{c['name']} {kind}: cv {['%.3f' % v for v in r['mean_accuracy']]} best C {r['best_c']} "
                  f"f1 {r['f1']:.4f}")
        light, lib = c["lightning"], c["liblinear"]
        print(f"  lightning: smallest prediction margin {light['min_margin']:.3g}; at tol 1e-10 its weights are "
              f"sklearn's (fit_intercept=False) to {light['tight']['lightning_minus_sklearn']:.3g}")
        if light["fold_accuracy"] != lib["fold_accuracy"] or light["pred"] != lib["pred"]:
            differ.append(c["name"])
    # The fixture tells the two classifiers apart (a test of one fails on the other).
    assert differ, "lightning and sklearn's LinearSVC agree on every fixture"
    print("lightning and sklearn's LinearSVC differ on", differ)
    print("liblinear agreement checked:", LIBLINEAR is not None)


if __name__ == "__main__":
    main()
