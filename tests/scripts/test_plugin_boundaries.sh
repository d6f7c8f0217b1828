#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Plugins stand alone: scripts/check_plugin_boundaries.sh passes on this tree's plugins/, and fails, naming file and
# line, on a copy of them into which each kind of reference across plugin folders found in issue 24 is put back:
# a source compiled from another plugin's folder (CMake SOURCES ../../...), an include path into plugins/, an
# #include "../../<kind>/<name>/..." of another plugin's header, and a plugins/<kind>/common/ folder of shared
# headers included as "../common/...". A reference that stays inside its own folder ("sub/../local.h") is not one.
set -euo pipefail
SRC=$1
CHECK="$SRC/scripts/check_plugin_boundaries.sh"
WORK=$(mktemp -d /tmp/stagehand-boundaries.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() {
  echo "FAIL: $1"
  [ -f "$WORK/out.log" ] && cat "$WORK/out.log"
  exit 1
}

bash "$CHECK" "$SRC/plugins" > "$WORK/out.log" 2>&1 || fail "the tree's own plugins/ does not pass the check"

cp -r "$SRC/plugins" "$WORK/plugins"
P="$WORK/plugins"
# The violations, each at a known file and line.
printf '#include "../../dataset/squad/squad_dataset.cpp"\n' | cat - "$P/stage/probe/probe_stage.cpp" > "$WORK/x" &&
  mv "$WORK/x" "$P/stage/probe/probe_stage.cpp"
cat > "$P/stage/train/CMakeLists.txt" <<'CMAKE'
# SPDX-License-Identifier: Apache-2.0
# `init_hf` reads Hugging Face folders with the hf plugin's reader (compiled in: tensor-level code, no plugin state).
stagehand_add_plugin(stage_train
  SOURCES train_stage.cpp saved.cpp ../../encoder/hf/hf_plugin.cpp
  LIBRARIES nlohmann_json::nlohmann_json)
target_include_directories(stage_train PRIVATE ${CMAKE_SOURCE_DIR}/plugins/encoder/hf)
CMAKE
mkdir -p "$P/loss/common"
printf '#pragma once\n' > "$P/loss/common/classification.h"
printf '#include "../common/classification.h"\n' | cat - "$P/loss/mlm/mlm_loss.cpp" > "$WORK/x" &&
  mv "$WORK/x" "$P/loss/mlm/mlm_loss.cpp"
printf '#include "../../evaluator/ner/ner_evaluator.cpp"\n' >> "$P/dataset/token_classification/token_files.h"
line_of_last=$(wc -l < "$P/dataset/token_classification/token_files.h")
# Not violations: a path that stays inside the plugin's folder, and a comment naming another folder.
mkdir -p "$P/head/mlp/sub"
printf '#include "sub/../mlp_local.h"\n' >> "$P/head/mlp/mlp_head.cpp"
printf '#pragma once\n' > "$P/head/mlp/mlp_local.h"
printf '# shared with ../../loss/common in the old days\n' >> "$P/head/mlp/CMakeLists.txt"

if bash "$CHECK" "$P" > "$WORK/out.log" 2>&1; then fail "the check passed on a tree with references across plugins"; fi
expect() { grep -qF -- "$1" "$WORK/out.log" || fail "the check does not report: $1"; }
expect "plugins/stage/probe/probe_stage.cpp:1: #include \"../../dataset/squad/squad_dataset.cpp\""
expect "plugins/stage/train/CMakeLists.txt:4: ../../encoder/hf/hf_plugin.cpp is outside the plugin folder plugins/stage/train/"
expect "plugins/stage/train/CMakeLists.txt:6: 'target_include_directories(stage_train PRIVATE \${CMAKE_SOURCE_DIR}/plugins/encoder/hf)'"
expect "plugins/loss/common/: not a plugin (no CMakeLists.txt)"
expect "plugins/loss/mlm/mlm_loss.cpp:1: #include \"../common/classification.h\" reaches plugins/loss/common/classification.h"
expect "plugins/dataset/token_classification/token_files.h:$line_of_last: #include \"../../evaluator/ner/ner_evaluator.cpp\""
expect "check_plugin_boundaries: 6 reference(s) across plugin folders"
if grep -q 'head/mlp' "$WORK/out.log"; then fail "a reference inside its own plugin folder was reported"; fi
echo "check_plugin_boundaries: the tree passes; all 6 planted references are reported with file and line"
