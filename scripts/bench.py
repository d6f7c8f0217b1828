#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make bench`: stagehand beside the peer, and both beside the machine's ceiling (docs/performance.md).

For batch 8 and 32 and each workload (pretrain, finetune, embed) it runs, one after the other so that drift on a
shared machine hits all three alike: the peer (bench/peer/peer_electra.py, eager PyTorch from Python, its own
best settings: torch's default threads), `runner bench WORKLOAD --dtype fp32` and `runner bench WORKLOAD --dtype
bf16`. Before them it measures the GEMM ceiling (bench/peer/gemm_peak.py: fp32 and bf16 matrix products through
the same LibTorch kernels). It prints every JSON line it got, then one table: tokens/s of the three, the ratios
to the peer, the model FLOPs (6 x non-embedding parameters x tokens/s for training, 2 x for inference) as a share
of the ceiling of the dtype used, and peak memory.

  scripts/bench.py [RUNNER]            environment: SECONDS_EACH (15), BATCHES ("8 32"), WORKLOADS, JSONL (a file
                                       that receives every JSON line)
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

rows = []
for batch in BATCHES:
    for w in WORKLOADS:
        print("%s, batch %s:" % (w, batch), flush=True)
        common = ["--batch", batch, "--seq", "128", "--seconds", SECONDS]
        peer = run([PY, os.path.join(ROOT, "bench", "peer", "peer_electra.py"), w] + common)[0] if have_peer else None
        fp32 = run([RUNNER, "bench", w, "--dtype", "fp32"] + common)[0]
        bf16 = run([RUNNER, "bench", w, "--dtype", "bf16"] + common)[0]
        rows.append((w, batch, peer, fp32, bf16))


def share(r, dtype):
    return "%.0f%%" % (100 * r["model_gflops_per_s"] / ceiling[dtype]) if dtype in ceiling else "-"


def peer_share(peer, ours):
    # The same model: the peer's FLOPs per token are ours.
    if not peer or "fp32" not in ceiling:
        return "-"
    return "%.0f%%" % (100 * ours["model_gflops_per_s"] * peer["tokens_per_s"] / ours["tokens_per_s"] / ceiling["fp32"])


print()
if ceiling:
    print("GEMM ceiling: fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s (best of bench/peer/gemm_peak.py's shapes and thread "
          "counts)" % (ceiling.get("fp32", 0), ceiling.get("bf16", 0)))
head = ("workload", "batch", "peer tok/s", "fp32 tok/s", "bf16 tok/s", "fp32/peer", "bf16/peer", "peer %ceil",
        "fp32 %ceil", "bf16 %ceil", "RSS MB peer/fp32/bf16")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for w, batch, peer, fp32, bf16 in rows:
    pt = peer["tokens_per_s"] if peer else None
    cells = [w, batch, "%.0f" % pt if pt else "-", "%.0f" % fp32["tokens_per_s"], "%.0f" % bf16["tokens_per_s"],
             "%.2fx" % (fp32["tokens_per_s"] / pt) if pt else "-", "%.2fx" % (bf16["tokens_per_s"] / pt) if pt else "-",
             peer_share(peer, fp32), share(fp32, "fp32"), share(bf16, "bf16"),
             "%s/%.0f/%.0f" % ("%.0f" % peer["peak_rss_mb"] if peer else "-", fp32["peak_rss_mb"], bf16["peak_rss_mb"])]
    print("| " + " | ".join(str(c) for c in cells) + " |")
