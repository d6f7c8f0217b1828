#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped layer-probe pipeline (pipelines/layer-probes.yaml), shrunk by command-line overrides to a few steps
# per stage, end to end: pretraining, SQuAD and part-of-speech fine-tuning, then span and token probes on the
# pretrained and the fine-tuned encoder. Each probe stage must print its per-layer table and the plot's path, and
# write layers.csv (a row per encoder and layer, every metric filled) and layers.svg (per panel one line per encoder,
# one point per layer), and the span stage the official-format predictions of every layer.
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-probes.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TINY=(stages.tokenizer.train.vocab_size=2000 stages.tokenizer.train.max_lines=3000
      stages.pretrain.steps=3 stages.pretrain.eval_every=3 stages.pretrain.batch_size=8
      stages.finetune_qa.steps=3 stages.finetune_qa.eval_every=3 stages.finetune_pos.steps=3
      stages.finetune_pos.eval_every=3 vars.probe_epochs=1)
"$BUILD/bin/runner" "$SRC/pipelines/layer-probes.yaml" "${TINY[@]}" --runs-dir "$WORK/runs" --cache-dir "$WORK/cache" \
  > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; exit 1; }
fail() { echo "$1"; cat "$WORK/run.log"; exit 1; }
for stage in span_probes pos_probes; do
  CSV=$(find "$WORK/cache" -type f -path "*/$stage-*/layers.csv" | head -1)
  [ -n "$CSV" ] || fail "$stage: no layers.csv"
  DIR=$(dirname "$CSV")
  grep -qE "plot: $WORK/cache/$stage-[0-9a-f]+/layers.svg$" "$WORK/run.log" || fail "$stage: the plot's final path was not printed"
  SRC_DIR="$SRC" python3 - "$DIR" "$stage" <<'PY' || fail "$stage: layers.csv / layers.svg are not as expected"
import csv, os, re, sys, json
d, stage = sys.argv[1], sys.argv[2]
encoders = ["pretrain", "finetune_qa" if stage == "span_probes" else "finetune_pos"]
metrics = ["exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"] if stage == "span_probes" \
    else ["accuracy", "macro_f1"]
rows = list(csv.DictReader(open(os.path.join(d, "layers.csv"))))
assert [(r["encoder"], r["layer"]) for r in rows] == [(e, str(l)) for e in encoders for l in range(1, 5)], rows
for r in rows:
    for m in metrics + ["train_loss"]:
        v = float(r[m])
        assert v == v and v >= 0, (m, r)
    if stage == "span_probes":
        assert 0 <= float(r["f1"]) <= 100 and float(r["f1"]) >= float(r["exact"]) - 1e-9, r
    else:
        assert 0 <= float(r["accuracy"]) <= 1, r
svg = open(os.path.join(d, "layers.svg")).read()
lines = re.findall(r'<polyline class="series" data-name="([^"]*)"[^>]*points="([^"]*)"', svg)
assert [n for n, _ in lines] == encoders * 2, lines        # two panels, one line per encoder in each
assert all(len(p.split()) == 4 for _, p in lines), lines   # one point per layer
if stage == "span_probes":
    dev = json.load(open(os.path.join(os.environ.get("SRC_DIR", "."), "data/squad/public_domain/dev-v2.0.json")))
    qids = {q["id"] for a in dev["data"] for p in a["paragraphs"] for q in p["qas"]}
    for e in encoders:
        for l in range(1, 5):
            pred = json.load(open(os.path.join(d, e, "predictions", f"layer_{l}.json")))
            assert set(pred) == qids, (e, l)
PY
  # The run's report.html holds the plot inline, under the stage's name.
  grep -q "<h4>$stage · layers.svg</h4>" "$WORK/runs/layer-probes/latest/report.html" ||
    fail "$stage: the plot is not in the run's report.html"
done
echo "layer probes (tiny): both probe stages wrote their per-layer tables, CSVs, predictions and plots, and the" \
     "report shows the plots"
