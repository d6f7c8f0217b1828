#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Rules of docs/architecture.md the compiler does not check: no function over 85 lines (about 80, with room for a
# signature that wraps) in the core, the runner and the train stage, and the checker finds one that is over, so that
# it cannot pass by reading nothing; errors raised one way (no std::runtime_error, no SH_CHECK(false, ...)).
set -euo pipefail
SRC=$1
/usr/bin/python3 "$SRC/scripts/check_function_length.py" 85 "$SRC/core" "$SRC/plugins/stage/train"
# One error type raised one way: no std::runtime_error thrown, no SH_CHECK(false, ...) (use stagehand::fail).
if grep -rnE "throw std::runtime_error|SH_CHECK\(false" "$SRC/core" "$SRC/plugins" "$SRC/sdk" --include=*.cpp --include=*.h; then
  echo "raise stagehand::Error with SH_CHECK, fail or fail_at (core/include/stagehand/error.h)"; exit 1
fi
WORK=$(mktemp -d /tmp/stagehand-fnlen.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
{ echo "int long_one(int x) {"; for i in $(seq 1 90); do echo "  x += $i;  // { not a brace"; done; echo "  return x;"; echo "}"; } > "$WORK/long.cpp"
if out=$(/usr/bin/python3 "$SRC/scripts/check_function_length.py" 85 "$WORK"); then
  echo "the checker missed a 93-line function"; exit 1
fi
echo "$out" | grep -q "long.cpp:1: a function of 93 lines" || { echo "unexpected: $out"; exit 1; }
echo "code rules: nothing over 85 lines in core/ and the train stage (the checker catches one that is); one way to raise errors"
