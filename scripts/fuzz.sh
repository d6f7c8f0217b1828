#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make fuzz`: builds the libFuzzer targets of fuzz/ with clang (AddressSanitizer and UndefinedBehaviorSanitizer on)
# and runs each for SECONDS (default 600), starting from the seed corpus committed in fuzz/corpus/<target>/ (the
# corpus grown in a run stays in build-fuzz/corpus/). A crash, a sanitizer report, a leak, a hang (10 s for one
# input) or a foreign exception stops that target, leaves the input in build-fuzz/findings/ and makes the script
# fail; a finding becomes a regression test in tests/.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   (targets: yaml resolve wordpiece sentencepiece records conll pairs squad specter pretraining corpus; default all)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=${1:-600}
shift || true
TARGETS=${*:-yaml resolve wordpiece sentencepiece records conll pairs squad specter pretraining corpus}
OUT="$SRC/build-fuzz"
CXX=${FUZZ_CXX:-clang++}
command -v "$CXX" > /dev/null || { echo "fuzz: $CXX not found; install the Debian packages clang and libclang-rt-dev"; exit 1; }
mkdir -p "$OUT/findings" "$OUT/corpus"
FLAGS=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all
       -I"$SRC/core/include" -I"$SRC/sdk/include" -I"$SRC/plugins/tokenizer/wordpiece"
       -I"$SRC/plugins/dataset/token_classification" -I"$SRC/plugins/dataset/text_classification"
       -I"$SRC/plugins/dataset/sentence_pairs" -I"$SRC/plugins/dataset/pretraining"
       -I"$SRC/plugins/dataset/specter" -I"$SRC/plugins/tokenizer/sentencepiece"
       -I"$SRC/plugins/dataset/text_corpus")
UTIL=("$SRC/core/src/util/error.cpp" "$SRC/core/src/util/files.cpp" "$SRC/core/src/util/utf8.cpp" "$SRC/core/src/util/seed.cpp"
      "$SRC/core/src/util/numbers.cpp")
# Tensor-free SDK sources the readers use (the SDK library itself needs LibTorch).
SDK_RECORDS="$SRC/sdk/src/records.cpp"
declare -A SOURCES=(
  [yaml]="$SRC/fuzz/fuzz_yaml.cpp $SRC/core/src/config/config_node.cpp $SRC/core/src/config/yaml_io.cpp"
  [resolve]="$SRC/fuzz/fuzz_resolve.cpp $SRC/core/src/config/config_node.cpp $SRC/core/src/config/yaml_io.cpp"
  [wordpiece]="$SRC/fuzz/fuzz_wordpiece.cpp $SRC/plugins/tokenizer/wordpiece/wordpiece_tokenizer.cpp $SRC/plugins/tokenizer/wordpiece/unicode_tables.cpp"
  [records]="$SRC/fuzz/fuzz_records.cpp $SRC/plugins/dataset/text_classification/text_records.cpp $SDK_RECORDS"
  [pairs]="$SRC/fuzz/fuzz_pairs.cpp $SRC/plugins/dataset/sentence_pairs/pair_files.cpp $SDK_RECORDS"
  [pretraining]="$SRC/fuzz/fuzz_pretraining.cpp"
  [specter]="$SRC/fuzz/fuzz_specter.cpp $SRC/plugins/dataset/specter/metadata.cpp $SRC/plugins/dataset/specter/triplet_sampling.cpp $SDK_RECORDS"
  [sentencepiece]="$SRC/fuzz/fuzz_sentencepiece.cpp $SRC/plugins/tokenizer/sentencepiece/spm_bridge.cpp"
  [corpus]="$SRC/fuzz/fuzz_corpus.cpp $SRC/plugins/dataset/text_corpus/corpus_lines.cpp"
  [conll]="$SRC/fuzz/fuzz_conll.cpp $SRC/plugins/dataset/token_classification/token_files.cpp $SDK_RECORDS"
  [squad]="$SRC/fuzz/fuzz_squad.cpp $SRC/sdk/src/squad/squad.cpp $SRC/core/src/tokenizer/encode.cpp"
)
export STAGEHAND_FUZZ_VOCAB="$SRC/tests/data/tokenizers/bert-base-uncased-vocab.txt"
export STAGEHAND_FUZZ_SPM_MODEL="$SRC/tests/data/tokenizers/albert-30k-clean.model"
status=0
for t in $TARGETS; do
  [ -n "${SOURCES[$t]:-}" ] || { echo "fuzz: unknown target '$t'; expected one of: ${!SOURCES[*]}"; exit 2; }
  echo "fuzz_$t: building"
  # shellcheck disable=SC2086
  "$CXX" "${FLAGS[@]}" ${SOURCES[$t]} "${UTIL[@]}" -o "$OUT/fuzz_$t" -lyaml-cpp -lfmt -lcrypto \
    $([ "$t" = sentencepiece ] && echo -lsentencepiece -lsentencepiece_train)
  mkdir -p "$OUT/corpus/$t"
  cp -n "$SRC/fuzz/corpus/$t/"* "$OUT/corpus/$t/" 2> /dev/null || true
  echo "fuzz_$t: running for ${SECONDS_EACH}s"
  if (cd "$OUT" && ASAN_OPTIONS=detect_leaks=1 ./"fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 \
        -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -artifact_prefix="$OUT/findings/$t-" \
        "$OUT/corpus/$t" > "$OUT/fuzz_$t.log" 2>&1); then
    echo "fuzz_$t: no finding; $(grep -E '^stat::number_of_executed_units' "$OUT/fuzz_$t.log" | awk '{print $2}') inputs," \
         "$(grep -oE 'cov: [0-9]+' "$OUT/fuzz_$t.log" | tail -1), corpus $(ls "$OUT/corpus/$t" | wc -l) files"
  else
    status=1
    echo "fuzz_$t: FINDING (log: $OUT/fuzz_$t.log, input: $(ls -t "$OUT/findings/$t-"* 2> /dev/null | head -1))"
    grep -E "ERROR|runtime error|SUMMARY|terminate called|what\(\)" "$OUT/fuzz_$t.log" | head -5
  fi
done
exit $status
