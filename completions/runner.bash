# SPDX-License-Identifier: Apache-2.0
# Bash completion for stagehand's `runner` (installed by `make install` into share/bash-completion/completions).
# Completes subcommands, pipeline files, and in overrides the stage names and option keys a pipeline file declares
# (stages.<TAB>, stages.NAME.<TAB>), read from the file itself (included files are not followed).

_stagehand_runner_commands="run check plugins describe replay diff runs sweep predict report test-plugin tokenize bench help"

# The keys one level below a dotted path ("stages" or "stages.NAME") of a pipeline file, by indentation.
_stagehand_runner_keys() {
  local file=$1 path=$2
  awk -v path="$path" '
    BEGIN { n = split(path, want, "."); depth = 0 }
    /^[[:space:]]*(#|$)/ { next }
    {
      match($0, /^ */); indent = RLENGTH
      line = substr($0, indent + 1)
      if (line !~ /^[A-Za-z0-9_.-]+:/) next
      key = line; sub(/:.*/, "", key)
      level = indent / 2
      if (level < depth) depth = level
      if (level == depth && depth < n && key == want[depth + 1]) { depth++; next }
      if (depth == n && level == n) print key
    }' "$file" 2>/dev/null
}

_stagehand_runner() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local cmd="" file="" i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in
      -*) ;;
      *.yaml | *.yml) [ -z "$file" ] && file=$w ;;
      *) [ -z "$cmd" ] && [[ " $_stagehand_runner_commands " == *" $w "* ]] && cmd=$w ;;
    esac
  done
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "--help --version --plugin --runs-dir --cache-dir --only --from --force --no-cache --nproc --print --metrics --sort --desc --format --compare" -- "$cur"))
    return
  fi
  if [ -z "$cmd" ] && [ -z "$file" ] && [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "$_stagehand_runner_commands" -- "$cur") $(compgen -f -X '!*.y*ml' -- "$cur") $(compgen -d -- "$cur"))
    return
  fi
  if [ -n "$file" ] && [ -f "$file" ] && [[ $cur == *.* || $cur == stages* || $cur == vars* ]]; then
    local prefix=${cur%.*} keys k
    [[ $cur != *.* ]] && prefix=""
    if [ -z "$prefix" ]; then
      keys="stages vars seed threads name"
      COMPREPLY=($(compgen -W "$(for k in $keys; do echo "$k."; done)" -- "$cur"))
    else
      keys=$(_stagehand_runner_keys "$file" "$prefix")
      COMPREPLY=($(compgen -W "$(for k in $keys; do echo "$prefix.$k"; done)" -- "$cur"))
    fi
    compopt -o nospace 2> /dev/null
    return
  fi
  case $cmd in
    describe)
      COMPREPLY=($(compgen -W "stage/ dataset/ encoder/ model/ head/ loss/ optimizer/ scheduler/ evaluator/ tokenizer/" -- "$cur"))
      compopt -o nospace 2> /dev/null ;;
    replay | diff | report | predict) COMPREPLY=($(compgen -f -X '!*.yaml' -- "$cur") $(compgen -d -- "$cur")) ;;
    test-plugin) COMPREPLY=($(compgen -f -X '!*.so' -- "$cur") $(compgen -d -- "$cur")) ;;
    *) COMPREPLY=($(compgen -f -X '!*.y*ml' -- "$cur") $(compgen -d -- "$cur")) ;;
  esac
}
complete -F _stagehand_runner runner
