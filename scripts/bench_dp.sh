#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (printed, never asserted): data-parallel training on this machine. The quickstart's ELECTRA pretraining
# stage (real corpora, batch 32 x 128 tokens, a 128-wide 2-layer discriminator with its generator) runs STEPS steps
#   - as 1 rank with 2 LibTorch threads, and
#   - as 2 ranks (runner --nproc 2) with 1 thread each, the gradients all-reduced over loopback by c10d's Gloo;
# alternately, ROUNDS times, and prints tokens/s of each, their ratio, and the share of the 2-rank step time spent
# in the all-reduce (the train stage's allreduce_share timing). Usage: scripts/bench_dp.sh [RUNNER]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
RUNNER=$(realpath "${1:-$SRC/build/bin/runner}")
STEPS=${STEPS:-40}
ROUNDS=${ROUNDS:-2}
WORK=$(mktemp -d /tmp/stagehand-bench-dp.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$SRC/pipelines"
common=(quickstart.yaml --runs-dir "$WORK/runs" "stages.pretrain.steps=$STEPS" "stages.pretrain.eval_every=100000")
echo "preparing the tokenizer and the pretraining examples (once)..."
"$RUNNER" "${common[@]}" --only tokenizer --only pretrain_data > "$WORK/prep.log" 2>&1 || { tail -20 "$WORK/prep.log"; exit 1; }

# timing NAME FILE: a timing of the pretrain stage from a run record.
timing() { sed -n "/^  pretrain:/,/^  [a-z_]*:$/p" "$2" | sed -n "s/^ *$1: \([0-9.e+-]*\)$/\1/p" | head -1; }
one=() two=() share=() overlap=()
for round in $(seq "$ROUNDS"); do
  for config in one two; do
    if [ "$config" = one ]; then
      cmd=("$RUNNER" "${common[@]}" threads.intra_op=2)
    else
      cmd=("$RUNNER" --nproc 2 "${common[@]}" threads.intra_op=1)
    fi
    "${cmd[@]}" --only pretrain --force pretrain > "$WORK/$config.log" 2>&1 || { tail -20 "$WORK/$config.log"; exit 1; }
    record="$WORK/runs/quickstart/latest/record.yaml"
    tps=$(timing tokens_per_second "$record")
    if [ "$config" = one ]; then one+=("$tps"); else two+=("$tps"); share+=("$(timing allreduce_share "$record")"); overlap+=("$(timing allreduce_overlapped "$record")"); fi
    printf "  round %d, %s: %.0f tokens/s\n" "$round" "$([ $config = one ] && echo '1 rank x 2 threads' || echo '2 ranks x 1 thread')" "$tps"
  done
done
mean() { printf "%s\n" "$@" | awk '{s += $1} END {printf "%.6g", s / NR}'; }
m1=$(mean "${one[@]}")
m2=$(mean "${two[@]}")
ms=$(mean "${share[@]}")
mo=$(mean "${overlap[@]}")
echo
echo "ELECTRA pretraining (quickstart's pretrain stage), batch 32 x 128, $STEPS steps, mean of $ROUNDS alternating rounds, $(nproc) cores:"
printf "%-22s %12s %10s %18s %22s\n" configuration tokens/s ratio "all-reduce wait" "buckets started early"
printf "%-22s %12.0f %10s %18s %22s\n" "1 rank x 2 threads" "$m1" "1.00" "-" "-"
printf "%-22s %12.0f %10.2f %17.1f%% %21.0f%%\n" "2 ranks x 1 thread" "$m2" "$(awk "BEGIN {print $m2 / $m1}")" \
  "$(awk "BEGIN {print $ms * 100}")" "$(awk "BEGIN {print $mo * 100}")"
echo "(all-reduce wait: the share of the training time spent waiting for the gradient sums after the backward pass;"
echo " buckets started early: the share of gradient buckets whose all-reduce started during the backward pass)"
