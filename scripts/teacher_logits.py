#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""How much a binary teacher's logits say: for each predict stage of a run whose predictions.jsonl holds 2-class
logits, the spread of the distillation target t = z1 - z0 (what the `dse` loss regresses the student's logit on)
and, given the MRPC-layout folder, its ROC AUC against the gold labels (0.5: no ranking at all).

    /usr/bin/python3 scripts/teacher_logits.py runs/dse/latest [--glue-dir data/paraphrase/bible_mrpc]

Example ids are `<split>:<line>` (the 1-based line of the TSV, header included), as the `glue` dataset numbers them;
the splits' files are train.tsv, dev.tsv (validation) and test.tsv. Standard library and python3-yaml only.
"""
import argparse
import json
import os
import statistics

import yaml

SPLIT_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}


def auc(labels, scores):
    """Probability that a random positive scores above a random negative (ties count one half)."""
    ranked = sorted(zip(scores, labels))
    pos = sum(labels)
    neg = len(labels) - pos
    if not pos or not neg:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mean_rank = (i + j + 1) / 2  # 1-based ranks i+1..j share their mean
        rank_sum += mean_rank * sum(label for _, label in ranked[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def gold_labels(glue_dir, split):
    with open(os.path.join(glue_dir, SPLIT_FILES[split]), encoding="utf-8") as f:
        return {line_no: int(line.split("\t", 1)[0]) for line_no, line in enumerate(f, start=1) if line_no > 1}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--glue-dir", help="the MRPC-layout folder the predict stages read (for the AUC)")
    args = ap.parse_args()
    with open(os.path.join(args.run_dir, "record.yaml")) as f:
        rec = yaml.safe_load(f)
    commit = ((rec.get("environment") or {}).get("runner") or {}).get("git_commit", "?")
    print(f"run {rec.get('run_id', '?')} of {rec['pipeline']['name']}, runner built at commit {commit[:7]}")
    for stage in sorted(rec["stages"]):
        path = os.path.join(args.run_dir, "stages", stage, "predictions.jsonl")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            rows = [json.loads(line) for line in f]
        if not rows or len(rows[0].get("logits", [])) != 2:
            continue
        t = [r["logits"][1] - r["logits"][0] for r in rows]
        line = (f"{stage}: {len(t)} examples, t = z1 - z0: mean {statistics.mean(t):.6f}, "
                f"std {statistics.pstdev(t):.6f}, min {min(t):.6f}, max {max(t):.6f}")
        if args.glue_dir:
            split = rows[0]["id"].split(":", 1)[0]
            gold = gold_labels(args.glue_dir, split)
            labels = [gold[int(r["id"].split(":", 1)[1])] for r in rows]
            line += f", AUC against the gold labels {auc(labels, t):.3f}"
        print(line)


if __name__ == "__main__":
    main()
