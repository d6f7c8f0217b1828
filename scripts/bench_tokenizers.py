#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tokenizer speed beside Hugging Face `tokenizers` in one run (docs/performance.md, "Tokenization").

    scripts/bench_tokenizers.py [BUILD_DIR]          measure and print the table
    scripts/bench_tokenizers.py --docs [RECORD]      write the table of docs/performance.md from a record

Both sides encode the same texts, the shipped e-mails (data/spam/train.jsonl, 1,600 messages, 1.8 MB), on one thread,
without special tokens, for SECONDS_EACH (5) seconds each, taking turns ROUNDS (3) times so that drift on a shared
machine hits both alike; each side's figure is its median round:
  - WordPiece: stagehand's `wordpiece` tokenizer (uncased bert-base vocabulary) through `micro_bench tokenize`, and
    Hugging Face's WordPiece with BertWordPieceTokenizer's normalizer and pre-tokenizer;
  - byte-level BPE: stagehand's `bpe` tokenizer with GPT-2's vocabulary and merges, and Hugging Face's BPE with its
    ByteLevel pre-tokenizer (no prefix space), as GPT2TokenizerFast;
  - SentencePiece: stagehand's `sentencepiece` tokenizer set up as AlbertTokenizer (ALBERT's 30k-clean.model,
    lower-casing, accent stripping, remove_space, ALBERT's quirks), and Hugging Face's Unigram over the same model's
    pieces and scores with transformers' AlbertConverter normalizers (bench/peer/hf_tokenizers.js). The converter's
    last step, collapsing runs of spaces, is a regular expression the Node binding cannot take, so both sides get the
    texts with their white space already collapsed (" ".join(text.split())), what remove_space makes of them anyway.
Each side's tokens per pass are printed: equal counts say the two did the same work. A gap above 1% is flagged.

The peer is bench/peer/hf_tokenizers.js on Node (>= 18) with the npm package @anush008/tokenizers 0.6.0 (tokenizers
0.22): `mkdir -p /tmp/hfjs && (cd /tmp/hfjs && npm install @anush008/tokenizers@0.6.0)`; HFJS names another
node_modules folder. RECORD=file keeps the run (date, commit, machine, every round) for --docs, which refuses a
record measured on a tree with uncommitted changes.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

import bench_record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "tokenizers")
SECONDS = os.environ.get("SECONDS_EACH", "5")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
HFJS = os.environ.get("HFJS", "/tmp/hfjs/node_modules")

TOKENIZERS = [
    # name, stagehand spec, HF kind, model file, whitespace collapsed first
    ("WordPiece", "{type: wordpiece, vocab: %s, lowercase: true}" % os.path.join(DATA, "bert-base-uncased-vocab.txt"),
     "wordpiece", os.path.join(DATA, "bert-base-uncased-vocab.txt"), False),
    ("byte-level BPE", "{type: bpe, vocab: %s, merges: %s, layout: none}" % (
        os.path.join(DATA, "gpt2", "vocab.json"), os.path.join(DATA, "gpt2", "merges.txt")),
     "bpe", os.path.join(DATA, "gpt2", "vocab.json"), False),
    ("SentencePiece", "{type: sentencepiece, model: %s, lowercase: true, remove_space: true, keep_accents: false, "
     "albert_quirks: true}" % os.path.join(DATA, "albert-30k-clean.model"),
     "unigram", os.path.join(DATA, "albert-30k-clean.model"), True),
]


def run(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        sys.exit("bench_tokenizers: %s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return json.loads(p.stdout.strip().splitlines()[-1])


def texts_files(tmp):
    """The e-mails as JSON lines of {"text"}: as shipped, and with white space collapsed."""
    raw, collapsed = os.path.join(tmp, "raw.jsonl"), os.path.join(tmp, "collapsed.jsonl")
    with open(os.path.join(ROOT, "data", "spam", "train.jsonl")) as f, open(raw, "w") as a, open(collapsed, "w") as b:
        for line in f:
            if line.strip():
                text = json.loads(line)["text"]
                a.write(json.dumps({"text": text}) + "\n")
                b.write(json.dumps({"text": " ".join(text.split())}) + "\n")
    return raw, collapsed


def measure(build):
    micro = os.path.join(build, "bin", "micro_bench")
    if not os.path.exists(micro):
        sys.exit("bench_tokenizers: %s not found; build first (make build)" % micro)
    if not os.path.isdir(os.path.join(HFJS, "@anush008", "tokenizers")):
        sys.exit("bench_tokenizers: no @anush008/tokenizers in %s; install it: mkdir -p /tmp/hfjs && (cd /tmp/hfjs && "
                 "npm install @anush008/tokenizers@0.6.0), or set HFJS" % HFJS)
    env = dict(os.environ, RAYON_NUM_THREADS="1", NODE_PATH=HFJS)
    peer = os.path.join(ROOT, "bench", "peer", "hf_tokenizers.js")
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        raw, collapsed = texts_files(tmp)
        for r in range(ROUNDS):
            for name, spec, kind, model, collapse in TOKENIZERS:
                texts = collapsed if collapse else raw
                hf = run(["node", peer, kind, texts, SECONDS, model], env)
                ours = run([micro, "tokenize", spec, texts, SECONDS], env)
                rounds.append({"tokenizer": name, "round": r, "hf": hf, "stagehand": ours})
                print(json.dumps(rounds[-1]), flush=True)
    return rounds


def table(rounds):
    out = ["| tokenizer | texts | MB | tokens a pass (stagehand / HF) | stagehand tokens/s | HF tokens/s | ratio | "
           "stagehand MB/s | HF MB/s |", "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for name in [t[0] for t in TOKENIZERS]:
        rs = [r for r in rounds if r["tokenizer"] == name]
        if not rs:
            continue
        med = {side: statistics.median(r[side]["tokens_per_s"] for r in rs) for side in ("stagehand", "hf")}
        mb = {side: statistics.median(r[side]["mb_per_s"] for r in rs) for side in ("stagehand", "hf")}
        a, b = rs[0]["stagehand"]["tokens_per_pass"], rs[0]["hf"]["tokens_per_pass"]
        gap = abs(a - b) / max(b, 1)
        if gap > 0.01:
            notes.append("%s: the two sides' token counts differ by %.1f%%: not the same work" % (name, 100 * gap))
        out.append("| %s | %d | %.2f | %d / %d (%+.2f%%) | %.2fM | %.2fM | %.2fx | %.1f | %.1f |" % (
            name, rs[0]["stagehand"]["texts"], rs[0]["stagehand"]["bytes"] / 1e6, a, b, 100.0 * (a - b) / max(b, 1),
            med["stagehand"] / 1e6, med["hf"] / 1e6, med["stagehand"] / med["hf"], mb["stagehand"], mb["hf"]))
    return out, notes


def docs(record):
    run_facts, rounds = bench_record.read(record, "bench_tokenizers")
    rows, notes = table(rounds)
    text = "\n".join(["Measured %s at commit %s on %d cores (%s), one thread a side, the median of %d rounds of %s s "
                      "(`scripts/bench_tokenizers.py`, record `%s`):" % (
                          run_facts["date"], run_facts["commit"][:7], run_facts["cores"], run_facts["machine"],
                          run_facts["rounds"], run_facts["seconds_each"], os.path.relpath(record, ROOT)), ""] + rows +
                     ([""] + notes if notes else [])) + "\n"
    bench_record.replace_marked("bench:tokenizers", text, "bench_tokenizers")
    print("docs/performance.md: tokenizer table from %s" % record)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--docs":
        return docs(sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "results", "bench-tokenizers.jsonl"))
    rounds = measure(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
    rows, notes = table(rounds)
    print("\n".join(rows + notes))
    if os.environ.get("RECORD"):
        bench_record.write(os.environ["RECORD"], {"seconds_each": float(SECONDS), "rounds": ROUNDS}, rounds)


if __name__ == "__main__":
    main()
