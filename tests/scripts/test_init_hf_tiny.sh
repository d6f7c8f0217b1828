#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Starting from a Hugging Face folder end to end: the tiny BERT of tests/data/hf-bert-tiny gives the tokenizer of a
# pretraining_data stage ({type: hf}) and the encoder of an mlm model ({type: hf}), and the train stage's init_hf
# loads the rest of the model (BertForMaskedLM's cls.predictions head) from the same folder. Checks what the stage
# says it loaded and that the run completes.
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-init-hf.XXXXXX)
trap "rm -rf $WORK" EXIT
HF="$SRC/tests/data/hf-bert-tiny"
head -n 400 "$SRC/data/corpora/moby_dick.txt" > "$WORK/text.txt"
cat > "$WORK/init.yaml" <<YAML
name: init-hf
seed: 3
threads: {intra_op: 2, blas: 1}
stages:
  data:
    kind: pretraining_data
    tokenizer: {type: hf, path: $HF}
    files: [text.txt]
    max_length: 64
    validation_fraction: 0.1
  mlm:
    kind: train
    data: data
    model: {type: mlm, encoder: {type: hf, path: $HF}}
    init_hf: $HF
    loss: {type: mlm}
    optimizer: {type: adamw, lr: 1.0e-4}
    batch_size: 8
    steps: 2
    eval_every: 2
YAML
"$BUILD/bin/runner" "$WORK/init.yaml" --runs-dir "$WORK/runs" --cache-dir "$WORK/cache" > "$WORK/run.log" 2>&1 ||
  { cat "$WORK/run.log"; exit 1; }
fail() { echo "$1"; cat "$WORK/run.log"; exit 1; }
grep -qE "\[mlm\] initialised the model from .*hf-bert-tiny/model.safetensors \(bert, prefix bert\.\): the encoder and 5 head tensor\(s\)$" "$WORK/run.log" ||
  fail "init_hf did not load the encoder and the 5 cls.predictions tensors"
grep -q "init_hf: 2 checkpoint tensor(s) not used: cls.seq_relationship.bias, cls.seq_relationship.weight" "$WORK/run.log" ||
  fail "init_hf did not report the unused NSP head"
grep -q "\[mlm\] done" "$WORK/run.log" || fail "training from the folder did not finish"
echo "init_hf (tiny): tokenizer, encoder and MLM head from a Hugging Face folder, trained 2 steps"
