#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The fault-injection suite (`make faults`; a small configuration runs in CI as tests/scripts/test_faults_tiny.sh).
# One small train stage (a tiny transformer classifier, 60 steps, a checkpoint every 3 steps, one thread so that
# runs are bit-reproducible) is run uninterrupted for the reference weights, then broken on purpose:
#   kill      SIGKILL at KILLS random moments spread over a run (before, during and between checkpoint writes), then
#             the same command again: the final weights must be bit-identical to the reference every time;
#   term      SIGTERM mid-training: exit 143 with a checkpoint written, then the same command finishes identically;
#   diskfull  a file-size limit (ulimit -f) smaller than a checkpoint, hit while a checkpoint is written: one clear
#             error and a non-zero exit, the previous checkpoint intact (its sha256 sidecar still matches), and the
#             same command without the limit finishes identically;
#   corrupt   the newest checkpoint truncated, then the same command: the checksum catches it, a warning names it,
#             the previous checkpoint is used, and the run finishes identically.
# Usage: scripts/faults.sh RUNNER [KILLS] [SEED]   (RUNNER: build/bin/runner; KILLS default 20)
set -euo pipefail
RUNNER=$(realpath "$1")
KILLS=${2:-20}
SEED=${3:-$RANDOM}
SRC=$(cd "$(dirname "$0")/.." && pwd)
VOCAB="$SRC/tests/data/tokenizers/bert-base-uncased-vocab.txt"
WORK=$(mktemp -d /tmp/stagehand-faults.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RANDOM=$SEED

# ---- the run under test
python3 - "$WORK/train.jsonl" <<'PY'
import json, sys
good = ["great fun", "lovely day", "happy smile", "nice work", "good food", "fine weather"]
bad = ["awful mess", "sad news", "terrible pain", "bad luck", "poor show", "horrid noise"]
with open(sys.argv[1], "w") as f:
    for i in range(96):
        pos = i % 2 == 0
        words = good if pos else bad
        f.write(json.dumps({"id": f"e{i}", "text": f"{words[i % 6]} and {words[(i // 2) % 6]}",
                            "label": "pos" if pos else "neg"}) + "\n")
PY
cat > "$WORK/p.yaml" <<YAML
name: faults
seed: 7
threads: {intra_op: 1, blas: 1}
stages:
  train:
    kind: train
    data: {type: text_classification, train: train.jsonl, validation: train.jsonl,
           tokenizer: {type: wordpiece, vocab: $VOCAB}, max_length: 16}
    model:
      type: classifier
      pooling: mean
      encoder: {type: transformer, vocab_size: 30522, hidden_size: 32, num_layers: 2, num_heads: 2,
                intermediate_size: 64, max_positions: 16}
    loss: {type: cross_entropy}
    optimizer: {type: adamw, lr: 1.0e-3}
    evaluators: [{type: classification}]
    batch_size: 8
    steps: 60
    eval_every: 20
    checkpoint_every: 3
YAML

# run DIR [ulimit-f-kB]: the runner in DIR (a copy of the pipeline and data), its output appended to DIR/log.
new_dir() { mkdir -p "$1"; cp "$WORK/p.yaml" "$WORK/train.jsonl" "$1/"; }
run() { (cd "$1" && "$RUNNER" p.yaml --runs-dir runs > /dev/null 2>> log); }
weights() { sha256sum "$1/runs/faults/latest/stages/train/model.pt" | cut -c1-64; }
checkpoints() { { find "$1/runs" -name 'ckpt-*.pt' 2> /dev/null || true; } | sort -V; }
# Checkpoints whose write completed (the sha256 sidecar is written after the checkpoint itself).
complete() { for f in $(checkpoints "$1"); do if [ -f "$f.sha256" ]; then echo "$f"; fi; done; }
now_ms() { date +%s%3N; }
fail() { echo "FAIL: $1"; [ -n "${2:-}" ] && tail -20 "$2/log"; exit 1; }

# The reference, timed: T0 when its first checkpoint is complete, T when it ends; kills land in [T0 - 200 ms, T].
new_dir "$WORK/ref"
t0=$(now_ms)
(cd "$WORK/ref" && exec "$RUNNER" p.yaml --runs-dir runs > /dev/null 2>> log) &
pid=$!
T0=
while kill -0 "$pid" 2> /dev/null; do
  if [ -z "$T0" ] && [ -n "$(complete "$WORK/ref")" ]; then T0=$(( $(now_ms) - t0 )); fi
  sleep 0.005
done
wait "$pid" || fail "the reference run failed" "$WORK/ref"
T=$(( $(now_ms) - t0 ))
T0=${T0:-0}
LO=$(( T0 > 200 ? T0 - 200 : 0 ))
REF=$(weights "$WORK/ref")
echo "reference run: ${T} ms (first checkpoint at ${T0} ms), final weights sha256 ${REF:0:16}"

# ---- kill: SIGKILL at random moments, then the same command
same=0 mid=0 inwrite=0
for i in $(seq 1 "$KILLS"); do
  d="$WORK/kill$i"
  new_dir "$d"
  at=$(( LO + RANDOM % (T - LO + 1) ))
  (cd "$d" && exec "$RUNNER" p.yaml --runs-dir runs > /dev/null 2>> log) &
  pid=$!
  python3 -c "import time; time.sleep($at / 1000)"
  kill -KILL "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  n=$(checkpoints "$d" | wc -l)
  if [ "$n" -gt 0 ] && [ ! -f "$d/runs/faults/latest/stages/train/model.pt" ]; then mid=$((mid + 1)); fi
  # Cut during a checkpoint write: a checkpoint without its sidecar, or the write's temporary file, is left.
  if [ "$n" -ne "$(complete "$d" | wc -l)" ] || [ -n "$(find "$d/runs" -path '*checkpoints*' -name '*.tmp*' 2> /dev/null)" ]; then
    inwrite=$((inwrite + 1))
  fi
  run "$d" || fail "kill $i: the resumed run failed" "$d"
  got=$(weights "$d")
  if [ "$got" = "$REF" ]; then same=$((same + 1)); else fail "kill $i (at ${at} ms): final weights ${got:0:16} differ from ${REF:0:16}" "$d"; fi
  rm -rf "$d"
done
echo "kill: $same/$KILLS resumed runs bit-identical to the reference ($mid killed mid-training, $inwrite of them during a checkpoint write; the rest before the first checkpoint or after the stage completed)"

# ---- term: SIGTERM mid-training -> a checkpoint and exit 143
d="$WORK/term"
new_dir "$d"
(cd "$d" && exec "$RUNNER" p.yaml --runs-dir runs > /dev/null 2>> log) &
pid=$!
for _ in $(seq 1 400); do [ -n "$(checkpoints "$d")" ] && break; sleep 0.01; done
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 143 ] || fail "term: exit status $rc, expected 143" "$d"
[ -n "$(checkpoints "$d")" ] || fail "term: no checkpoint after SIGTERM" "$d"
run "$d" || fail "term: the resumed run failed" "$d"
[ "$(weights "$d")" = "$REF" ] || fail "term: final weights differ after SIGTERM and resume" "$d"
echo "term: exit 143 with a checkpoint, resumed bit-identical"

# ---- diskfull: a file-size limit hit while a checkpoint is written
d="$WORK/diskfull"
new_dir "$d"
(cd "$d" && exec "$RUNNER" p.yaml --runs-dir runs > /dev/null 2>> log) &
pid=$!
for _ in $(seq 1 400); do [ "$(complete "$d" | wc -l)" -ge 1 ] && break; sleep 0.01; done
kill -KILL "$pid" 2> /dev/null || true
wait "$pid" 2> /dev/null || true
before=$(complete "$d" | tail -1)
[ -n "$before" ] || fail "diskfull: no checkpoint to start from" "$d"
size_kb=$(( $(stat -c %s "$before") / 1024 ))
rc=0
(ulimit -f $((size_kb / 2)); run "$d") || rc=$?
[ "$rc" -ne 0 ] || fail "diskfull: the run succeeded under a file-size limit of half a checkpoint" "$d"
line=$(grep -E "error" "$d/log" | tail -1 || true)
echo "$line" | grep -qiE "checkpoint|write|space|large" || fail "diskfull: the error does not say what failed: $line" "$d"
[ -f "$before" ] && [ "$(sha256sum "$before" | cut -c1-64)" = "$(cat "$before.sha256")" ] ||
  fail "diskfull: the previous checkpoint $(basename "$before") is no longer intact" "$d"
run "$d" || fail "diskfull: the run without the limit failed" "$d"
[ "$(weights "$d")" = "$REF" ] || fail "diskfull: final weights differ" "$d"
echo "diskfull: exit $rc with \"${line#*error: }\"; the previous checkpoint intact; resumed bit-identical"

# ---- corrupt: the newest checkpoint truncated
d="$WORK/corrupt"
new_dir "$d"
(cd "$d" && exec "$RUNNER" p.yaml --runs-dir runs > /dev/null 2>> log) &
pid=$!
for _ in $(seq 1 400); do [ "$(complete "$d" | wc -l)" -ge 2 ] && break; sleep 0.01; done
kill -KILL "$pid" 2> /dev/null || true
wait "$pid" 2> /dev/null || true
[ "$(complete "$d" | wc -l)" -ge 2 ] || fail "corrupt: fewer than two complete checkpoints to work with" "$d"
# Later checkpoints whose write was cut short have no sidecar and are skipped anyway: remove them, so that the
# newest one is the complete checkpoint corrupted here.
newest=$(complete "$d" | tail -1)
for f in $(checkpoints "$d"); do [ -f "$f.sha256" ] || rm -f "$f"; done
truncate -s $(( $(stat -c %s "$newest") / 2 )) "$newest"
run "$d" || fail "corrupt: the run after the corruption failed" "$d"
warning=$(grep "$(basename "$newest")' is corrupted" "$d/log" | tail -1 || true)
[ -n "$warning" ] || fail "corrupt: no warning says $(basename "$newest") is corrupted" "$d"
grep -q "resumed from" "$d/log" || fail "corrupt: the run did not resume from the previous checkpoint" "$d"
[ "$(weights "$d")" = "$REF" ] || fail "corrupt: final weights differ" "$d"
echo "corrupt: $(basename "$newest") truncated: \"${warning#*warning: }\"; $(grep -o "resumed from [^ ]*" "$d/log" | tail -1); bit-identical"
echo "faults: all cases passed (seed $SEED)"
