#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the benchmark table of docs/performance.md from the record `make bench` leaves (RECORD=file), so that no
figure there is typed by hand.

    RECORD=docs/results/bench.jsonl make bench      # measure (about 15 minutes on 2 cores)
    /usr/bin/python3 scripts/bench_docs.py [docs/results/bench.jsonl]

The text between `<!-- bench:table -->` and `<!-- /bench:table -->` in docs/performance.md becomes: when and where
the record was measured (date, commit, cores, the ceilings), and one row per workload, batch and dtype with both
sides' tokens/s, the ratio, both shares of the dtype's GEMM ceiling and peak memory. A record measured on a tree
with uncommitted changes is refused: its commit would not say what code made the figures.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
record = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "results", "bench.jsonl")
lines = [json.loads(l) for l in open(record) if l.strip()]
run = lines[0]["run"]
if run["dirty"]:
    sys.exit("bench_docs: %s was measured on a tree with uncommitted changes; commit and measure again" % record)
ceiling = run["ceiling_gflops"]


def pct(ours, tokens, dtype):
    # Model FLOPs per token are the same on both sides (the same model).
    if dtype not in ceiling or not ours["tokens_per_s"]:
        return "-"
    return "%.0f%%" % (100 * ours["model_gflops_per_s"] * tokens / ours["tokens_per_s"] / ceiling[dtype])


out = ["Measured on %s at commit %s, %d cores, %g s per measurement; GEMM ceiling fp32 %.0f GFLOP/s, bf16 %.0f "
       "GFLOP/s (record: `docs/results/bench.jsonl`, table written by `scripts/bench_docs.py`)." %
       (run["date"][:10], run["commit"][:7], run["cores"], run["seconds_each"], ceiling.get("fp32", 0),
        ceiling.get("bf16", 0)), "",
       "| workload | batch | dtype | peer tok/s | stagehand tok/s | stagehand / peer | peer % ceiling | "
       "stagehand % ceiling | peak RSS MB peer / stagehand |", "|---|---|---|---|---|---|---|---|---|"]
ratios = {}
train_share = {}   # (workload, dtype) at batch 32 -> stagehand's share of the dtype's ceiling
memory = []        # (cell, peer MB, stagehand MB)
for m in lines[1:]:
    peer, ours, dtype = m["peer"], m["stagehand"], m["dtype"]
    ratio = ours["tokens_per_s"] / peer["tokens_per_s"] if peer else None
    ratios[(m["workload"], m["batch"], dtype)] = ratio
    out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s / %.0f |" % (
        m["workload"], m["batch"], dtype, "{:,.0f}".format(peer["tokens_per_s"]) if peer else "-",
        "{:,.0f}".format(ours["tokens_per_s"]), "%.2fx" % ratio if ratio else "-",
        pct(ours, peer["tokens_per_s"], dtype) if peer else "-", pct(ours, ours["tokens_per_s"], dtype),
        "%.0f" % peer["peak_rss_mb"] if peer else "-", ours["peak_rss_mb"]))
    if m["batch"] == 32 and m["workload"] in ("pretrain", "finetune") and dtype in ceiling and ours["tokens_per_s"]:
        train_share[(m["workload"], dtype)] = 100 * ours["model_gflops_per_s"] / ceiling[dtype]
    if peer:
        memory.append(("%s/%d/%s" % (m["workload"], m["batch"], dtype), peer["peak_rss_mb"], ours["peak_rss_mb"]))
for dtype in ("fp32", "bf16"):
    r = [v for (w, b, d), v in ratios.items() if d == dtype and v]
    if r:
        out.append("")
        out.append("%s: stagehand / peer from %.2fx to %.2fx; %d of %d cells at 2x or more." %
                   (dtype, min(r), max(r), sum(1 for v in r if v >= 2.0), len(r)))
if train_share:
    out.append("")
    out.append("Training at batch 32, stagehand's share of its dtype's GEMM ceiling: %s; %d of %d at 60%% or more." % (
        ", ".join("%s %s %.0f%%" % (w, d, v) for (w, d), v in sorted(train_share.items())),
        sum(1 for v in train_share.values() if v >= 60), len(train_share)))
if memory:
    above = ["%s (+%.0f MB)" % (c, o - p) for c, p, o in memory if o > p]
    out.append("")
    out.append("Peak memory: stagehand at or below the peer in %d of %d cells%s." % (
        len(memory) - len(above), len(memory), "; above in " + ", ".join(above) if above else ""))
text = "\n".join(out) + "\n"

doc = os.path.join(ROOT, "docs", "performance.md")
body = open(doc).read()
pattern = re.compile(r"(<!-- bench:table -->\n).*?(<!-- /bench:table -->)", re.S)
if not pattern.search(body):
    sys.exit("bench_docs: docs/performance.md has no <!-- bench:table --> ... <!-- /bench:table --> markers")
open(doc, "w").write(pattern.sub(lambda mt: mt.group(1) + text + mt.group(2), body))
print("docs/performance.md: table from %s (%d measurements)" % (record, len(lines) - 1))
