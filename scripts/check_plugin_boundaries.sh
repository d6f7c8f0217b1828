#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Plugins stand alone (docs/architecture.md): a plugin builds from the files of its own folder
# plugins/<kind>/<name>/, the plugin SDK (sdk/) and the core, never from another plugin's files: a second copy of
# the same code in a second .so can disagree with the first at run time. This check fails, naming file and line, on
#   - an #include "..." in a plugin's sources that leaves the plugin's folder (../ out of it),
#   - an #include <...> with a path into plugins/,
#   - a path in a plugin's CMakeLists.txt (or *.cmake) that leaves its folder (../ out of it) or points into
#     plugins/ (${CMAKE_SOURCE_DIR}/plugins/..., ${CMAKE_CURRENT_SOURCE_DIR}/.., ...),
#   - a folder plugins/<kind>/<x>/ that is not a plugin (no CMakeLists.txt, e.g. a `common/` of shared headers),
#     or a file directly in plugins/<kind>/.
# What plugins share goes into the SDK: sdk/include/stagehand/sdk/ and sdk/src/.
# Run at configure time by plugins/CMakeLists.txt, and by tests/scripts/test_plugin_boundaries.sh.
# Usage: scripts/check_plugin_boundaries.sh [PLUGINS_DIR]   (default: this tree's plugins/)
set -euo pipefail
DIR=$(cd "${1:-$(dirname "$0")/../plugins}" && pwd)
ROOT=$(dirname "$DIR")
failures=0
fix="plugins share code through the SDK (sdk/), not through each other's folders"

rel() { echo "${1#"$ROOT"/}"; }
report() {
  echo "$1"
  failures=$((failures + 1))
}
# Whether $2 (a normalized path) is inside the folder $1.
inside() { case "$2/" in "$1"/*) return 0 ;; *) return 1 ;; esac }

check_sources() {
  local plugin=$1 file line text path target
  while IFS= read -r file; do
    while IFS=: read -r line text; do
      if [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
        path=${BASH_REMATCH[1]}
        target=$(realpath -m "$(dirname "$file")/$path")
        inside "$plugin" "$target" ||
          report "$(rel "$file"):$line: #include \"$path\" reaches $(rel "$target"), outside the plugin folder $(rel "$plugin")/; $fix"
      elif [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]*plugins/[^\>]*)\> ]]; then
        report "$(rel "$file"):$line: #include <${BASH_REMATCH[1]}> reaches into plugins/ from the plugin folder $(rel "$plugin")/; $fix"
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$file" || true)
  done < <(find "$plugin" -type f \( -name '*.cpp' -o -name '*.cc' -o -name '*.c' -o -name '*.h' -o -name '*.hpp' \
                                    -o -name '*.inc' \) | sort)
}

check_cmake() {
  local plugin=$1 file line text token target
  # ${CMAKE_SOURCE_DIR}/plugins..., ${PROJECT_SOURCE_DIR}/plugins...; ${CMAKE_CURRENT_SOURCE_DIR}/.. and the like.
  local into_plugins='\$\{[A-Za-z_]*(SOURCE|BINARY)_DIR\}/+plugins([/[:space:]")]|$)'
  local up_from_here='\$\{CMAKE_CURRENT_(SOURCE|LIST|BINARY)_DIR\}/+\.\.'
  while IFS= read -r file; do
    while IFS=: read -r line text; do
      [[ $text =~ ^[[:space:]]*# ]] && continue
      if [[ $text =~ $into_plugins ]] || [[ $text =~ $up_from_here ]]; then
        report "$(rel "$file"):$line: '$(echo "$text" | sed 's/^[[:space:]]*//')' names a path outside the plugin folder $(rel "$plugin")/; $fix"
        continue
      fi
      for token in $(echo "$text" | grep -o '[^[:space:]"()]*\.\./[^[:space:]"()]*' || true); do
        [[ $token == *'${'* ]] && target=$token || target=$(realpath -m "$(dirname "$file")/$token")
        inside "$plugin" "$target" ||
          report "$(rel "$file"):$line: $token is outside the plugin folder $(rel "$plugin")/; $fix"
      done
    done < <(grep -n '\.\.\|plugins' "$file" || true)
  done < <(find "$plugin" -type f \( -name CMakeLists.txt -o -name '*.cmake' \) | sort)
}

for kind in "$DIR"/*/; do
  kind=${kind%/}
  for entry in "$kind"/*; do
    [ -e "$entry" ] || continue
    if [ ! -d "$entry" ]; then
      report "$(rel "$entry"): a file outside any plugin folder (plugins/<kind>/<name>/); $fix"
    elif [ ! -f "$entry/CMakeLists.txt" ]; then
      report "$(rel "$entry")/: not a plugin (no CMakeLists.txt), so its files can only be used from other plugins' folders; $fix"
    else
      check_sources "$entry"
      check_cmake "$entry"
    fi
  done
done
if [ "$failures" -gt 0 ]; then
  echo "check_plugin_boundaries: $failures reference(s) across plugin folders in $(rel "$DIR")/"
  exit 1
fi
