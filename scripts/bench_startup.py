#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Start-up of the commands that run nothing (`make bench`; docs/performance.md, "Start-up"): whole-process wall time
of `runner check` on the shipped pipeline with the most stages, `runner plugins` and `runner describe stage/train`,
the light runner (plugins' declaration files, no LibTorch) beside runner-full (every plugin opened, as before), best
of ROUNDS runs each. Goal: under 0.3 s. Printed, never asserted.

    scripts/bench_startup.py [RUNNER]            measure and print (RECORD=file also writes a record)
    scripts/bench_startup.py --docs [RECORD]     write the table of docs/performance.md from a record
"""
import glob
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_record  # noqa: E402

ROOT = bench_record.ROOT
ROUNDS = 7
GOAL_S = 0.3


def largest_pipeline(runner):
    best = None
    for p in sorted(glob.glob(os.path.join(ROOT, "pipelines", "*.yaml"))):
        out = subprocess.run([runner, "check", p], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             cwd=ROOT).stdout
        m = re.search(r"^pipeline '[^']*': (\d+) stages$", out, re.M)
        if m and (best is None or int(m.group(1)) > best[1]):
            best = (os.path.relpath(p, ROOT), int(m.group(1)))
    return best


def best_of(cmd, env):
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            sys.exit("bench_startup: %s exited %d" % (" ".join(cmd), r.returncode))
    return min(times)


def measure(runner):
    pipeline, stages = largest_pipeline(runner)
    timing = subprocess.run([runner, "check", "--timing", pipeline], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT).stdout
    light_ok = "LibTorch loaded: no" in timing
    rows = []
    for name, args in (("check", ["check", pipeline]), ("plugins", ["plugins"]), ("describe", ["describe", "stage/train"])):
        light = best_of([runner] + args, dict(os.environ))
        full = best_of([runner] + args, dict(os.environ, STAGEHAND_FULL_RUNNER="1"))
        rows.append({"command": "runner " + " ".join(args), "light_s": light, "full_s": full})
    return {"pipeline": pipeline, "stages": stages, "rounds": ROUNDS, "libtorch_loaded": not light_ok}, rows


def table(facts, rows):
    out = ["| command | light runner (declaration files) | runner-full (plugins opened) | goal < %.1f s |" % GOAL_S,
           "|---|---|---|---|"]
    for r in rows:
        out.append("| `%s` | %.3f s | %.3f s | %s |" % (r["command"], r["light_s"], r["full_s"],
                                                       "met" if r["light_s"] < GOAL_S else "**not met**"))
    out.append("")
    out.append("LibTorch in the light runner's process while checking: %s." %
               ("yes (a plugin was opened)" if facts["libtorch_loaded"] else "no"))
    return out


def docs(record):
    facts, rows = bench_record.read(record, "bench_startup")
    text = "\n".join(["Measured %s at commit %s on %d cores (%s): whole process, the best of %d runs, `%s` (%d stages) "
                      "(`scripts/bench_startup.py`, record `%s`):" % (
                          facts["date"], facts["commit"][:7], facts["cores"], facts["machine"], facts["rounds"],
                          facts["pipeline"], facts["stages"], os.path.relpath(record, ROOT)), ""] +
                     table(facts, rows)) + "\n"
    bench_record.replace_marked("bench:startup", text, "bench_startup")
    print("docs/performance.md: start-up table from %s" % record)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--docs":
        return docs(sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "results", "bench-startup.jsonl"))
    runner = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin", "runner"))
    facts, rows = measure(runner)
    print("start-up, whole process, best of %d (%s, %d stages):" % (ROUNDS, facts["pipeline"], facts["stages"]))
    print("\n".join(table(facts, rows)))
    if os.environ.get("RECORD"):
        bench_record.write(os.environ["RECORD"], facts, rows)


if __name__ == "__main__":
    main()
