#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes classification_expected.json: scikit-learn's metrics for fixed (y_true, y_pred) vectors, the reference
of tests/plugins/test_classification_evaluator.cpp. Needs Debian's python3-sklearn; run with /usr/bin/python3.
The vectors are literal, so rerunning reproduces the file byte for byte (for one scikit-learn version)."""
import json
import os

import sklearn
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

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
]


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
    return {k: float(v) for k, v in sorted(out.items())}


def main():
    cases = [dict(case, expected=expected(case)) for case in CASES]
    doc = {"generator": "make_classification_expected.py", "sklearn": sklearn.__version__, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classification_expected.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
