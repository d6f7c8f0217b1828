#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (printed, never asserted): `runner check` on the largest shipped pipeline with every built-in plugin
# loaded, and the load time of each plugin. Goals: check under 0.5 s, each plugin under 20 ms.
set -euo pipefail
RUNNER=${1:-build/bin/runner}
cd "$(dirname "$0")/.."
largest=$(ls -S pipelines/*.yaml | head -1)
echo "runner check on the largest shipped pipeline: $largest ($(wc -l < "$largest") lines)"
best=0
for i in 1 2 3 4 5; do
  start=$(date +%s%N)
  "$RUNNER" check "$largest" > /dev/null
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  echo "  run $i: ${ms} ms (whole process: start, load plugins, validate)"
  if [ "$best" = 0 ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
done
echo "best: ${best} ms (goal < 500 ms)"
echo "per-plugin load time (goal < 20 ms each):"
"$RUNNER" check --timing "$largest" | sed -n '/^timing:/,$p'
