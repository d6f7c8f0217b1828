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
echo "out-of-tree plugin: built against the installed package and used by name: ok"
