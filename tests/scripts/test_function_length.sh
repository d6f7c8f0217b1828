#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# No function over 85 lines (about 80, with room for a signature that wraps) in the core, the runner and the train
# stage (docs/architecture.md); and the checker finds one that is over, so that it cannot pass by reading nothing.
set -euo pipefail
SRC=$1
/usr/bin/python3 "$SRC/scripts/check_function_length.py" 85 "$SRC/core" "$SRC/plugins/stage/train"
WORK=$(mktemp -d /tmp/stagehand-fnlen.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
{ echo "int long_one(int x) {"; for i in $(seq 1 90); do echo "  x += $i;  // { not a brace"; done; echo "  return x;"; echo "}"; } > "$WORK/long.cpp"
if out=$(/usr/bin/python3 "$SRC/scripts/check_function_length.py" 85 "$WORK"); then
  echo "the checker missed a 93-line function"; exit 1
fi
echo "$out" | grep -q "long.cpp:1: a function of 93 lines" || { echo "unexpected: $out"; exit 1; }
echo "function length: nothing over 85 lines in core/ and the train stage, and the checker catches one that is"
