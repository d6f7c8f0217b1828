#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The light runner (core/runner/light/main.cpp): `runner check`, `plugins` and `describe` read the plugins'
# declaration files and print exactly what runner-full, which opens every plugin, prints (every shipped pipeline,
# resolved; every component described), without LibTorch in the process; any other command, and a plugin without an
# up-to-date declaration file, is handed to runner-full with the same result.
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-light.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RUNNER="$BUILD/bin/runner"
cd "$SRC"
fail() { echo "FAIL: $1"; [ $# -gt 1 ] && diff "$2" "$3" | head -20; exit 1; }
same() {  # same NAME ARGS...: the light and the full runner print the same and exit alike
  local name=$1
  shift
  set +e
  "$RUNNER" "$@" > "$WORK/$name.light" 2>&1
  local a=$?
  STAGEHAND_FULL_RUNNER=1 "$RUNNER" "$@" > "$WORK/$name.full" 2>&1
  local b=$?
  set -e
  [ "$a" = "$b" ] || fail "runner $* exits $a light, $b full" "$WORK/$name.light" "$WORK/$name.full"
  # `plugins` lists each file's load time, which differs run to run.
  sed -i -E 's/, [0-9]+\.[0-9] ms\)$/)/' "$WORK/$name.light" "$WORK/$name.full"
  cmp -s "$WORK/$name.light" "$WORK/$name.full" || fail "runner $* prints otherwise light and full" \
    "$WORK/$name.light" "$WORK/$name.full"
}
n=0
for p in pipelines/*.yaml; do
  same "check-$(basename "$p")" check "$p"
  same "print-$(basename "$p")" check --print "$p"
  n=$((n + 1))
done
same plugins plugins
same plugins-kind plugins --kind loss
components=$("$RUNNER" plugins | awk '/^[a-z_]+( —.*)?:/ {kind=$1; sub(":", "", kind)} /^  [a-z0-9_]+ / && kind != "" {print kind "/" $1}')
[ "$(echo "$components" | wc -l)" -ge 60 ] || fail "too few components listed: $components"
for c in $components; do same "describe-${c//\//-}" describe "$c"; done
# Errors alike: a mistyped option, an unknown component.
printf 'pipeline: bad\nstages:\n  tok:\n    kind: tokenizer\n    trian: {}\n' > "$WORK/bad.yaml"
same bad check "$WORK/bad.yaml"
same unknown describe loss/nothing
grep -q "runner: error:" "$WORK/bad.light" || fail "no error for a mistyped option" "$WORK/bad.light" /dev/null

# The light path is taken, and LibTorch stays out of the process.
"$RUNNER" check --timing pipelines/quickstart.yaml > "$WORK/timing" 2>&1
grep -q "plugins read from their declaration files; LibTorch loaded: no" "$WORK/timing" ||
  fail "quickstart was not checked from declaration files" "$WORK/timing" /dev/null
STAGEHAND_FULL_RUNNER=1 "$RUNNER" check --timing pipelines/quickstart.yaml > "$WORK/timing.full" 2>&1
grep -q "plugins opened; LibTorch loaded: yes" "$WORK/timing.full" || fail "runner-full did not say so" "$WORK/timing.full" /dev/null

# A plugin without a declaration file (an out-of-tree build without one): handed over, same verdict, and the reason.
cp "$BUILD/plugins/loss_triplet.so" "$WORK/loss_extra.so"
"$RUNNER" --plugin "$WORK/loss_extra.so" check --timing pipelines/quickstart.yaml \
  > "$WORK/handed" 2>&1 || true
grep -q "the light runner handed over: plugin $WORK/loss_extra.so has no declaration file" "$WORK/handed" ||
  fail "no hand-over for a plugin without a declaration file" "$WORK/handed" /dev/null
# Other commands go to runner-full: its exit status and output.
"$RUNNER" --version | grep -q "^stagehand " || fail "runner --version"
set +e
"$RUNNER" replay "$WORK/none.yaml" > "$WORK/replay" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "runner: error:" "$WORK/replay" || fail "replay of a missing record: exit $rc" "$WORK/replay" /dev/null
echo "light runner: $n pipelines checked and printed alike, $(echo "$components" | wc -l) components described alike; LibTorch not loaded"
