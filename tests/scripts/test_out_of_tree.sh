#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs stagehand into a temporary prefix, builds tests/out_of_tree (one .cpp) with plain CMake against the
# installed package, and uses its component by name from a pipeline run by the installed runner.
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-oot.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log"
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
"$WORK/prefix/bin/runner" describe tokenizer/char_tokenizer --plugin "$WORK/build/char_tokenizer.so" | grep -q "one token per UTF-8 character"
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
echo "out-of-tree plugins: a tokenizer and a custom loss, each one .cpp, built against the installed package and used by name: ok"
