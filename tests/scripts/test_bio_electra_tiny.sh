#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped Bio-ELECTRA pipeline, shrunk by command-line overrides to run in well under a minute: ELECTRA
# pretraining data and pretraining, NER and relation-extraction fine-tuning with 3 trials each, and the report,
# which must print every test metric as "mean (std)"; the record must hold each trial's value.
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-bioelectra.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TINY=(vars.trials=3 vars.pretrain_steps=3 vars.pretrain_warmup=1 vars.pretrain_batch=8
      vars.vocab_size=2000 stages.tokenizer.train.max_lines=3000
      stages.pretrain.eval_every=3 stages.ner.epochs=0.05 stages.re.epochs=0.3
      stages.ner_scratch.epochs=0.05 stages.re_scratch.epochs=0.3)
"$BUILD/bin/runner" "$SRC/pipelines/bio-electra.yaml" "${TINY[@]}" --runs-dir "$WORK/runs" > "$WORK/run.log" 2>&1 ||
  { cat "$WORK/run.log"; exit 1; }
fail() { echo "$1"; cat "$WORK/run.log"; exit 1; }
grep -q "\[ner\] 3 trials: " "$WORK/run.log" || fail "no trial summary for ner"
grep -q "\[re\] 3 trials: " "$WORK/run.log" || fail "no trial summary for re"
grep -q "\[ner_scratch\] 3 trials: " "$WORK/run.log" || fail "no trial summary for ner_scratch (the control)"
grep -q "\[re_scratch\] 3 trials: " "$WORK/run.log" || fail "no trial summary for re_scratch (the control)"
# The report (columns ner, ner_scratch, re, re_scratch): NER's entity F1 and the relation task's binary F1, each
# as "mean (std)" in percent, for the pretrained encoder and its from-scratch control.
grep -qE "^\| test\.f1 \| [0-9]+\.[0-9]{2} \([0-9]+\.[0-9]{2}\) \| [0-9]+\.[0-9]{2} \([0-9]+\.[0-9]{2}\) \|" "$WORK/run.log" || fail "no mean (std) row for test.f1"
grep -qE "^\| test\.binary_f1 \| +\| +\| [0-9]+\.[0-9]{2} \([0-9]+\.[0-9]{2}\) \| [0-9]+\.[0-9]{2} \([0-9]+\.[0-9]{2}\) \|" "$WORK/run.log" ||
  fail "no mean (std) row for test.binary_f1"
REC="$WORK/runs/bio-electra/latest/record.yaml"
# Every trial's value is in the record (3 values under stages.ner.trials.metrics.test.f1.values).
python3 - "$REC" <<'PY' || fail "record lacks the per-trial values"
import re, sys
text = open(sys.argv[1]).read()
ner = text[text.index("\n  ner:"):text.index("\n  re:")]
m = re.search(r"\n +test\.f1:\n +mean: .*\n +std: .*\n +min: .*\n +max: .*\n +values: \[[^,\]]+, [^,\]]+, [^,\]]+\]\n", ner)
assert m, "no test.f1 summary with 3 values under stages.ner.trials"
PY
echo "bio-electra (tiny): pretraining, 3 NER and 3 RE trials (and the from-scratch controls), and the mean (std) report all ran"
