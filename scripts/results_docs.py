#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Regenerates the results the docs show from run records, so that no figure in docs/ is typed by hand.

    /usr/bin/python3 scripts/results_docs.py [--runs runs] [PIPELINE ...]

For each pipeline (default: every one with a record under runs/), the newest completed run record
(runs/<name>/<run id>/record.yaml; runs with command-line overrides are other experiments and are skipped) gives:
  - docs/results/<name>.md: the run (id, date, commit, wall time, machine), the table of every stage that wrote one
    (results.md in its folder: report, evaluate, ...), and every stage's final metrics;
  - docs/results/<name>.csv: stage, metric, value, std (over trials), trials;
  - docs/results/<name>-<stage>-layers.svg and .csv: a probe stage's plot and table of metric against layer;
  - in every docs/*.md and README.md, the text between `<!-- results:<name> -->` and `<!-- /results:<name> -->` is
    replaced by the report tables with the run's date and commit (`<!-- results:<name>:<report stage> -->` for one
    table only; `<!-- results:<name>:paper -->` for the table beside the paper, `<!-- results:<name>:timings -->`
    for each stage's wall time and throughput);
  - beside the paper: where scripts/paper_numbers.yaml lists published numbers for the pipeline, a table of ours,
    the paper's and the gap, with the source and what separates the two runs (docs/results/<name>-paper.csv too).
A record of a dirty tree (uncommitted changes) is refused: its commit would not say what code made the figures.

    /usr/bin/python3 scripts/results_docs.py --sweep runs/<name>/sweeps/<id>/state.json --metrics STAGE.METRIC,...

reads the records of a `runner sweep` over seeds instead and writes docs/results/<name>-seeds.md (every run's value
of each metric, then mean (std) over the runs, std over the population as `runner sweep` prints it), and fills
`<!-- sweep:<name> -->` ... `<!-- /sweep:<name> -->` blocks with the mean (std) table.
Needs python3-yaml (Debian).
"""
import argparse
import csv
import hashlib
import io
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def newest_completed(runs_dir, name):
    folder = os.path.join(runs_dir, name)
    if not os.path.isdir(folder):
        return None, None
    for run_id in sorted(os.listdir(folder), reverse=True):
        path = os.path.join(folder, run_id, "record.yaml")
        if run_id == "latest" or not os.path.isfile(path):
            continue
        with open(path) as f:
            rec = yaml.safe_load(f)
        # The docs show what `runner <pipeline>` does: a run with command-line overrides is some other experiment.
        if rec.get("status") == "completed" and rec.get("mode", "run") == "run" and not rec.get("overrides"):
            return os.path.join(folder, run_id), rec
    return None, None


def duration(seconds):
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def pipeline_commit(rel, sha256, built):
    """The commit whose copy of the pipeline file is the one the run read (its sha256 is in the record). The record's
    commit is the runner's build; a pipeline file edited and run without a rebuild is newer than that, and a reader
    who checks out the build commit would get another file. None when no commit holds it (an uncommitted file)."""
    import subprocess

    def blob_sha(commit):
        r = subprocess.run(["git", "-C", ROOT, "show", f"{commit}:{rel}"], capture_output=True)
        return hashlib.sha256(r.stdout).hexdigest() if r.returncode == 0 else None

    if not sha256 or blob_sha(built) == sha256:
        return built
    log = subprocess.run(["git", "-C", ROOT, "log", "--format=%H", "--", rel], capture_output=True, text=True)
    for commit in log.stdout.split():
        if blob_sha(commit) == sha256:
            return commit
    return None


def provenance_line(name, run_dir, rec):
    env = rec["environment"]
    runner = env["runner"]
    host = env.get("host", {})
    threads = rec.get("threads", {})
    built, read = runner["git_commit"], rec["pipeline"].get("file_commit", runner["git_commit"])
    commit = (f"commit `{built[:7]}`" if read == built else
              f"runner built at commit `{built[:7]}`, pipeline file as of commit `{read[:7]}`" if read else
              f"runner built at commit `{built[:7]}`, pipeline file uncommitted")
    statuses = [info.get("status") for info in rec["stages"].values()]
    cached = sum(1 for st in statuses if st == "cached")
    reused = f" ({cached} of {len(statuses)} stages reused from the cache)" if cached else ""
    return (f"Run `{os.path.basename(run_dir)}` of `{name}`, {rec['ended'][:10]}, {commit}, {duration(rec['seconds'])}{reused} on {host.get('cores', '?')} cores "
            f"({host.get('cpu', '?')}, {threads.get('intra_op', '?')} intra-op threads); "
            f"regenerate: `scripts/results_docs.py {name}` after `runner {rec['pipeline']['file_relative']}`")


def layers_table(path):
    """A probe stage's layers.csv (encoder, layer, metrics..., train_loss) as markdown: one row per encoder and layer;
    a table whose every value lies in [0, 1] is shown in percent, as the report tables show them."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    metrics = [k for k in rows[0] if k not in ("encoder", "layer", "train_loss")]
    values = [float(r[m]) for r in rows for m in metrics if r[m] != ""]
    # One scale per table: SQuAD's scores are already in percent (any value above 1), accuracies are fractions.
    percent = set(metrics) if values and all(0 <= v <= 1 for v in values) else set()
    lines = ["| encoder | layer | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for r in rows:
        cells = ["" if r[m] == "" else (f"{100 * float(r[m]):.2f}" if m in percent else f"{float(r[m]):.2f}")
                 for m in metrics]
        lines.append(f"| {r['encoder']} | {r['layer']} | " + " | ".join(cells) + " |")
    if percent:
        lines += ["", "(" + ", ".join(sorted(percent)) + " in percent)"]
    return "\n".join(lines)


def report_tables(run_dir, rec, only=None):
    """(stage, title, markdown) of every stage that wrote a results table (report, evaluate, ...; a probe stage's
    layers.csv), in order."""
    out = []
    resolved = rec["resolved"]["stages"]
    for stage, info in rec["stages"].items():
        if only and stage != only:
            continue
        path = os.path.join(run_dir, "stages", stage, "results.md")
        layers = os.path.join(run_dir, "stages", stage, "layers.csv")
        if os.path.isfile(path):
            with open(path) as f:
                table = f.read().strip()
        elif os.path.isfile(layers):
            table = layers_table(layers)
        else:
            table = None
        if table is None:
            continue
        title = resolved.get(stage, {}).get("title") or f"stage `{stage}` ({info.get('kind')})"
        out.append((stage, title, table))
    return out


def fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def metric_rows(rec):
    rows = []
    for stage, info in rec["stages"].items():
        metrics = info.get("metrics") or {}
        trials = (info.get("trials") or {}).get("metrics", {})
        for k, v in metrics.items():
            if re.search(r"\.(std|min|max)$", k) and k.rsplit(".", 1)[0] in metrics:
                continue
            std = metrics.get(k + ".std")
            n = len(trials[k]["values"]) if k in trials else 1
            rows.append((stage, k, v, std, n))
    return rows


def load_paper_numbers():
    path = os.path.join(ROOT, "scripts", "paper_numbers.yaml")
    with open(path) as f:
        return yaml.safe_load(f) or {}


def paper_rows(name, rec, papers):
    """(label, ours, paper) for every published number of `name` whose metric the record holds."""
    spec = papers.get(name)
    if not spec:
        return None, []
    rows = []
    for r in spec["rows"]:
        metrics = (rec["stages"].get(r["stage"]) or {}).get("metrics") or {}
        if r["metric"] not in metrics:
            raise SystemExit(f"results_docs: scripts/paper_numbers.yaml: {name}: stage '{r['stage']}' recorded no "
                             f"metric '{r['metric']}'; fix the row or the pipeline")
        rows.append((r["label"], metrics[r["metric"]] * spec.get("scale", 1), r["paper"], r["stage"], r["metric"]))
    return spec, rows


def paper_table(spec, rows):
    lines = ["| metric | ours | paper | ours - paper |", "|---|---|---|---|"]
    for label, ours, paper, _, _ in rows:
        lines.append(f"| {label} | {ours:.2f} | {paper:.2f} | {ours - paper:+.2f} |")
    lines += ["", f"Paper: {spec['source']}. The gap: {spec['why'].strip()}."]
    return "\n".join(lines)


def timings_table(rec):
    """Each stage's wall time and its throughput figures (the record's `timings:`), and the whole run's."""
    lines = ["| stage | kind | status | seconds | throughput |", "|---|---|---|---|---|"]
    for stage, info in rec["stages"].items():
        t = info.get("timings") or {}
        rates = ", ".join(f"{k.replace('_', ' ')} {v:,.0f}" for k, v in t.items() if "per_second" in k)
        lines.append(f"| {stage} | {info.get('kind')} | {info.get('status')} | {info.get('seconds', 0):.1f} | {rates} |")
    lines.append(f"| (whole run) | | | {rec['seconds']:.1f} | |")
    return "\n".join(lines)


def copy_layer_files(name, run_dir, rec, out_dir):
    """A probe stage's figure and table (layers.svg, layers.csv) copied to docs/results/<name>-<stage>-layers.*, so
    that the docs can show the per-layer curve; the lines that link them."""
    import shutil

    lines = []
    for stage in rec["stages"]:
        folder = os.path.join(run_dir, "stages", stage)
        copied = []
        for ext in ("svg", "csv"):
            src = os.path.join(folder, f"layers.{ext}")
            if os.path.isfile(src):
                dst = f"{name}-{stage}-layers.{ext}"
                shutil.copyfile(src, os.path.join(out_dir, dst))
                copied.append(f"[{dst}]({dst})")
        if copied:
            lines += [f"Stage `{stage}`, metric against layer: " + ", ".join(copied), ""]
    return lines


def write_results(name, run_dir, rec, out_dir, papers=None):
    os.makedirs(out_dir, exist_ok=True)
    lines = [f"# Results: {name}", "", "Generated by `scripts/results_docs.py` from the run record; do not edit.", "",
             provenance_line(name, run_dir, rec) + ".", ""]
    for stage, title, table in report_tables(run_dir, rec):
        lines += [f"## {title}" + ("" if title.startswith("stage `") else f" (stage `{stage}`)"), "", table, ""]
    spec, prows = paper_rows(name, rec, papers or {})
    if prows:
        lines += ["## Beside the paper", "", paper_table(spec, prows), ""]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["stage", "metric", "label", "ours", "paper", "source"])
        for label, ours, paper, stage, metric in prows:
            w.writerow([stage, metric, label, f"{ours:.4f}", paper, spec["source"]])
        with open(os.path.join(out_dir, f"{name}-paper.csv"), "w") as f:
            f.write(buf.getvalue())
    lines += copy_layer_files(name, run_dir, rec, out_dir)
    lines += ["## Time per stage", "", timings_table(rec), ""]
    lines += ["## Every stage's final metrics", "", "| stage | metric | value | std over trials | trials |",
              "|---|---|---|---|---|"]
    rows = metric_rows(rec)
    for stage, k, v, std, n in rows:
        lines.append(f"| {stage} | {k} | {fmt(v)} | {'' if std is None else fmt(std)} | {n} |")
    with open(os.path.join(out_dir, f"{name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["stage", "metric", "value", "std", "trials"])
    for stage, k, v, std, n in rows:
        w.writerow([stage, k, fmt(v), "" if std is None else fmt(std), n])
    with open(os.path.join(out_dir, f"{name}.csv"), "w") as f:
        f.write(buf.getvalue())


BLOCK = re.compile(r"(<!-- results:(?P<name>[\w.-]+)(?::(?P<stage>[\w-]+))? -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)",
                   re.S)


def update_blocks(docs, records, papers):
    for path in docs:
        with open(path) as f:
            text = f.read()

        def fill(m):
            name, stage = m.group("name"), m.group("stage")
            if name not in records:
                return m.group(0)
            run_dir, rec = records[name]
            parts = []
            if stage == "paper":
                spec, prows = paper_rows(name, rec, papers)
                parts += [paper_table(spec, prows), ""] if prows else []
            elif stage == "timings":
                parts += [timings_table(rec), ""]
            for _, title, table in ([] if stage in ("paper", "timings") else report_tables(run_dir, rec, stage)):
                parts += ([f"*{title}*", ""] if not stage else []) + [table, ""]
            parts.append(f"<sub>{provenance_line(name, run_dir, rec)}; all metrics: "
                         f"[docs/results/{name}.md]({os.path.relpath(os.path.join(ROOT, 'docs', 'results', name + '.md'), os.path.dirname(path))})</sub>")
            return m.group(1) + "\n".join(parts) + "\n" + m.group(5)

        new = BLOCK.sub(fill, text)
        if new != text:
            with open(path, "w") as f:
                f.write(new)
            print(f"updated {os.path.relpath(path, ROOT)}")


def sweep_docs(state_path, metrics):
    """docs/results/<name>-seeds.md and the `<!-- sweep:<name> -->` blocks from a sweep's state.json."""
    with open(state_path) as f:
        state = json.load(f)
    runs = []
    for st in state["runs"]:
        if st.get("status") != "completed":
            raise SystemExit(f"results_docs: {state_path}: the run {' '.join(st['overrides'])} is {st.get('status')}; "
                             "finish the sweep (run the same command again) first")
        with open(os.path.join(st["dir"], "record.yaml")) as f:
            rec = yaml.safe_load(f)
        if rec["environment"]["runner"].get("git_dirty"):
            raise SystemExit(f"results_docs: {st['dir']} was run from a tree with uncommitted changes")
        values = {}
        for m in metrics:
            stage, key = m.split(".", 1)
            got = ((rec["stages"].get(stage) or {}).get("metrics") or {}).get(key)
            if got is None:
                raise SystemExit(f"results_docs: {st['dir']}: stage '{stage}' recorded no metric '{key}'")
            values[m] = float(got)
        runs.append((" ".join(st["overrides"]), os.path.basename(st["dir"]), rec, values))
    name = runs[0][2]["pipeline"]["name"]
    commits = sorted({r[2]["environment"]["runner"]["git_commit"][:7] for r in runs})
    dates = sorted({r[2]["ended"][:10] for r in runs})
    rel = os.path.relpath(state["pipeline"], ROOT) if not os.path.relpath(state["pipeline"], ROOT).startswith("..") \
        else "pipelines/" + state["pipeline"].rsplit("/pipelines/", 1)[1]
    if not all(re.fullmatch(r"seed=\S+", o) for o, _, _, _ in runs):
        raise SystemExit(f"results_docs: {state_path}: --sweep tabulates a sweep over seeds only (seed=1,2,3); this one "
                         f"sets {', '.join(o for o, _, _, _ in runs)}")
    settings = ",".join(o.split("=", 1)[1] for o, _, _, _ in runs)
    parts = os.path.abspath(state_path).split(os.sep)
    state_rel = "/".join(parts[-5:]) if len(parts) >= 5 and parts[-5] == "runs" and parts[-3] == "sweeps" \
        else os.path.relpath(state_path, ROOT)
    command = f"runner sweep {rel} seed={settings} && scripts/results_docs.py --sweep {state_rel} " \
              f"--metrics {','.join(metrics)}"
    head = "| metric | " + " | ".join(o for o, _, _, _ in runs) + " | mean (std) |"
    lines = [head, "|---|" + "---|" * (len(runs) + 1)]
    summary = ["| metric | mean (std) over " + f"{len(runs)} runs |", "|---|---|"]
    for m in metrics:
        vals = [v[m] for _, _, _, v in runs]
        mean = sum(vals) / len(vals)
        std = (sum((x - mean) ** 2 for x in vals) / len(vals)) ** 0.5
        lines.append(f"| {m} | " + " | ".join(f"{x:.2f}" for x in vals) + f" | {mean:.2f} ({std:.2f}) |")
        summary.append(f"| {m} | {mean:.2f} ({std:.2f}) |")
    prov = (f"Runs {', '.join('`' + r + '`' for _, r, _, _ in runs)} of `{name}`, {', '.join(dates)}, runner built at "
            f"commit{'s' if len(commits) > 1 else ''} {', '.join('`' + c + '`' for c in commits)}; regenerate: `{command}`")
    out = os.path.join(ROOT, "docs", "results", f"{name}-seeds.md")
    with open(out, "w") as f:
        f.write("\n".join([f"# Results: {name} over {len(runs)} seeds", "",
                           "Generated by `scripts/results_docs.py --sweep` from the runs' records; do not edit.", "",
                           prov + ".", "", "\n".join(lines), "",
                           "std over the runs as `runner sweep` gives it (population, n in the denominator)."]) + "\n")
    print(f"{os.path.relpath(out, ROOT)} from {len(runs)} runs")
    block = re.compile(r"(<!-- sweep:" + re.escape(name) + r" -->\n)(.*?)(<!-- /sweep:" + re.escape(name) + r" -->)", re.S)
    body = "\n".join(summary) + "\n\n" + f"<sub>{prov}; every run: [docs/results/{name}-seeds.md](results/{name}-seeds.md)</sub>\n"
    for path in [os.path.join(ROOT, "README.md")] + [os.path.join(ROOT, "docs", f) for f in
                                                    sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")]:
        with open(path) as f:
            text = f.read()
        new = block.sub(lambda m: m.group(1) + body + m.group(3), text)
        if new != text:
            with open(path, "w") as f:
                f.write(new)
            print(f"updated {os.path.relpath(path, ROOT)}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default=os.path.join(ROOT, "runs"))
    ap.add_argument("--sweep", help="a sweep's state.json: write docs/results/<name>-seeds.md from its runs")
    ap.add_argument("--metrics", help="with --sweep: STAGE.METRIC,... to tabulate")
    ap.add_argument("pipelines", nargs="*")
    args = ap.parse_args()
    if args.sweep:
        if not args.metrics:
            ap.error("--sweep needs --metrics STAGE.METRIC,...")
        return sweep_docs(args.sweep, args.metrics.split(","))
    names = args.pipelines or sorted(d for d in os.listdir(args.runs) if not d.startswith("."))
    records = {}
    papers = load_paper_numbers()
    for name in names:
        run_dir, rec = newest_completed(args.runs, name)
        if rec is None:
            print(f"results_docs: no completed run of '{name}' under {args.runs}; run `runner` on its pipeline first",
                  file=sys.stderr)
            return 1
        if rec["environment"]["runner"].get("git_dirty"):
            print(f"results_docs: {run_dir} was run from a tree with uncommitted changes; commit, rebuild and run it "
                  "again so that the commit names the code", file=sys.stderr)
            return 1
        rel = os.path.relpath(rec["pipeline"]["file"], ROOT)
        if rel.startswith("..") and "/pipelines/" in rec["pipeline"]["file"]:
            # Run from another clone of the repository (a fresh one, as a new user would): name the file as it is
            # in the repository, not by the path between the two clones.
            rel = "pipelines/" + rec["pipeline"]["file"].rsplit("/pipelines/", 1)[1]
        rec["pipeline"]["file_relative"] = rel
        git = rec["pipeline"].get("git") or {}
        if git.get("commit") and not git.get("file_dirty", True):
            # The runner recorded the file's own git state (records since the runner learnt it): that commit holds
            # the file exactly as the run read it.
            rec["pipeline"]["file_commit"] = git["commit"]
        else:
            rec["pipeline"]["file_commit"] = pipeline_commit(rel, rec["pipeline"].get("sha256"),
                                                             rec["environment"]["runner"]["git_commit"])
        current = os.path.join(ROOT, "pipelines", os.path.basename(rec["pipeline"]["file"]))
        if os.path.isfile(current):
            with open(current, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != rec["pipeline"].get("sha256"):
                    print(f"results_docs: warning: {os.path.relpath(current, ROOT)} changed since run "
                          f"{os.path.basename(run_dir)}; its figures may be stale: run it again", file=sys.stderr)
        write_results(name, run_dir, rec, os.path.join(ROOT, "docs", "results"), papers)
        records[name] = (run_dir, rec)
        print(f"docs/results/{name}.md from {os.path.relpath(run_dir, ROOT)}")
    docs = [os.path.join(ROOT, "README.md")] + [os.path.join(ROOT, "docs", f) for f in
                                                 sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")]
    update_blocks(docs, records, papers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
