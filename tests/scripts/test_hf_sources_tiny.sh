#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stages that start from a released checkpoint, with no training stage in between: an embed stage with
# `encoder: {type: hf, path: FOLDER}` and a probe stage comparing two Hugging Face folders, both on the tiny BERT of
# tests/data/hf-bert-tiny. The embed stage's pooler output for the fixture's first sentence must equal
# pytorch_pretrained_bert's own pooled_output (expected.safetensors) within 1e-5, and with `layers` its [CLS] state of
# every layer the reference's hidden state of that layer; the probe must score every layer of
# both folders, one line each, labelled by folder. `runner predict` on ELECTRA's discriminator folder and on BERT's
# pretraining folder gives transformers' replaced-token and next-sentence probabilities; it fills [MASK]s from a
# masked-LM folder and answers from a question-answering one.
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-hf-sources.XXXXXX)
trap "rm -rf $WORK" EXIT
cp -r "$SRC/tests/data/hf-bert-tiny" "$WORK/bert-a"
cp -r "$SRC/tests/data/hf-bert-tiny" "$WORK/bert-b"
# The fixture's first case, as one labelled text; the POS probe data: the first sentences of the Brown split.
printf '{"id": "case0", "text": "The quick brown fox jumps over the lazy dog.", "label": "x"}\n' > "$WORK/case0.jsonl"
awk 'BEGIN{n=0} {print} /^$/{n++; if (n==60) exit}' "$SRC/data/pos/brown_universal/train.tsv" > "$WORK/pos-train.tsv"
awk 'BEGIN{n=0} {print} /^$/{n++; if (n==20) exit}' "$SRC/data/pos/brown_universal/devel.tsv" > "$WORK/pos-dev.tsv"
cat > "$WORK/hf.yaml" <<'YAML'
name: hf-sources
seed: 5
threads: {intra_op: 2, blas: 1}
stages:
  embed:
    kind: embed
    encoder: {type: hf, path: bert-a}
    data: {type: text_classification, train: case0.jsonl, tokenizer: {type: hf, path: bert-a}}
    split: train
    pooling: pooler
  embed_layers:
    kind: embed
    encoder: {type: hf, path: bert-a}
    data: {type: text_classification, train: case0.jsonl, tokenizer: {type: hf, path: bert-a}}
    split: train
    pooling: cls
    layers: [0, 1, -1]
  probes:
    kind: probe
    task: token
    encoders: [{type: hf, path: bert-a}, {type: hf, path: bert-b}]
    data:
      type: token_classification
      train: pos-train.tsv
      validation: pos-dev.tsv
      tokenizer: {type: hf, path: bert-a}
      scheme: none
      max_length: 64
    eval_split: validation
    epochs: 1
    batch_size: 16
YAML
fail() { echo "$1"; cat "$WORK/run.log"; exit 1; }
(cd "$WORK" && "$BUILD/bin/runner" hf.yaml --runs-dir runs --cache-dir cache > run.log 2>&1) || fail "the run failed"

EMB=$(find "$WORK/cache" -type f -path "*/embed-*/embeddings.jsonl" | head -1)
[ -n "$EMB" ] || fail "the embed stage wrote no embeddings.jsonl"
/usr/bin/python3 - "$EMB" "$SRC/tests/data/hf-bert-tiny/expected.safetensors" <<'PY' || fail "the embedding differs from the reference"
import json, struct, sys
row = json.loads(open(sys.argv[1]).readline())
with open(sys.argv[2], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
meta = header["pooled_output"]
assert meta["dtype"] == "F32", meta
hidden = meta["shape"][1]
begin = meta["data_offsets"][0]
want = struct.unpack("<%df" % hidden, data[begin:begin + 4 * hidden])  # case 0 is the first row
got = row["embedding"]
assert len(got) == hidden, (len(got), hidden)
worst = max(abs(a - b) for a, b in zip(got, want))
print("embed from {type: hf}: pooled output of case 0 within %.2g of the reference" % worst)
assert worst < 1e-5, worst
PY

# `layers: [0, 1, -1]` with cls pooling: the [CLS] states of the embedding output and of both blocks, each equal
# to the reference's hidden state of that layer at the first position.
EMB=$(find "$WORK/cache" -type f -path "*/embed_layers-*/embeddings.jsonl" | head -1)
[ -n "$EMB" ] || fail "the embed_layers stage wrote no embeddings.jsonl"
/usr/bin/python3 - "$EMB" "$SRC/tests/data/hf-bert-tiny/expected.safetensors" <<'PY' || fail "a layer's state differs from the reference"
import json, struct, sys
row = json.loads(open(sys.argv[1]).readline())
with open(sys.argv[2], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
got = row["embedding"]
assert len(got) == 3, len(got)
for vec, name in zip(got, ["embedding_output", "layer_0", "layer_1"]):
    meta = header[name]
    assert meta["dtype"] == "F32", meta
    hidden = meta["shape"][-1]
    begin = meta["data_offsets"][0]  # case 0, position 0: the first `hidden` floats
    want = struct.unpack("<%df" % hidden, data[begin:begin + 4 * hidden])
    assert len(vec) == hidden, (len(vec), hidden)
    worst = max(abs(a - b) for a, b in zip(vec, want))
    print("embed layers: %s [CLS] within %.2g of the reference" % (name, worst))
    assert worst < 1e-5, (name, worst)
PY

CSV=$(find "$WORK/cache" -type f -path "*/probes-*/layers.csv" | head -1)
[ -n "$CSV" ] || fail "the probe stage wrote no layers.csv"
for enc in hf:bert-a hf:bert-b; do
  for layer in 1 2; do
    grep -qE "^$enc,$layer,0\.[0-9]+," "$CSV" || { cat "$CSV"; fail "layers.csv has no accuracy for $enc layer $layer"; }
  done
done
# A folder named twice would give two lines with one label: refused with a clear error.
sed -i 's/encoders: \[{type: hf, path: bert-a}, {type: hf, path: bert-b}\]/encoders: [{type: hf, path: bert-a}, {type: hf, path: bert-a}]/' "$WORK/hf.yaml"
if (cd "$WORK" && "$BUILD/bin/runner" hf.yaml --runs-dir runs2 --cache-dir cache2 > run.log 2>&1); then
  fail "two encoders with one label were accepted"
fi
grep -q "two encoders are both labelled 'hf:bert-a'" "$WORK/run.log" || fail "no clear error for a folder named twice"

# `runner predict` straight from pretraining folders: ELECTRA's discriminator gives each token's probability of having
# been replaced, sigmoid(transformers' rtd_logits); BERT's next-sentence head gives softmax(nsp_logits) under the
# names is_next / random.
cat > "$WORK/check_predict.py" <<'PY'
import json, math, struct, sys
def tensor(path, name):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header[name]
    begin, end = meta["data_offsets"]
    flat = struct.unpack("<%df" % ((end - begin) // 4), data[begin:end])
    return flat, meta["shape"]
kind, out, folder = sys.argv[1:4]
cases = json.load(open(folder + "/cases.json"))
row = json.loads(open(out).readline())
if kind == "rtd":
    flat, (batch, width) = tensor(folder + "/expected.safetensors", "rtd_logits")
    c = cases["cases"][0]
    assert row["tokens"] == c["tokens"][1:-1], (row["tokens"], c["tokens"])
    want = [1 / (1 + math.exp(-x)) for x in flat[1:len(c["tokens"]) - 1]]
    worst = max(abs(a - b) for a, b in zip(row["replaced"], want))
    assert len(row["replaced"]) == len(want) and worst < 1e-5, worst
    print("predict from ElectraForPreTraining: replaced-token probabilities within %.2g of transformers'" % worst)
else:
    flat, _ = tensor(folder + "/expected.safetensors", "nsp_logits")
    a, b = flat[2], flat[3]  # case 1
    z = math.exp(a) + math.exp(b)
    worst = max(abs(row["probabilities"]["is_next"] - math.exp(a) / z), abs(row["probabilities"]["random"] - math.exp(b) / z))
    assert worst < 1e-5, (row, a, b)
    print("predict from BertForPreTraining: next-sentence probabilities within %.2g of transformers'" % worst)
PY
ELECTRA="$SRC/tests/data/hf-tiny/electra-discriminator"
/usr/bin/python3 -c "import json; print(json.load(open('$ELECTRA/cases.json'))['cases'][0]['text_a'])" > "$WORK/rtd.txt"
"$BUILD/bin/runner" predict "$ELECTRA" --file "$WORK/rtd.txt" > "$WORK/rtd.jsonl" 2> "$WORK/run.log" ||
  fail "runner predict on the ELECTRA discriminator folder failed"
/usr/bin/python3 "$WORK/check_predict.py" rtd "$WORK/rtd.jsonl" "$ELECTRA" || fail "the RTD probabilities differ"
/usr/bin/python3 -c "import json; c=json.load(open('$WORK/bert-a/cases.json'))['cases'][1]; print(c['text_a'] + '\t' + c['text_b'])" > "$WORK/nsp.txt"
"$BUILD/bin/runner" predict "$WORK/bert-a" --pair --file "$WORK/nsp.txt" > "$WORK/nsp.jsonl" 2> "$WORK/run.log" ||
  fail "runner predict on the BERT pretraining folder failed"
/usr/bin/python3 "$WORK/check_predict.py" nsp "$WORK/nsp.jsonl" "$WORK/bert-a" || fail "the NSP probabilities differ"
# A BertForQuestionAnswering folder (the tiny BERT with a qa_outputs layer added, as save_pretrained writes one):
# `runner predict FOLDER --pair` answers with a span of the context or with no answer (the layer is random: what is
# checked is the path from a folder to an answer, and the error without --pair).
mkdir -p "$WORK/qa"
cp "$WORK/bert-a/vocab.txt" "$WORK/qa/"
/usr/bin/python3 - "$WORK/bert-a" "$WORK/qa" <<'PY' || fail "could not write the QA folder"
import json, random, struct, sys
src, dst = sys.argv[1:3]
with open(src + "/model.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
header.pop("__metadata__", None)
tensors = {k: (v, data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()
           if not k.startswith("cls.")}
hidden = json.load(open(src + "/config.json"))["hidden_size"]
rng = random.Random(7)
tensors["qa_outputs.weight"] = ({"dtype": "F32", "shape": [2, hidden]},
                                struct.pack("<%df" % (2 * hidden), *[rng.gauss(0, 0.5) for _ in range(2 * hidden)]))
tensors["qa_outputs.bias"] = ({"dtype": "F32", "shape": [2]}, struct.pack("<2f", 0.0, 0.0))
out_header, blob = {}, b""
for k in sorted(tensors):
    meta, raw = tensors[k]
    out_header[k] = {"dtype": meta["dtype"], "shape": meta["shape"], "data_offsets": [len(blob), len(blob) + len(raw)]}
    blob += raw
h = json.dumps(out_header).encode()
h += b" " * (-len(h) % 8)
open(dst + "/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + blob)
config = json.load(open(src + "/config.json"))
config["architectures"] = ["BertForQuestionAnswering"]
json.dump(config, open(dst + "/config.json", "w"), indent=2)
PY
printf 'who was the captain?\tThe captain of the ship was Ahab, a man of few words.\n' > "$WORK/qa.txt"
"$BUILD/bin/runner" predict "$WORK/qa" --pair --file "$WORK/qa.txt" > "$WORK/qa.jsonl" 2> "$WORK/run.log" ||
  fail "runner predict on a question-answering folder failed"
/usr/bin/python3 - "$WORK/qa.jsonl" <<'PY' || fail "the QA folder's answer is not a span of its context"
import json, sys
row = json.loads(open(sys.argv[1]).readline())
assert row["question"] == "who was the captain?", row
assert row["no_answer"] == (row["answer"] == ""), row
assert row["answer"] == "" or row["answer"] in row["context"], row
print("predict from BertForQuestionAnswering: %s" % ("no answer" if row["no_answer"] else repr(row["answer"])))
PY
if "$BUILD/bin/runner" predict "$WORK/qa" --file "$WORK/qa.txt" > /dev/null 2> "$WORK/run.log"; then
  fail "a question-answering folder without --pair was accepted"
fi
grep -q "answers questions; give --pair and lines QUESTION<TAB>CONTEXT" "$WORK/run.log" || fail "no clear error without --pair"
# Fill-mask from an ElectraForMaskedLM folder: each [MASK] typed in the text gets its 5 likeliest tokens, most likely
# first (tests/plugins/test_hf_heads.cpp checks the logits at given positions against transformers').
printf 'the chef cooked the [MASK] and then the [MASK] ate it.\n' > "$WORK/fill.txt"
"$BUILD/bin/runner" predict "$SRC/tests/data/hf-tiny/electra-generator" --file "$WORK/fill.txt" > "$WORK/fill.jsonl" \
  2> "$WORK/run.log" || fail "runner predict on a masked-LM folder failed"
/usr/bin/python3 - "$WORK/fill.jsonl" <<'PY' || fail "fill-mask did not give 5 tokens a [MASK], most likely first"
import json, sys
row = json.loads(open(sys.argv[1]).readline())
masks = row["masks"]
assert len(masks) == 2 and masks[0]["position"] < masks[1]["position"], row
for m in masks:
    p = m["probabilities"]
    assert len(m["tokens"]) == 5 and p == sorted(p, reverse=True) and 0 < sum(p) <= 1 + 1e-9, m
print("predict from ElectraForMaskedLM: 5 candidates for each of the 2 [MASK]s")
PY
echo "stages from released checkpoints: embed matches the reference, the probe compares two folders, predict reads pretraining heads, fills masks and answers from a QA folder: ok"
