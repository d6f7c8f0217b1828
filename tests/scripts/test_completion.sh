#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The bash completion (completions/runner.bash, installed by `make install`): subcommands, pipeline files, stage names
# and a stage's option keys in an override, read from the pipeline file; the installed zsh file loads the same.
set -euo pipefail
SRC=$1
WORK=$(mktemp -d /tmp/stagehand-completion.XXXXXX)
trap "rm -rf $WORK" EXIT
cd "$WORK"
mkdir pipelines
cat > pipelines/demo.yaml <<'YAML'
name: demo
vars:
  lr: 1.0e-4
stages:
  tokenizer:
    kind: tokenizer
    train: {files: [a.txt]}
  finetune:
    kind: train
    optimizer: {type: adamw}
    batch_size: 8
    steps: 10
  evaluate:
    kind: evaluate
YAML
source "$SRC/completions/runner.bash"
complete_words() {  # the completions of the last word of "$@"
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _stagehand_runner
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
expect() {  # expect WANT GOT
  [ "$1" == "$2" ] || { echo "completion: expected '$1', got '$2'"; exit 1; }
}
expect "check " "$(complete_words runner che)"
expect "describe diff " "$(complete_words runner d)"
expect "pipelines/demo.yaml " "$(complete_words runner check pipelines/de)"
expect "stages.evaluate stages.finetune stages.tokenizer " "$(complete_words runner run pipelines/demo.yaml stages.)"
expect "stages.finetune " "$(complete_words runner pipelines/demo.yaml stages.fi)"
expect "stages.finetune.batch_size stages.finetune.kind stages.finetune.optimizer stages.finetune.steps " \
  "$(complete_words runner run pipelines/demo.yaml stages.finetune.)"
expect "vars.lr " "$(complete_words runner pipelines/demo.yaml vars.)"
expect "stage/ " "$(complete_words runner describe sta)"
# The zsh completion is the same logic through bashcompinit: it must at least source cleanly where zsh exists.
if command -v zsh > /dev/null; then
  zsh -fc "autoload -U compinit && compinit -u; source '$SRC/completions/_runner'; (( \$+functions[_stagehand_runner] ))" ||
    { echo "the zsh completion did not define _stagehand_runner"; exit 1; }
fi
echo "completion: commands, pipeline files, stages and option keys: ok"
