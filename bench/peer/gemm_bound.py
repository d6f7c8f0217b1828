#!/usr/bin/env python3
"""What the matrix products alone cost: the floor under any implementation of a peer workload that computes the same
products with the same kernels. Runs peer_electra.py (unchanged, with the arguments given) twice: once
as it is, in its own process, for its milliseconds per step; once here under torch.profiler for one step (after its
two warm-up steps), recording every GEMM it calls (aten::mm, addmm, bmm, baddbmm) with its input shapes. Each
distinct product is then replayed alone in a fresh process on random tensors of the workload's dtype, on the same
threads, and timed (best of REPEATS), and the products of one step are summed. Prints one JSON line:

  {"ms_per_step": peer's step, "gemm_ms_per_step": the products of one step replayed alone,
   "gemm_gflop_per_step": their FLOPs, "products": [[op, shapes, count per step, ms each], ...]}

The peer's step divided by gemm_ms_per_step bounds the speed-up over the peer of anything that makes the same
products through the same OpenBLAS/oneDNN kernels (docs/performance.md, "What bounds each cell").

  /usr/bin/python3 bench/peer/gemm_bound.py pretrain --batch 32 --seq 128 --dtype bf16 --seconds 8 [--threads 2]

Written for this project.
"""
import contextlib
import io
import json
import os
import runpy
import subprocess
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

GEMMS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")
REPEATS = 5
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_electra.py")


def run_peer(args):
    """The peer's JSON line, its stdout kept from ours."""
    out = io.StringIO()
    sys.argv = [PEER] + args
    with contextlib.redirect_stdout(out):
        runpy.run_path(PEER, run_name="__main__")
    return json.loads([l for l in out.getvalue().splitlines() if l.startswith("{")][-1])


def operands(op, shapes, dtype):
    """Random operands of a recorded product (bias of addmm/baddbmm as recorded), and its FLOPs."""
    t = lambda s: torch.randn(*s).to(dtype)
    if op == "aten::mm":
        (m, k), (_, n) = shapes[0], shapes[1]
        return (t([m, k]), t([k, n])), 2.0 * m * k * n
    if op == "aten::addmm":
        (m, k), (_, n) = shapes[1], shapes[2]
        return (t(shapes[0]), t([m, k]), t([k, n])), 2.0 * m * k * n
    if op == "aten::bmm":
        (b, m, k), (_, _, n) = shapes[0], shapes[1]
        return (t([b, m, k]), t([b, k, n])), 2.0 * b * m * k * n
    (b, m, k), (_, _, n) = shapes[1], shapes[2]  # baddbmm
    return (t(shapes[0]), t([b, m, k]), t([b, k, n])), 2.0 * b * m * k * n


def time_product(op, xs):
    fn = {"aten::mm": torch.mm, "aten::addmm": torch.addmm, "aten::bmm": torch.bmm, "aten::baddbmm": torch.baddbmm}[op]
    with torch.no_grad():
        fn(*xs)
        best = float("inf")
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            fn(*xs)
            best = min(best, time.perf_counter() - t0)
    return best


def replay(dtype_name, threads, recorded):
    """[ms, flops] of each recorded product, timed alone."""
    if threads:  # as the peer ran: set only when it was told (at::set_num_threads also sets OpenBLAS's threads)
        torch.set_num_threads(threads)
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    out = []
    for op, shapes, _ in recorded:
        xs, flops = operands(op, shapes, dtype)
        out.append([1000 * time_product(op, xs), flops])
    print(json.dumps(out))


def main():
    if sys.argv[1] == "--replay":
        return replay(sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4]))
    args = sys.argv[1:]
    dtype = torch.bfloat16 if "bf16" in args else torch.float32
    # The peer as make bench runs it: its own process.
    plain = json.loads([l for l in subprocess.run([sys.executable, PEER] + args, stdout=subprocess.PIPE, text=True,
                                                  check=True).stdout.splitlines() if l.startswith("{")][-1])
    seconds = args.index("--seconds") if "--seconds" in args else None
    short = args[:seconds] + args[seconds + 2:] if seconds is not None else list(args)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        profiled = run_peer(short + ["--seconds", "0.001"])  # two warm-up steps, then one timed step
    steps = profiled["steps"] + 2
    recorded = [[e.key, [list(s) for s in e.input_shapes if s], e.count / steps]
                for e in prof.key_averages(group_by_input_shape=True) if e.key in GEMMS]
    # Timed in a fresh process: in this one, after the peer's run, a product takes several times longer than alone.
    replayed = subprocess.run([sys.executable, os.path.abspath(__file__), "--replay", "bf16" if dtype == torch.bfloat16
                             else "fp32", args[args.index("--threads") + 1] if "--threads" in args else "0",
                             json.dumps(recorded)],
                            stdout=subprocess.PIPE, text=True, check=True)
    timed = json.loads(replayed.stdout)
    products, total_ms, gflop = [], 0.0, 0.0
    for (op, shapes, per_step), (ms, flops) in zip(recorded, timed):
        products.append([op, shapes, per_step, round(ms, 3)])
        total_ms += per_step * ms
        gflop += per_step * flops / 1e9
    print(json.dumps({"workload": plain["workload"], "dtype": plain["dtype"], "batch": plain["batch"],
                      "threads": torch.get_num_threads(), "ms_per_step": plain["ms_per_step"],
                      "gemm_ms_per_step": round(total_ms, 1), "gemm_gflop_per_step": round(gflop, 2),
                      "products": products}))


if __name__ == "__main__":
    main()
