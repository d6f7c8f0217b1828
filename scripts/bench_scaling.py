#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Cost as work grows: tokens/s and peak memory against batch size and sequence length, stagehand beside the peer,
in fp32 and bf16 (docs/performance.md, "Scaling").

    RECORD=docs/results/bench-scaling.jsonl scripts/bench_scaling.py [RUNNER]   measure (about 15 minutes, 2 cores)
    scripts/bench_scaling.py --docs [RECORD]                                     the table and the plot from a record

The grid is batch 1, 2, 4, 8, 16, 32, 64 at sequence length 128, and sequence length 64, 128, 256, 512 at batch 8
(BATCHES, SEQS and DTYPES narrow it), for WORKLOAD (pretrain: ELECTRA-small's generator and discriminator, the heaviest step), each dtype. Every cell runs
as `make bench` runs its cells, like with like: the peer (bench/peer/peer_electra.py) at its best of torch's default
threads and one thread per core, then `runner bench WORKLOAD --fixed-width` (batches as wide as the peer's), the same
dtype, SECONDS_EACH (8) seconds each. --docs writes the table between `<!-- bench:scaling -->` markers in
docs/performance.md and the plot docs/results/bench-scaling.svg; it refuses a record measured on a tree with
uncommitted changes.
"""
import json
import os
import subprocess
import sys

import bench_record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
SECONDS = os.environ.get("SECONDS_EACH", "8")
WORKLOAD = os.environ.get("WORKLOAD", "pretrain")
BATCHES = [int(b) for b in os.environ.get("BATCHES", "1 2 4 8 16 32 64").split()]
SEQS = [int(s) for s in os.environ.get("SEQS", "64 128 256 512").split()]
DTYPES = os.environ.get("DTYPES", "fp32 bf16").split()


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("bench_scaling: %s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")][0]


def cells():
    grid = [(b, 128) for b in BATCHES] + [(8, s) for s in SEQS if s != 128]
    return [(b, s, d) for d in DTYPES for b, s in grid]


def measure(runner):
    rows = []
    peer = os.path.join(ROOT, "bench", "peer", "peer_electra.py")
    for batch, seq, dtype in cells():
        common = ["--batch", str(batch), "--seq", str(seq), "--seconds", SECONDS, "--dtype", dtype]
        tries = [run([PY, peer, WORKLOAD] + common + extra) for extra in ([], ["--threads", str(os.cpu_count())])]
        best = max(tries, key=lambda r: r["tokens_per_s"])
        ours = run([runner, "bench", WORKLOAD, "--fixed-width"] + common)
        rows.append({"workload": WORKLOAD, "batch": batch, "seq": seq, "dtype": dtype, "peer": best, "stagehand": ours})
        print("batch %2d seq %3d %s: peer %8.0f tok/s %6.0f MB, stagehand %8.0f tok/s %6.0f MB" % (
            batch, seq, dtype, best["tokens_per_s"], best["peak_rss_mb"], ours["tokens_per_s"], ours["peak_rss_mb"]),
            flush=True)
    return rows


def table(rows):
    out = ["| dtype | batch | seq | peer tokens/s | stagehand tokens/s | ratio | peer peak MB | stagehand peak MB |",
           "|---|---|---|---|---|---|---|---|"]
    above = []
    for r in rows:
        p, o = r["peer"], r["stagehand"]
        out.append("| %s | %d | %d | %.0f | %.0f | %.2fx | %.0f | %.0f |" % (
            r["dtype"], r["batch"], r["seq"], p["tokens_per_s"], o["tokens_per_s"], o["tokens_per_s"] / p["tokens_per_s"],
            p["peak_rss_mb"], o["peak_rss_mb"]))
        if o["peak_rss_mb"] > p["peak_rss_mb"]:
            above.append("%s batch %d seq %d (%.0f MB against %.0f)" % (
                r["dtype"], r["batch"], r["seq"], o["peak_rss_mb"], p["peak_rss_mb"]))
    ratios = [r["stagehand"]["tokens_per_s"] / r["peer"]["tokens_per_s"] for r in rows]
    out.append("")
    out.append("Ratio over the %d cells: %.2fx to %.2fx. Peak memory: stagehand at or below the peer in %d of %d "
               "cells%s." % (len(rows), min(ratios), max(ratios), len(rows) - len(above), len(rows),
                             "; above in " + ", ".join(above) if above else ""))
    return out


def svg(rows, workload):
    """Two panels (tokens/s against batch at seq 128, against seq at batch 8), log2 x, a line per side and dtype."""
    w, h, pad = 360, 260, 50
    colours = {("stagehand", "fp32"): "#1f77b4", ("peer", "fp32"): "#aec7e8", ("stagehand", "bf16"): "#d62728",
               ("peer", "bf16"): "#ff9896"}
    parts = []
    for k, (key, xs, fixed) in enumerate((("batch", BATCHES, ("seq", 128)), ("seq", SEQS, ("batch", 8)))):
        sel = [r for r in rows if r[fixed[0]] == fixed[1]]
        top = max(max(r["peer"]["tokens_per_s"], r["stagehand"]["tokens_per_s"]) for r in sel) * 1.1
        x0 = k * (w + 30)
        def X(v):
            import math
            return x0 + pad + (w - pad - 10) * (math.log2(v) - math.log2(xs[0])) / (math.log2(xs[-1]) - math.log2(xs[0]))
        def Y(v):
            return h - pad + 10 - (h - pad - 20) * v / top
        parts.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>' % (X(xs[0]), Y(0), X(xs[-1]), Y(0)))
        parts.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>' % (X(xs[0]), Y(0), X(xs[0]), Y(top)))
        for v in xs:
            parts.append('<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%d</text>' % (X(v), Y(0) + 15, v))
        for t in range(5):
            v = top * t / 4
            parts.append('<text x="%.1f" y="%.1f" font-size="10" text-anchor="end">%.0f</text>' % (X(xs[0]) - 4, Y(v) + 3, v))
        parts.append('<text x="%.1f" y="%.1f" font-size="12" text-anchor="middle">%s (%s %d)</text>' % (
            X(xs[0]) + (w - pad) / 2, Y(0) + 32, key, fixed[0], fixed[1]))
        parts.append('<text x="%.1f" y="14" font-size="12" text-anchor="middle">%s tokens/s</text>' % (
            X(xs[0]) + (w - pad) / 2, workload))
        for (side, dtype), colour in colours.items():
            pts = [(r[key], r[side]["tokens_per_s"]) for r in sorted(sel, key=lambda r: r[key]) if r["dtype"] == dtype]
            parts.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                colour, " ".join("%.1f,%.1f" % (X(a), Y(b)) for a, b in pts)))
    for i, ((side, dtype), colour) in enumerate(colours.items()):
        parts.append('<rect x="%d" y="%d" width="12" height="3" fill="%s"/><text x="%d" y="%d" font-size="11">%s %s'
                     '</text>' % (60 + i * 150, h + 20, colour, 76 + i * 150, h + 25, side, dtype))
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">\n%s\n</svg>\n'
            % (2 * w + 40, h + 40, "\n".join(parts)))


def docs(record):
    facts, rows = bench_record.read(record, "bench_scaling")
    plot = os.path.join(ROOT, "docs", "results", "bench-scaling.svg")
    open(plot, "w").write(svg(rows, facts["workload"]))
    text = "\n".join(["Measured %s at commit %s on %d cores (%s), workload `%s`, %s s a cell (`scripts/bench_scaling.py`, "
                      "record `%s`):" % (facts["date"], facts["commit"][:7], facts["cores"], facts["machine"],
                                         facts["workload"], facts["seconds_each"], os.path.relpath(record, ROOT)),
                      "", "![tokens/s against batch and sequence length](results/bench-scaling.svg)", ""] +
                     table(rows)) + "\n"
    bench_record.replace_marked("bench:scaling", text, "bench_scaling")
    print("docs/performance.md and %s from %s" % (os.path.relpath(plot, ROOT), record))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--docs":
        return docs(sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "results", "bench-scaling.jsonl"))
    runner = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin", "runner")
    rows = measure(runner)
    print("\n".join(table(rows)))
    if os.environ.get("RECORD"):
        bench_record.write(os.environ["RECORD"], {"seconds_each": float(SECONDS), "workload": WORKLOAD}, rows)


if __name__ == "__main__":
    main()
