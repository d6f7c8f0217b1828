#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package (`cpack -G DEB` in the build folder): it holds the runner, the plugins, the headers, the CMake
# package and the shell completion, depends on the Debian libraries it links, and, unpacked into a temporary root,
# runs as installed: the packaged runner lists its plugins, and the out-of-tree example (tests/out_of_tree) builds
# against the packaged CMake package and runs in a pipeline of the packaged runner.
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
(cd "$BUILD" && cpack -G DEB -B "$WORK/pkg") > "$WORK/cpack.log" 2>&1 || { cat "$WORK/cpack.log"; fail "cpack failed"; }
DEB=$(ls "$WORK"/pkg/stagehand_*_amd64.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || { cat "$WORK/cpack.log"; fail "no .deb written"; }
dpkg-deb -f "$DEB" Package | grep -qx stagehand || fail "package name"
for dep in libtorch1.13 libyaml-cpp0.7 libsentencepiece0 libtorch-dev; do
  dpkg-deb -f "$DEB" Depends | grep -q "$dep" || fail "Depends lacks $dep: $(dpkg-deb -f "$DEB" Depends)"
done
ROOT="$WORK/root"
dpkg-deb -x "$DEB" "$ROOT"
for f in usr/bin/runner usr/include/stagehand/plugin.h usr/include/stagehand/sdk/upstream.h \
         usr/lib/cmake/Stagehand/StagehandConfig.cmake usr/lib/cmake/Stagehand/StagehandPlugin.cmake \
         usr/share/bash-completion/completions/runner usr/share/zsh/site-functions/_runner; do
  [ -e "$ROOT/$f" ] || fail "$f is not in the package"
done
plugins=$(ls "$ROOT"/usr/lib/stagehand/plugins/*.so | wc -l)
[ "$plugins" -ge 40 ] || fail "only $plugins plugins in the package"
# The installed headers are the plugin API and the SDK: no host internals.
for host in loader.h pipeline.h conformance.h; do [ ! -e "$ROOT/usr/include/stagehand/$host" ] || fail "$host packaged"; done
"$ROOT/usr/bin/runner" plugins > "$WORK/plugins.log" 2>&1 || { cat "$WORK/plugins.log"; fail "packaged runner"; }
grep -q "$ROOT/usr/lib/stagehand/plugins/stage_train.so" "$WORK/plugins.log" ||
  { cat "$WORK/plugins.log"; fail "the packaged runner does not load the packaged plugins"; }
cmake -S "$SRC/tests/out_of_tree" -B "$WORK/oot" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$ROOT/usr" \
  > "$WORK/configure.log" 2>&1 || { cat "$WORK/configure.log"; fail "configure against the package"; }
cmake --build "$WORK/oot" --target char_tokenizer > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "build"; }
mkdir -p "$WORK/pipe"
printf 'It is a truth universally acknowledged.\nCall me Ishmael.\n' > "$WORK/pipe/corpus.txt"
cat > "$WORK/pipe/chars.yaml" <<YAML
name: chars
plugins: [../oot/char_tokenizer.so]
stages:
  chars:
    kind: tokenizer
    train: {type: char_tokenizer, min_count: 1}
    corpus: [corpus.txt]
    heldout: [corpus.txt]
YAML
(cd "$WORK/pipe" && "$ROOT/usr/bin/runner" chars.yaml) > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; fail "run"; }
grep -q "unk_rate=0" "$WORK/run.log" || { cat "$WORK/run.log"; fail "the plugin's tokenizer did not run"; }
echo "deb package: $(basename "$DEB") ($(du -h "$DEB" | cut -f1)) holds runner, $plugins plugins, headers, CMake" \
     "package and completion; unpacked, it runs and builds the out-of-tree plugin"
