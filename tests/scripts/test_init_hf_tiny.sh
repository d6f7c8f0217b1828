#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Starting from a Hugging Face folder end to end: the tiny BERT of tests/data/hf-bert-tiny gives the tokenizer of a
# pretraining_data stage ({type: hf}) and the encoder of an mlm model ({type: hf}), and the train stage's init_hf
# loads the rest of the model (BertForMaskedLM's cls.predictions head) from the same folder. Then an ELECTRA
# pretraining model from ELECTRA's two folders (tests/data/hf-tiny: init_hf for the discriminator, init_hf_generator
# for the generator), trained two steps and exported again as both folders. Checks what the stages say they loaded
# and wrote, and that the runs complete.
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

DISC="$SRC/tests/data/hf-tiny/electra-discriminator"
GEN="$SRC/tests/data/hf-tiny/electra-generator"
cat > "$WORK/electra.yaml" <<YAML
name: init-hf-electra
seed: 3
threads: {intra_op: 2, blas: 1}
stages:
  data:
    kind: pretraining_data
    tokenizer: {type: hf, path: $DISC}
    files: [text.txt]
    max_length: 64
    validation_fraction: 0.1
  electra:
    kind: train
    data: data
    model: {type: electra, encoder: {type: hf, path: $DISC}, generator: {type: hf, path: $GEN}}
    init_hf: $DISC
    init_hf_generator: $GEN
    loss: {type: electra}
    optimizer: {type: adamw, lr: 1.0e-4}
    batch_size: 8
    steps: 2
    eval_every: 2
  export:
    kind: export_hf
    model: electra
    tokenizer: {type: hf, path: $DISC}
    head: required
YAML
"$BUILD/bin/runner" "$WORK/electra.yaml" --runs-dir "$WORK/runs" --cache-dir "$WORK/cache" > "$WORK/run.log" 2>&1 ||
  fail "the ELECTRA run from two folders failed"
grep -qE "\[electra\] initialised the model from .*electra-discriminator/model.safetensors \(electra, prefix electra\.\): the encoder and 4 head tensor\(s\)$" "$WORK/run.log" ||
  fail "init_hf did not load the discriminator and its 4 RTD head tensors (or listed the generator as new)"
grep -qE "\[electra\] initialised the generator from .*electra-generator/model.safetensors \(ElectraForMaskedLM\): its encoder and 5 head tensor\(s\), the embeddings shared with the discriminator kept" "$WORK/run.log" ||
  fail "init_hf_generator did not load the generator and its 5 MLM head tensors"
grep -q "embedding tables differ from the discriminator's by up to" "$WORK/run.log" ||
  fail "the fixture's two folders hold different embedding tables, and that was not said"
grep -q "exported the model's head as ElectraForPreTraining" "$WORK/run.log" || fail "no ElectraForPreTraining export"
grep -q "wrote the generator as ElectraForMaskedLM" "$WORK/run.log" || fail "no generator folder written"
OUT=$(dirname "$(find "$WORK/cache" -path "*/export-*/hf/config.json" | head -1)")
/usr/bin/python3 - "$OUT" <<'PY' || fail "the exported folders are not ELECTRA's two"
import json, os, sys
hf = sys.argv[1]
d = json.load(open(os.path.join(hf, "config.json")))
g = json.load(open(os.path.join(os.path.dirname(hf), "hf-generator", "config.json")))
assert d["architectures"] == ["ElectraForPreTraining"] and g["architectures"] == ["ElectraForMaskedLM"], (d, g)
assert d["hidden_size"] == 64 and g["hidden_size"] == 48, (d["hidden_size"], g["hidden_size"])
assert json.load(open(os.path.join(hf, "tokenizer_config.json")))["tokenizer_class"] == "ElectraTokenizer"
PY
echo "init_hf (tiny): tokenizer, encoder and MLM head from a Hugging Face folder, trained 2 steps; ELECTRA from its two folders, trained and exported as both"
