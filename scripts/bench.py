#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make bench`: stagehand beside the peer in the same dtype, and both beside the machine's ceiling
(docs/performance.md).

For batch 8 and 32 and each workload (pretrain, finetune, embed) it runs, one after the other so that drift on a
shared machine hits both sides alike, like with like: the peer (bench/peer/peer_electra.py, eager PyTorch from
Python, at its best of torch's default threads and one thread per core) in fp32 and then `runner bench WORKLOAD --dtype fp32 --fixed-width`; the peer with
`--dtype bf16` (autocast, as a PyTorch user writes it) and then `runner bench WORKLOAD --dtype bf16 --fixed-width`.
`--fixed-width` makes stagehand's batches 128 wide, as the peer's, so both compute the padding alike. Before them it
measures the GEMM ceiling (bench/peer/gemm_peak.py). It prints every JSON line it got, then one table: per workload,
batch and dtype the tokens/s of both, the ratio, the model FLOPs (6 x non-embedding parameters x tokens/s for
training, 2 x for inference) as a share of the dtype's ceiling, and peak memory.

  scripts/bench.py [RUNNER]            environment: SECONDS_EACH (15), BATCHES ("8 32"), WORKLOADS, DTYPES
                                       ("fp32 bf16"), JSONL (a file that receives every JSON line), RECORD (a
                                       file that receives the run: one JSON line per measurement with the date,
                                       the commit and the machine; scripts/bench_docs.py turns it into the table
                                       of docs/performance.md)
Needs Debian's python3-torch for the peer and the ceiling (apt-get install -y python3-torch); without it only
stagehand's figures are shown.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin", "runner")
SECONDS = os.environ.get("SECONDS_EACH", "15")
BATCHES = os.environ.get("BATCHES", "8 32").split()
WORKLOADS = os.environ.get("WORKLOADS", "pretrain finetune embed").split()
PY = "/usr/bin/python3"
jsonl = open(os.environ["JSONL"], "a") if os.environ.get("JSONL") else None


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("bench: %s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    for line in lines:
        print("  " + json.dumps(line), flush=True)
        if jsonl:
            jsonl.write(json.dumps(line) + "\n")
    return lines


have_peer = subprocess.run([PY, "-c", "import torch"], stderr=subprocess.DEVNULL).returncode == 0
if not have_peer:
    print("note: the peer and the ceiling need Debian's python3-torch (apt-get install -y python3-torch); "
          "showing stagehand only")

ceiling = {}
if have_peer:
    print("GEMM ceiling (bench/peer/gemm_peak.py):", flush=True)
    for g in run([PY, os.path.join(ROOT, "bench", "peer", "gemm_peak.py")]):
        d = {"float32": "fp32", "bfloat16": "bf16"}[g["dtype"]]
        ceiling[d] = max(ceiling.get(d, 0.0), g["gflops"])

DTYPES = os.environ.get("DTYPES", "fp32 bf16").split()
rows = []
for batch in BATCHES:
    for w in WORKLOADS:
        for dtype in DTYPES:
            print("%s, batch %s, %s:" % (w, batch, dtype), flush=True)
            common = ["--batch", batch, "--seq", "128", "--seconds", SECONDS, "--dtype", dtype]
            peer = None
            if have_peer:
                # The peer at its best: torch's default thread count and one thread per core, the faster of the two
                # (in bf16 its GEMMs run in oneDNN on LibTorch's threads, so the default of 1 would leave a core idle).
                tries = [run([PY, os.path.join(ROOT, "bench", "peer", "peer_electra.py"), w] + common + extra)[0]
                         for extra in ([], ["--threads", str(os.cpu_count())])]
                peer = max(tries, key=lambda r: r["tokens_per_s"])
            ours = run([RUNNER, "bench", w, "--fixed-width"] + common)[0]
            rows.append((w, batch, dtype, peer, ours))


def share(r, dtype):
    return "%.0f%%" % (100 * r["model_gflops_per_s"] / ceiling[dtype]) if dtype in ceiling else "-"


def peer_share(peer, ours, dtype):
    # The same model: the peer's FLOPs per token are ours.
    if not peer or dtype not in ceiling:
        return "-"
    return "%.0f%%" % (100 * ours["model_gflops_per_s"] * peer["tokens_per_s"] / ours["tokens_per_s"] / ceiling[dtype])


print()
if ceiling:
    print("GEMM ceiling: fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s (best of bench/peer/gemm_peak.py's shapes and thread "
          "counts)" % (ceiling.get("fp32", 0), ceiling.get("bf16", 0)))
head = ("workload", "batch", "dtype", "peer tok/s", "stagehand tok/s", "ratio", "peer % ceiling",
        "stagehand % ceiling", "peak RSS MB peer/stagehand")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for w, batch, dtype, peer, ours in rows:
    pt = peer["tokens_per_s"] if peer else None
    cells = [w, batch, dtype, "%.0f" % pt if pt else "-", "%.0f" % ours["tokens_per_s"],
             "%.2fx" % (ours["tokens_per_s"] / pt) if pt else "-", peer_share(peer, ours, dtype), share(ours, dtype),
             "%s/%.0f" % ("%.0f" % peer["peak_rss_mb"] if peer else "-", ours["peak_rss_mb"])]
    print("| " + " | ".join(str(c) for c in cells) + " |")

if os.environ.get("RECORD"):
    import datetime
    import platform

    def git(*args):
        return subprocess.run(["git", "-C", ROOT] + list(args), stdout=subprocess.PIPE, text=True).stdout.strip()

    facts = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), "commit": git("rev-parse", "HEAD"),
             "dirty": bool(git("status", "--porcelain", "--untracked-files=no")), "seconds_each": float(SECONDS),
             "cores": os.cpu_count(), "machine": platform.machine(), "ceiling_gflops": ceiling}
    with open(os.environ["RECORD"], "w") as f:
        f.write(json.dumps({"run": facts}) + "\n")
        for w, batch, dtype, peer, ours in rows:
            f.write(json.dumps({"workload": w, "batch": int(batch), "dtype": dtype, "peer": peer,
                                "stagehand": ours}) + "\n")
    print("record: %s" % os.environ["RECORD"])
