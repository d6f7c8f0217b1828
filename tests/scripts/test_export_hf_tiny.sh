#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stage export_hf end to end: a tiny pretrained encoder (the shared small-encoder preset, a few steps) is written as a
# Hugging Face (BERT-shaped) folder with its WordPiece vocabulary, and a later stage fine-tunes from that folder through the
# `hf` encoder it provides; the fine-tuned classifier is then exported with its head. Checks the folders' files
# (config.json, model.safetensors with bert. names, vocab.txt, tokenizer_config.json; classifier.* and
# BertForSequenceClassification; spiece.model with AlbertTokenizer's config for a SentencePiece tokenizer) and that the
# fine-tuning ran from the exported folder.
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-export.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/pipelines"
cp -r "$SRC/pipelines/presets" "$WORK/pipelines/"
ln -s "$SRC/data" "$WORK/data"
cat > "$WORK/pipelines/export.yaml" <<'YAML'
name: export-hf
seed: 7
threads: {intra_op: 2, blas: 1}
stages:
  include: presets/small-encoder-pretrain.yaml
  export:
    kind: export_hf
    model: pretrain
    tokenizer: tokenizer
  finetune:
    kind: train
    data: {type: text_classification, train: ../data/spam/dev.jsonl, validation: ../data/spam/test.jsonl,
           tokenizer: tokenizer, max_length: 32}
    model: {type: classifier, encoder: export, pooling: pooler, head: {type: mlp, hidden: []}}
    loss: {type: cross_entropy}
    optimizer: {type: adamw, lr: 1.0e-3}
    evaluators: [{type: classification}]
    batch_size: 8
    steps: 2
  export_classifier:
    kind: export_hf
    model: finetune
    tokenizer: tokenizer
    head: required
  sp_tokenizer:
    kind: tokenizer
    train: {type: sentencepiece, model_type: unigram, vocab_size: 400, input_sentence_size: 2000}
    corpus: [../data/corpora/moby_dick.txt]
  export_sp:
    kind: export_hf
    model: pretrain
    tokenizer: sp_tokenizer
  evaluate:
    kind: evaluate
    models: [finetune]
    data: {type: text_classification, train: ../data/spam/dev.jsonl, test: ../data/spam/test.jsonl,
           tokenizer: tokenizer, max_length: 32}
YAML
"$BUILD/bin/runner" "$WORK/pipelines/export.yaml" stages.tokenizer.train.vocab_size=2000 \
  stages.tokenizer.train.max_lines=3000 stages.pretrain.steps=3 stages.pretrain.eval_every=3 \
  stages.pretrain.batch_size=8 --runs-dir "$WORK/runs" --cache-dir "$WORK/cache" > "$WORK/run.log" 2>&1 ||
  { cat "$WORK/run.log"; exit 1; }
fail() { echo "$1"; cat "$WORK/run.log"; exit 1; }
CONFIG=$(find "$WORK/cache" -path "*/export-*/hf/config.json" | head -1)
[ -n "$CONFIG" ] || fail "no exported config.json"
HF=$(dirname "$CONFIG")
for f in model.safetensors vocab.txt tokenizer_config.json special_tokens_map.json; do
  [ -f "$HF/$f" ] || fail "the exported folder has no $f"
done
# The preset's discriminator has a pooler and no embedding projection: a BERT-shaped folder.
grep -qE "wrote a Hugging Face bert folder: $WORK/cache/export-[0-9a-f]+/hf$" "$WORK/run.log" ||
  fail "the encoder was not exported as bert, or the printed folder is not where the stage's output ends up"
python3 - "$HF" <<'PY' || fail "the exported folder is not a valid Hugging Face BERT folder"
import json, struct, sys, os
d = sys.argv[1]
c = json.load(open(os.path.join(d, "config.json")))
assert c["model_type"] == "bert" and c["hidden_size"] == 128 and c["num_hidden_layers"] == 2, c
b = open(os.path.join(d, "model.safetensors"), "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
names = [k for k in h if k != "__metadata__"]
assert all(k.startswith("bert.") for k in names), names[:3]
assert "bert.pooler.dense.weight" in names
assert h["bert.embeddings.word_embeddings.weight"]["shape"] == [c["vocab_size"], 128]
t = json.load(open(os.path.join(d, "tokenizer_config.json")))
assert t["do_lower_case"] is True and t["tokenizer_class"] == "BertTokenizer", t
# The preset's encoder keeps BERT's 30522-row table while the trained vocabulary is smaller: Hugging Face accepts a
# vocab.txt no longer than the table.
lines = sum(1 for _ in open(os.path.join(d, "vocab.txt")))
assert 0 < lines <= c["vocab_size"], (lines, c["vocab_size"])
PY
grep -q "\[finetune\] done" "$WORK/run.log" || fail "fine-tuning from the exported folder did not finish"
# The fine-tuned classifier (pooler + one linear layer) is BertForSequenceClassification.
CLS=$(dirname "$(find "$WORK/cache" -path "*/export_classifier-*/hf/config.json" | head -1)")
python3 - "$CLS" <<'PY' || fail "the exported classifier is not a BertForSequenceClassification folder"
import json, struct, sys, os
d = sys.argv[1]
c = json.load(open(os.path.join(d, "config.json")))
assert c["architectures"] == ["BertForSequenceClassification"], c
# The training data's label names, in the model's output order.
assert c["id2label"] == {"0": "ham", "1": "spam"} and c["label2id"] == {"ham": 0, "spam": 1}, c
b = open(os.path.join(d, "model.safetensors"), "rb").read()
h = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
assert h["classifier.weight"]["shape"] == [2, 128] and h["classifier.bias"]["shape"] == [2], h.get("classifier.weight")
PY
# `runner predict` on the exported folder (model {type: hf}: the classifier with its head, the folder's tokenizer,
# id2label) gives what it gives on the run's stage, label names and probabilities alike (texts shorter than the
# stage's max_length, so both see the same tokens).
printf 'WIN a FREE cruise now, reply YES\nthe meeting moved to monday at ten\n' > "$WORK/texts.txt"
"$BUILD/bin/runner" predict "$CLS" --file "$WORK/texts.txt" > "$WORK/from_folder.jsonl" 2> "$WORK/predict.log" ||
  { cat "$WORK/predict.log"; fail "runner predict on the exported folder failed"; }
"$BUILD/bin/runner" predict "$WORK/runs/export-hf/latest" --stage finetune --file "$WORK/texts.txt" \
  > "$WORK/from_run.jsonl" 2> "$WORK/predict.log" || { cat "$WORK/predict.log"; fail "runner predict on the run failed"; }
python3 - "$WORK/from_folder.jsonl" "$WORK/from_run.jsonl" <<'PY' || fail "the exported folder predicts otherwise than the run"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 2, (a, b)
for x, y in zip(a, b):
    assert x["label"] == y["label"] and set(x["probabilities"]) == {"ham", "spam"}, (x, y)
    worst = max(abs(x["probabilities"][k] - y["probabilities"][k]) for k in ("ham", "spam"))
    assert worst < 1e-5, (worst, x, y)
print("runner predict: the exported folder and the run agree within 1e-5")
PY
# A predict stage straight from the folder (model {type: hf, path}), with no training stage: the same labels.
printf '{"id": "a", "text": "WIN a FREE cruise now, reply YES", "label": "spam"}\n{"id": "b", "text": "the meeting moved to monday at ten", "label": "ham"}\n' > "$WORK/texts.jsonl"
cat > "$WORK/from_hf.yaml" <<YAML
name: from-hf
stages:
  pred:
    kind: predict
    model: {type: hf, path: $CLS}
    data: {type: text_classification, train: texts.jsonl, id_field: id, tokenizer: {type: hf, path: $CLS}}
YAML
(cd "$WORK" && "$BUILD/bin/runner" from_hf.yaml --runs-dir runs --cache-dir cache > from_hf.log 2>&1) ||
  { cat "$WORK/from_hf.log"; fail "a predict stage from the exported folder failed"; }
python3 - "$WORK/runs/from-hf/latest/stages/pred/predictions.jsonl" "$WORK/from_folder.jsonl" <<'PY' ||
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert [x["label"] for x in a] == [y["label"] for y in b], (a, b)
for x, y in zip(a, b):
    assert abs(x["probabilities"]["spam"] - y["probabilities"]["spam"]) < 1e-5, (x, y)
print("predict stage with model {type: hf}: the folder's labels and probabilities")
PY
  fail "the predict stage from the folder disagrees with runner predict"
# An evaluate stage straight from the folder (models: [{type: hf, path}], the folder's tokenizer) gives the metrics
# the run's evaluate stage gave the fine-tuned stage, within 1e-5, in a column named after the folder (hf:hf);
# `runner check` accepts it. (Fine-tuned for two steps, the model answers ham throughout: test_evaluate_stage
# compares a model that gets some examples right and some wrong.)
cat > "$WORK/eval_hf.yaml" <<YAML
name: eval-hf
stages:
  evaluate:
    kind: evaluate
    models: [{type: hf, path: $CLS}]
    data: {type: text_classification, train: $SRC/data/spam/dev.jsonl, test: $SRC/data/spam/test.jsonl,
           tokenizer: {type: hf, path: $CLS}, max_length: 32}
YAML
(cd "$WORK" && "$BUILD/bin/runner" check eval_hf.yaml > check.log 2>&1) ||
  { cat "$WORK/check.log"; fail "runner check refused an evaluate stage of the exported folder"; }
(cd "$WORK" && "$BUILD/bin/runner" eval_hf.yaml --runs-dir runs --cache-dir cache > eval_hf.log 2>&1) ||
  { cat "$WORK/eval_hf.log"; fail "an evaluate stage of the exported folder failed"; }
python3 - "$WORK/runs/export-hf/latest/metrics.jsonl" "$WORK/runs/eval-hf/latest/metrics.jsonl" <<'PY' ||
import json, sys
def metrics(path, column):
    out = {}
    for line in open(path):
        e = json.loads(line)
        if e.get("event") == "metric" and e.get("stage") == "evaluate" and e["name"].startswith(column + "."):
            out[e["name"][len(column) + 1:]] = e["value"]
    return out
a, b = metrics(sys.argv[1], "finetune"), metrics(sys.argv[2], "hf:hf")
assert len(a) >= 10 and set(a) == set(b), (sorted(a), sorted(b))
worst = max(abs(a[k] - b[k]) for k in a)
assert worst < 1e-5, (worst, a, b)
print(f"evaluate with models: [{{type: hf}}]: the run's {len(a)} metrics of the fine-tuned stage within 1e-5")
PY
  fail "the evaluate stage of the folder disagrees with the run's evaluate stage"
# Data whose labels are not the folder's id2label is refused, at the model's place in the file.
sed "s/max_length: 32}/max_length: 32, labels: [ham, spam, eggs]}/" "$WORK/eval_hf.yaml" > "$WORK/eval_bad.yaml"
if (cd "$WORK" && "$BUILD/bin/runner" eval_bad.yaml --runs-dir runs --cache-dir cache > eval_bad.log 2>&1); then
  fail "an evaluate stage of the folder on data with other labels was accepted"
fi
grep -qF "eval_bad.yaml:5:14: stage 'evaluate': evaluate: model hf:hf names its classes [ham, spam] (from its \
config.json), but the dataset's are [ham, spam, eggs]" "$WORK/eval_bad.log" ||
  { cat "$WORK/eval_bad.log"; fail "the label mismatch was not reported as expected"; }
# A SentencePiece tokenizer goes out in AlbertTokenizer's layout.
SP=$(dirname "$(find "$WORK/cache" -path "*/export_sp-*/hf/config.json" | head -1)")
[ -f "$SP/spiece.model" ] || fail "the SentencePiece export has no spiece.model"
python3 - "$SP" <<'PY' || fail "the SentencePiece export's tokenizer_config.json is not AlbertTokenizer's"
import json, sys, os
t = json.load(open(os.path.join(sys.argv[1], "tokenizer_config.json")))
assert t["tokenizer_class"] == "AlbertTokenizer" and t["cls_token"] == "[CLS]" and t["do_lower_case"] is False, t
PY
echo "export_hf (tiny): exported a BERT-shaped folder with its vocabulary, fine-tuned from it, exported the classifier and a SentencePiece tokenizer"
