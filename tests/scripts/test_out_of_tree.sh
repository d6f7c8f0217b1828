#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs stagehand into a temporary prefix, builds tests/out_of_tree (one .cpp per plugin) with plain CMake against
# the installed package, and uses its components by name from pipelines run by the installed runner: a tokenizer, a
# loss, and a training stage built on the SDK's Trainer (interrupted, resumed, its metric and model checked).
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-oot.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log"
# The installed headers are the plugin API and the SDK only: no host internals (docs/architecture.md).
for host in loader.h pipeline.h conformance.h util.h; do
  if [ -e "$WORK/prefix/include/stagehand/$host" ]; then echo "host header $host is installed"; exit 1; fi
done
test -f "$WORK/prefix/include/stagehand/plugin.h" && test -f "$WORK/prefix/include/stagehand/sdk/upstream.h"
cmake -S "$SRC/tests/out_of_tree" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log" || { cat "$WORK/configure.log"; exit 1; }
cmake --build "$WORK/build" > "$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
test -f "$WORK/build/char_tokenizer.so"
mkdir -p "$WORK/pipe"
printf 'It is a truth universally acknowledged.\nCall me Ishmael.\n' > "$WORK/pipe/corpus.txt"
cat > "$WORK/pipe/chars.yaml" <<YAML
name: chars
plugins: [../build/char_tokenizer.so]
stages:
  chars:
    kind: tokenizer
    train: {type: char_tokenizer, min_count: 1}
    corpus: [corpus.txt]
    heldout: [corpus.txt]
YAML
cd "$WORK/pipe"
"$WORK/prefix/bin/runner" describe tokenizer/char_tokenizer --plugin "$WORK/build/char_tokenizer.so" | grep "one token per UTF-8 character" > /dev/null
"$WORK/prefix/bin/runner" chars.yaml > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; exit 1; }
cat "$WORK/run.log"
grep -q "unk_rate=0" "$WORK/run.log"
grep -q 'components: \["tokenizer/char_tokenizer", "tokenizer_trainer/char_tokenizer"\]' runs/chars/latest/record.yaml
"$WORK/prefix/bin/runner" test-plugin "$WORK/build/char_tokenizer.so" | tee "$WORK/conformance.log"
grep -q " 0 failed" "$WORK/conformance.log"
# A custom loss in one file, used by name in a training stage of the installed runner.
test -f "$WORK/build/focal_loss.so"
for i in $(seq 0 47); do
  if [ $((i % 3)) -eq 0 ]; then text="win free money now $i"; label=spam; else text="meeting notes for monday $i"; label=ham; fi
  printf '{"id": "m%d", "text": "%s", "label": "%s"}\n' "$i" "$text" "$label"
done > "$WORK/pipe/spam.jsonl"
cat > "$WORK/pipe/focal.yaml" <<YAML
name: focal
plugins: [../build/focal_loss.so]
stages:
  train:
    kind: train
    data: {type: text_classification, train: spam.jsonl, validation: spam.jsonl,
           tokenizer: {type: wordpiece, vocab: $SRC/tests/data/tokenizers/bert-base-uncased-vocab.txt}, max_length: 16}
    model:
      type: classifier
      pooling: mean
      encoder: {type: transformer, vocab_size: 30522, hidden_size: 16, num_layers: 1, num_heads: 2,
                intermediate_size: 32, max_positions: 16}
    loss: {type: focal, gamma: 2.0}
    evaluators: [{type: classification}]
    batch_size: 8
    steps: 6
YAML
"$WORK/prefix/bin/runner" focal.yaml > "$WORK/focal.log" 2>&1 || { cat "$WORK/focal.log"; exit 1; }
grep -q "validation.macro_f1" "$WORK/focal.log" || { cat "$WORK/focal.log"; exit 1; }
grep -q '"loss/focal"' runs/focal/latest/record.yaml
"$WORK/prefix/bin/runner" test-plugin "$WORK/build/focal_loss.so" | tee "$WORK/focal-conformance.log"
grep -q " 0 failed" "$WORK/focal-conformance.log"
# A custom training stage in one file on the SDK's Trainer: a frozen teacher, its own loss mix, its own metric.
test -f "$WORK/build/distill_mix_stage.so"
DATA="{type: text_classification, train: spam.jsonl, validation: spam.jsonl, max_length: 16,
           tokenizer: {type: wordpiece, vocab: $SRC/tests/data/tokenizers/bert-base-uncased-vocab.txt}}"
cat > "$WORK/pipe/distill.yaml" <<YAML
name: distill
plugins: [../build/distill_mix_stage.so]
stages:
  teacher:
    kind: train
    data: $DATA
    model: {type: classifier, pooling: mean, encoder: {type: transformer, vocab_size: 30522, hidden_size: 16,
            num_layers: 1, num_heads: 2, intermediate_size: 32, max_positions: 16}}
    loss: {type: cross_entropy}
    optimizer: {type: adamw, lr: 1.0e-3}
    evaluators: [{type: classification}]
    batch_size: 8
    steps: 30
  student:
    kind: distill_mix
    teacher: teacher
    data: $DATA
    model: {type: classifier, pooling: mean, encoder: {type: transformer, vocab_size: 30522, hidden_size: 8,
            num_layers: 1, num_heads: 2, intermediate_size: 16, max_positions: 16}}
    alpha: 0.0                 # the teacher alone: the student must come to agree with it
    evaluators: [{type: classification}]
    batch_size: 8
    steps: 300
    eval_every: 100
    checkpoint_every: 5
  check:
    kind: evaluate
    models: [student]
    data: $DATA
    split: validation
YAML
"$WORK/prefix/bin/runner" describe stage/distill_mix --plugin "$WORK/build/distill_mix_stage.so" | grep "grad_accum" > /dev/null
# Stop the student once it has written a checkpoint (SIGTERM: a checkpoint and exit 143), then run again: it resumes.
"$WORK/prefix/bin/runner" distill.yaml > "$WORK/distill-1.log" 2>&1 &
PID=$!
for _ in $(seq 600); do
  ls runs/.cache/student-*/checkpoints/ckpt-*.pt.sha256 > /dev/null 2>&1 && break
  kill -0 $PID 2> /dev/null || break
  sleep 0.1
done
kill -TERM $PID
STATUS=0
wait $PID || STATUS=$?
[ "$STATUS" -eq 143 ] || { echo "the interrupted run exited $STATUS, not 143"; cat "$WORK/distill-1.log"; exit 1; }
"$WORK/prefix/bin/runner" distill.yaml > "$WORK/distill.log" 2>&1 || { cat "$WORK/distill.log"; exit 1; }
cat "$WORK/distill.log"
grep -q "\[student\] resumed from ckpt-" "$WORK/distill.log"
RECORD=runs/distill/latest/record.yaml
# The stage's own metric, the Trainer's metrics and loss parts, its model used by a later stage.
AGREE=$(sed -n '/^  student:/,/^  check:/p' "$RECORD" | sed -n 's/^ *teacher_agreement: //p')
[ -n "$AGREE" ] || { echo "student records no teacher_agreement"; cat "$RECORD"; exit 1; }
awk -v a="$AGREE" 'BEGIN { exit !(a >= 0.9 && a <= 1) }' || { echo "teacher_agreement $AGREE, expected >= 0.9"; exit 1; }
sed -n '/^  student:/,/^  check:/p' "$RECORD" | grep "^ *validation.macro_f1: " > /dev/null
sed -n '/^  student:/,/^  check:/p' "$RECORD" | grep "^ *steps: 300" > /dev/null
grep -q '"stage":"student".*"ce":.*"kd":' runs/distill/latest/metrics.jsonl  # one grep: pipefail and grep -q's SIGPIPE
test -f runs/distill/latest/stages/student/model.pt
test ! -e runs/distill/latest/stages/student/checkpoints
sed -n '/^  check:/,$p' "$RECORD" | grep "status: \"ran\"" > /dev/null
echo "out-of-tree plugins: a tokenizer, a custom loss and a custom training stage on the SDK's Trainer, each one .cpp, built against the installed package and used by name: ok"
