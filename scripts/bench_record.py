# SPDX-License-Identifier: Apache-2.0
"""What the benchmark scripts share (bench_scaling.py, bench_tokenizers.py): a record of one run (a first line
{"run": facts} with the date, the commit, whether the tree had uncommitted changes and the machine, then one JSON line
per measurement), read back refusing a record of a dirty tree, and the text between two markers of
docs/performance.md replaced by a table written from it."""
import datetime
import json
import os
import platform
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(path, facts, rows):
    def git(*args):
        return subprocess.run(["git", "-C", ROOT] + list(args), stdout=subprocess.PIPE, text=True).stdout.strip()
    run = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), "commit": git("rev-parse", "HEAD"),
           "dirty": bool(git("status", "--porcelain", "--untracked-files=no")), "cores": os.cpu_count(),
           "machine": platform.machine()}
    run.update(facts)
    with open(path, "w") as f:
        f.write(json.dumps({"run": run}) + "\n")
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("record: %s" % path)


def read(path, who):
    """(facts, rows) of a record; exits when it was measured on a tree with uncommitted changes."""
    lines = [json.loads(l) for l in open(path) if l.strip()]
    if lines[0]["run"]["dirty"]:
        sys.exit("%s: %s was measured on a tree with uncommitted changes; commit and measure again" % (who, path))
    return lines[0]["run"], lines[1:]


def replace_marked(marker, text, who):
    """docs/performance.md with the text between <!-- marker --> and <!-- /marker --> replaced by `text`."""
    doc = os.path.join(ROOT, "docs", "performance.md")
    body = open(doc).read()
    pattern = re.compile(r"(<!-- %s -->\n).*?(<!-- /%s -->)" % (re.escape(marker), re.escape(marker)), re.S)
    if not pattern.search(body):
        sys.exit("%s: docs/performance.md has no <!-- %s --> ... <!-- /%s --> markers" % (who, marker, marker))
    open(doc, "w").write(pattern.sub(lambda m: m.group(1) + text + m.group(2), body))
