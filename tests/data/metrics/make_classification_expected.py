#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes classification_expected.json: scikit-learn's metrics for fixed (y_true, y_pred) vectors, the reference
of tests/plugins/test_classification_evaluator.cpp. Needs Debian's python3-sklearn; run with /usr/bin/python3.
The vectors are literal, so rerunning reproduces the file byte for byte (for one scikit-learn version).

The relation-extraction cases (GAD, ChemProt, DDI) also hold the two Bio-ELECTRA scorings, computed with the very
sklearn calls of each:
  - "remetrics": etetteh/bio-electra downstream/remetrics.py as finetune.py calls it (re_compute_metrics: average
    'binary' for gad, else 'micro'; labels None, pos_label 1, i.e. class id 1): accuracy_score, precision_score,
    recall_score (zero_division 'warn', which scores 0) and f1_score;
  - "show_re_performance": SciCrunch/bio_electra electra/show_re_performance.py: GAD calc_f1_electra
    (precision_recall_fscore_support without average, entry [1]); ChemProt calc_f1_micro_av
    (precision_recall_fscore_support with labels = the five CPR classes, average 'micro'). It has no DDI scoring;
    the DDI case applies the ChemProt rule with the four DDI classes."""
import json
import os
import warnings

import sklearn
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support,
                             precision_score, recall_score)

CASES = [
    # Binary, both classes predicted and present.
    {"name": "binary", "y_true": [0, 1, 1, 0, 1, 1, 0, 0, 1, 1], "y_pred": [0, 1, 0, 0, 1, 1, 1, 0, 0, 1]},
    # Class 3 is never predicted (precision 0 by zero_division), class 2 never occurs (recall 0); the class set is
    # labels U predictions = {0, 1, 2, 3}.
    {"name": "unpredicted_and_absent", "y_true": [0, 0, 1, 1, 1, 3, 3, 0, 1, 3, 0, 1],
     "y_pred": [0, 1, 1, 1, 2, 0, 1, 0, 2, 0, 0, 1]},
    # The same vectors with the dataset's five label names: sklearn's labels=[0..4] (class 4: never seen at all).
    {"name": "named_labels", "y_true": [0, 0, 1, 1, 1, 3, 3, 0, 1, 3, 0, 1],
     "y_pred": [0, 1, 1, 1, 2, 0, 1, 0, 2, 0, 0, 1], "names": ["neg", "pos", "neutral", "mixed", "other"]},
    # Imbalanced four-class case where macro, micro and weighted averages all differ.
    {"name": "imbalanced", "y_true": [0] * 9 + [1] * 5 + [2] * 3 + [3] * 1,
     "y_pred": [0, 0, 0, 0, 0, 0, 1, 2, 0, 1, 1, 0, 1, 3, 2, 0, 2, 3]},
    # GAD (etetteh's label order 0, 1): the evaluator's positive_label '1' gives binary_*.
    {"name": "gad", "task": "gad", "names": ["0", "1"], "options": {"positive_label": "1"},
     "y_true": [1, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0], "y_pred": [1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1]},
    # GAD with no positive prediction: precision 0 (sklearn's zero_division), F1 0.
    {"name": "gad_no_positive_prediction", "task": "gad", "names": ["0", "1"], "options": {"positive_label": "1"},
     "y_true": [1, 0, 1, 0, 0], "y_pred": [0, 0, 0, 0, 0]},
    # ChemProt (etetteh's label order; CPR:9 never occurs nor is predicted): remetrics' micro over all classes
    # is micro_*, Ozyurt's micro over the five CPR classes is positive_micro_* with negative_labels [false].
    {"name": "chemprot", "task": "chemprot", "names": ["CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9", "false"],
     "options": {"negative_labels": ["false"]},
     "y_true": [0, 0, 1, 1, 1, 2, 3, 5, 5, 5, 5, 5, 5, 1, 0, 3, 5, 2],
     "y_pred": [0, 1, 1, 1, 0, 2, 5, 5, 0, 5, 1, 5, 5, 1, 5, 3, 3, 2]},
    # DDI (etetteh's label order, the negative class last).
    {"name": "ddi", "task": "ddi", "names": ["DDI-advise", "DDI-effect", "DDI-int", "DDI-mechanism", "DDI-false"],
     "options": {"negative_labels": ["DDI-false"]},
     "y_true": [4, 4, 4, 4, 4, 4, 0, 0, 1, 1, 1, 2, 3, 3, 4, 4],
     "y_pred": [4, 4, 0, 4, 1, 4, 0, 4, 1, 3, 1, 4, 3, 3, 4, 2]},
]


def remetrics(case):
    """etetteh/bio-electra: finetune.py re_compute_metrics -> downstream/remetrics.py REMetrics._compute."""
    y_true, y_pred = case["y_true"], case["y_pred"]
    average = "binary" if case["task"] == "gad" else "micro"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return {"average": average,
                "accuracy": float(accuracy_score(y_true, y_pred, normalize=True)),
                "precision": float(precision_score(y_true, y_pred, labels=None, pos_label=1, average=average,
                                                   zero_division="warn")),
                "recall": float(recall_score(y_true, y_pred, labels=None, pos_label=1, average=average,
                                             zero_division="warn")),
                "f1": float(f1_score(y_true, y_pred, labels=None, pos_label=1, average=average))}


def show_re_performance(case):
    """SciCrunch/bio_electra electra/show_re_performance.py: calc_f1_electra (GAD), calc_f1_micro_av (ChemProt)."""
    y_true, y_pred = case["y_true"], case["y_pred"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if case["task"] == "gad":
            p, r, f, _ = precision_recall_fscore_support(y_pred=y_pred, y_true=y_true)
            return {"precision": float(p[1]), "recall": float(r[1]), "f1": float(f[1])}
        negative = case["names"].index(case["options"]["negative_labels"][0])
        pos_labels = [c for c in range(len(case["names"])) if c != negative]
        p, r, f, _ = precision_recall_fscore_support(y_pred=y_pred, y_true=y_true, labels=pos_labels,
                                                     average="micro")
        return {"precision": float(p), "recall": float(r), "f1": float(f)}


def expected(case):
    y_true, y_pred = case["y_true"], case["y_pred"]
    names = case.get("names")
    labels = list(range(len(names))) if names else sorted(set(y_true) | set(y_pred))
    name = (lambda c: names[c]) if names else str
    out = {"examples": len(y_true), "accuracy": accuracy_score(y_true, y_pred)}
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    for i, c in enumerate(labels):
        out[f"precision.{name(c)}"] = p[i]
        out[f"recall.{name(c)}"] = r[i]
        out[f"f1.{name(c)}"] = f[i]
        out[f"support.{name(c)}"] = s[i]
    for avg in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"] = p, r, f
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            out[f"confusion.{name(a)}.{name(b)}"] = cm[i][j]
    options = case.get("options", {})
    if "positive_label" in options:
        c = names.index(options["positive_label"])
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=[c], average=None, zero_division=0)
        out["binary_precision"], out["binary_recall"], out["binary_f1"] = p[0], r[0], f[0]
    if "negative_labels" in options:
        negative = [names.index(n) for n in options["negative_labels"]]
        positive = [c for c in labels if c not in negative]
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=positive, average="micro",
                                                     zero_division=0)
        out["positive_micro_precision"], out["positive_micro_recall"], out["positive_micro_f1"] = p, r, f
    return {k: float(v) for k, v in sorted(out.items())}


def with_references(case):
    out = dict(case, expected=expected(case))
    if "task" in case:
        out["remetrics"] = remetrics(case)
        out["show_re_performance"] = show_re_performance(case)
    return out


def main():
    cases = [with_references(case) for case in CASES]
    doc = {"generator": "make_classification_expected.py", "sklearn": sklearn.__version__, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classification_expected.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
