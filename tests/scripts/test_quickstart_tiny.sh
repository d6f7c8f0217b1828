#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped quickstart pipeline, shrunk by command-line overrides to run in seconds: every stage kind of it runs
# end to end (the baseline stage too), the results table is printed, and a second run reuses every stage.
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-quickstart.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TINY=(stages.tokenizer.train.vocab_size=1000 stages.pretrain.steps=4 stages.pretrain.eval_every=4
      stages.finetune.epochs=0.04 stages.finetune.eval_every=4 stages.distill.epochs=0.04 stages.distill.eval_every=4)
"$BUILD/bin/runner" "$SRC/pipelines/quickstart.yaml" "${TINY[@]}" --runs-dir "$WORK/runs" > "$WORK/first.log" 2>&1 ||
  { cat "$WORK/first.log"; exit 1; }
grep -q "results on 'test' (400 examples)" "$WORK/first.log" || { cat "$WORK/first.log"; exit 1; }
grep -qE "^\| macro_f1 \| [0-9.]+ \| [0-9.]+ \|" "$WORK/first.log" || { cat "$WORK/first.log"; exit 1; }
# Every logged scalar is also in TensorBoard's event files, checked by an independent reader.
for stage in pretrain finetune; do
  /usr/bin/python3 "$SRC/tests/scripts/read_tfevents.py" "$WORK/runs/quickstart/latest" "$stage"
done
"$BUILD/bin/runner" "$SRC/pipelines/quickstart.yaml" "${TINY[@]}" --runs-dir "$WORK/runs" > "$WORK/second.log" 2>&1 ||
  { cat "$WORK/second.log"; exit 1; }
reused=$(grep -c "reused cached output" "$WORK/second.log")
[ "$reused" -eq 8 ] || { echo "expected 8 reused stages, got $reused"; cat "$WORK/second.log"; exit 1; }
test "$(grep -c 'status: "cached"' "$WORK/runs/quickstart/latest/record.yaml")" -eq 8
# The baseline stage scored the held-out e-mails beside the models.
grep -qE "^\| macro_f1 \| [0-9.]+ \| [0-9.]+ \|" "$WORK/runs/quickstart/latest/stages/baseline/results.md"
echo "quickstart (tiny): all 8 stages ran, the table was printed, and a second run reused all 8"
