#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The three shipped paper-embedding pipelines (specter.yaml, multi2spe.yaml, specter-classifier.yaml), shrunk by
# command-line overrides to a few training steps each, run end to end on the shipped SPECTER/SciDocs-format data:
# each must finish, print its results table with every SciDocs metric, and write embeddings in SciDocs' layout
# ({"paper_id", "embedding"}: one vector per paper, or K vectors for multi-facet embeddings).
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-papers.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RUNNER="$BUILD/bin/runner"
BASE=(stages.tokenizer.train.vocab_size=2000 stages.tokenizer.train.max_lines=3000
      stages.pretrain.steps=3 stages.pretrain.eval_every=3 stages.pretrain.batch_size=8)
fail() { echo "$1"; cat "$2"; exit 1; }
run() {  # run LOG PIPELINE OVERRIDES...
  local log=$1 p=$2
  shift 2
  "$RUNNER" "$SRC/pipelines/$p" "$@" --runs-dir "$WORK/runs" --cache-dir "$WORK/cache" > "$log" 2>&1 ||
    fail "$p failed" "$log"
}
has_rows() {  # has_rows LOG ROW... : a table row "| ROW | number | number |" for each
  local log=$1
  shift
  for row in "$@"; do
    grep -qE "^\| $row \| [0-9]+\.[0-9]{2} \| [0-9]+\.[0-9]{2} \|" "$log" || fail "no results row for $row" "$log"
  done
}
SCIDOCS_ROWS=(mag.f1 mesh.f1 coview.map coview.ndcg coread.map coread.ndcg cite.map cite.ndcg cocite.map cocite.ndcg)

# SPECTER: triplet training, embeddings, SciDocs beside the pretrained encoder.
run "$WORK/specter.log" specter.yaml "${BASE[@]}" stages.specter.steps=4 stages.specter.eval_every=4
has_rows "$WORK/specter.log" "${SCIDOCS_ROWS[@]}"
EMB=$(find "$WORK/cache" -path "*embed_ucr-*/embeddings.jsonl" | head -1)
[ -n "$EMB" ] || fail "specter: no embeddings.jsonl for embed_ucr" "$WORK/specter.log"
python3 - "$EMB" <<'PY' || fail "specter: embeddings are not in SciDocs' layout" "$WORK/specter.log"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2034, len(rows)
assert all(set(r) == {"paper_id", "embedding"} for r in rows)
assert all(len(r["embedding"]) == 128 and isinstance(r["embedding"][0], float) for r in rows)
PY

# Multi²SPE: 3 facets summed at inference; the SPECTER baseline beside it. embed_ucr is switched to the raw
# facets here so that the K-vector layout and SciDocs' max-over-facet-pairs cosine are exercised too.
run "$WORK/multi2spe.log" multi2spe.yaml "${BASE[@]}" stages.multi2spe.steps=4 stages.multi2spe.eval_every=4 \
  stages.specter.steps=4 stages.specter.eval_every=4 stages.embed_ucr.pooling=facets
has_rows "$WORK/multi2spe.log" "${SCIDOCS_ROWS[@]}"
EMB=$(find "$WORK/cache" -path "*embed_ucr-*/embeddings.jsonl" -newer "$WORK/specter.log" | head -1)
CLS=$(find "$WORK/cache" -path "*embed_cls-*/embeddings.jsonl" -newer "$WORK/specter.log" | head -1)
[ -n "$EMB" ] && [ -n "$CLS" ] || fail "multi2spe: no embeddings" "$WORK/multi2spe.log"
python3 - "$EMB" "$CLS" <<'PY' || fail "multi2spe: embeddings are not in the expected layout" "$WORK/multi2spe.log"
import json, sys
facets = [json.loads(l) for l in open(sys.argv[1])]
summed = [json.loads(l) for l in open(sys.argv[2])]
assert all(len(r["embedding"]) == 3 and all(len(v) == 128 for v in r["embedding"]) for r in facets)
assert all(len(r["embedding"]) == 128 and isinstance(r["embedding"][0], float) for r in summed)
PY

# SPECTER classifier: the SVM on frozen embeddings and the fine-tuned classifier, side by side.
run "$WORK/classifier.log" specter-classifier.yaml "${BASE[@]}" stages.specter.steps=4 stages.specter.eval_every=4 \
  stages.finetune.steps=6 stages.finetune.eval_every=3
grep -qE "^\| mag\.f1 \| [0-9]+\.[0-9]{2} \| +\|" "$WORK/classifier.log" || fail "no SVM row" "$WORK/classifier.log"
grep -qE "^\| finetune\.macro_f1 \| +\| [0-9]+\.[0-9]{2} \([0-9]+\.[0-9]{2}\) \|" "$WORK/classifier.log" ||
  fail "no fine-tuned row" "$WORK/classifier.log"
echo "paper pipelines (tiny): specter, multi2spe and specter-classifier ran and printed their tables"
