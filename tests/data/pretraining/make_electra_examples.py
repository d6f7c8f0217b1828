#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes electra_examples.json: what ELECTRA's own build_pretraining_dataset.py makes of a few small text files,
the reference of the ElectraReference tests in tests/plugins/test_pretraining_data.cpp.

It runs the original code, unmodified, from a checkout of google-research/electra (ExampleWriter.write_examples,
ExampleBuilder and model/tokenization.py's FullTokenizer with do_lower_case and strip_accents, the settings of
Bio-ELECTRA's README). TensorFlow is not needed: this script puts a stand-in `tensorflow.compat.v1` module in
sys.modules that provides what those files touch, nothing more:
  - tf.io.gfile.GFile reads lines as TensorFlow's BufferedInputStream::ReadLineAsString does
    (tensorflow/core/lib/io/buffered_inputstream.cc, ReadLineHelper): up to and including '\n', with every '\r'
    of the line dropped (not only a trailing one), then decoded as UTF-8 (GFile's text mode);
  - tf.train.Example / Features / Feature / Int64List keep the values; tf.io.TFRecordWriter appends the example to
    one list, so the list holds the examples in the order write_examples emits them.
The module's `random` is replaced by an object that forwards to random.Random(seed) and logs every draw, so the
C++ test can replay the same decisions. The text files are generated here from a fixed seed; the output holds
them, the vocabulary, every line as the builder receives it with its token ids, the draws and the examples.

  git clone https://github.com/google-research/electra /tmp/electra   # commit 8a46635f (2020-12), or later
  /usr/bin/python3 tests/data/pretraining/make_electra_examples.py /tmp/electra

Made with Debian 12's Python 3.11 and python3-six; a rerun writes the same bytes.
"""
import json
import os
import random
import sys
import types

# ---------------------------------------------------------------- the stand-in for tensorflow.compat.v1

WRITTEN = []


class GFile:
    def __init__(self, path, mode="r"):
        with open(path, "rb") as f:
            self._data = f.read()
        self._pos = 0

    def readline(self):
        end = self._data.find(b"\n", self._pos)
        end = len(self._data) if end < 0 else end + 1
        line = self._data[self._pos:end].replace(b"\r", b"")
        self._pos = end
        return line.decode("utf-8")

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


class _Record:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def SerializeToString(self):
        return self


class TFRecordWriter:
    def __init__(self, path):
        pass

    def write(self, record):
        WRITTEN.append(record)

    def close(self):
        pass


def install_tensorflow_stand_in():
    tf = types.ModuleType("tensorflow.compat.v1")
    tf.io = types.SimpleNamespace(gfile=types.SimpleNamespace(GFile=GFile), TFRecordWriter=TFRecordWriter)
    tf.train = types.SimpleNamespace(Example=_Record, Features=_Record, Feature=_Record, Int64List=_Record)
    compat = types.ModuleType("tensorflow.compat")
    compat.v1 = tf
    top = types.ModuleType("tensorflow")
    top.compat = compat
    sys.modules.update({"tensorflow": top, "tensorflow.compat": compat, "tensorflow.compat.v1": tf})


class LoggedRandom:
    """random.random() and random.randint() of one seeded generator, every draw logged."""

    def __init__(self, seed):
        self._r = random.Random(seed)
        self.log = []

    def random(self):
        v = self._r.random()
        self.log.append(["r", v])
        return v

    def randint(self, lo, hi):
        v = self._r.randint(lo, hi)
        self.log.append(["i", lo, hi, v])
        return v


# ---------------------------------------------------------------- the input

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
         "the", "cat", "sat", "on", "mat", "dog", "ran", "far", "a", "big", "red", "sun", "rose", "run", "##s",
         ".", ",", "cafe", "naive", "gene", "brca", "##1", "il", "-", "6", "cell", "##cat", "##a", "of", "in"]
# Capitals and accents (lower-cased, accents stripped), a word the vocabulary lacks ([UNK]), a word split in two.
WORDS = ["the", "The", "cat", "sat", "on", "mat", "Dog", "ran", "far", "a", "big", "RED", "sun", "rose", "runs",
         "Café", "naïve", "gene", "BRCA1", "IL-6", "cells", "of", "in", "zebra"]
# Hand-written lines, placed at fixed points: an interior carriage return (TensorFlow's reader drops it, making
# "thecat"), a line of 150 'a's (one word of 150 characters: 150 pieces with ELECTRA's limit of 200 characters,
# [UNK] with Hugging Face's 100), a no-break space only (str.strip() removes it: a blank line), a zero-width space
# only (not blank, but no token: an empty sentence), a long sentence (longer than an example).
SPECIAL = ["the\rcat sat .", "a" * 150, "\u00a0", "\u200b",
           " ".join(["the big red dog ran far"] * 6) + " ."]


def make_file(seed, docs, ending=""):
    g = random.Random(seed)
    out = []
    n = 0
    for d in range(docs):
        for s in range(g.randint(1, 8)):
            words = [g.choice(WORDS) for _ in range(g.randint(1, 14))]
            line = " ".join(words) + (" ." if g.random() < 0.5 else "")
            n += 1
            if n % 23 == 0:
                line = SPECIAL[(n // 23) % len(SPECIAL)]
            pad = g.random()
            if pad < 0.1:
                line = "  " + line + " \t"
            elif pad < 0.2:
                line = line + "\r"  # a CRLF line ending
            out.append(line + "\n")
        out.append(g.choice(["\n", "\n", "\n", " \t\n", "\r\n", "\n\n", "\u3000\n"]))  # a document boundary
    return "".join(out) + ending


FILES = [
    ("a.txt", make_file(1, 40)),
    # no newline at the end, then a line holding only a carriage return
    ("b.txt", "\n\n" + make_file(2, 12).rstrip("\n") + "\nthe cat\n\r"),
    ("c.txt", ""),                                   # an empty file
    ("d.txt", make_file(3, 25, ending="the end")),   # the last line without '\n'
]
RUNS = [
    {"name": "blanks_separate_docs_128", "max_length": 128, "blanks_separate_docs": True, "seed": 11},
    {"name": "blanks_separate_docs_12", "max_length": 12, "blanks_separate_docs": True, "seed": 12},
    {"name": "blanks_ignored_12", "max_length": 12, "blanks_separate_docs": False, "seed": 13},
    {"name": "blanks_separate_docs_24", "max_length": 24, "blanks_separate_docs": True, "seed": 14},
]


def main():
    electra = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    install_tensorflow_stand_in()
    sys.path.insert(0, electra)
    import build_pretraining_dataset as bpd
    from model import tokenization

    work = os.path.join(here, "_work")
    os.makedirs(work, exist_ok=True)
    vocab_file = os.path.join(work, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in VOCAB))
    paths = []
    for name, text in FILES:
        paths.append(os.path.join(work, name))
        with open(paths[-1], "w", encoding="utf-8", newline="") as f:
            f.write(text)

    tok = tokenization.FullTokenizer(vocab_file, do_lower_case=True, strip_accents=True)
    files = []
    for (name, text), path in zip(FILES, paths):
        lines = [[line.strip(), tok.convert_tokens_to_ids(tok.tokenize(line.strip()))] for line in GFile(path)]
        files.append({"name": name, "text": text, "lines": lines})

    runs = []
    for run in RUNS:
        del WRITTEN[:]
        rng = LoggedRandom(run["seed"])
        bpd.random = rng
        writer = bpd.ExampleWriter(job_id=0, vocab_file=vocab_file, output_dir=work,
                                   max_seq_length=run["max_length"], num_jobs=1,
                                   blanks_separate_docs=run["blanks_separate_docs"], do_lower_case=True,
                                   num_out_files=1, strip_accents=True)
        for path in paths:
            writer.write_examples(path)
        examples = []
        for e in WRITTEN:
            feature = e.features.feature
            n = sum(feature["input_mask"].int64_list.value)
            examples.append({"input_ids": feature["input_ids"].int64_list.value[:n],
                             "segment_ids": feature["segment_ids"].int64_list.value[:n]})
        kinds = {"single": sum(1 for r in rng.log if r[0] == "r" and r[1] < 0.1),
                 "randint": sum(1 for r in rng.log if r[0] == "i")}
        assert kinds["randint"] > 0 and len(examples) > 20, (run["name"], kinds, len(examples))
        runs.append(dict(run, draws=rng.log, examples=examples))

    for p in paths + [vocab_file]:
        os.remove(p)
    os.rmdir(work)

    # One line per example, per draw and per input line, so that a diff of the file reads well.
    def rows(items):
        return "[\n" + ",\n".join("    " + json.dumps(i, ensure_ascii=True) for i in items) + "\n   ]"

    parts = ['{\n "generator": "make_electra_examples.py",',
             ' "reference": "google-research/electra build_pretraining_dataset.py, model/tokenization.py",',
             ' "vocab": ' + json.dumps(VOCAB) + ",",
             ' "files": [']
    parts.append(",\n".join("  {\"name\": %s, \"text\": %s,\n   \"lines\": %s}"
                            % (json.dumps(f["name"]), json.dumps(f["text"]), rows(f["lines"])) for f in files))
    parts.append(" ],\n \"runs\": [")
    parts.append(",\n".join("  {\"name\": %s, \"max_length\": %d, \"blanks_separate_docs\": %s, \"seed\": %d,\n"
                            "   \"draws\": %s,\n   \"examples\": %s}"
                            % (json.dumps(r["name"]), r["max_length"], json.dumps(r["blanks_separate_docs"]),
                               r["seed"], rows(r["draws"]), rows(r["examples"])) for r in runs))
    parts.append(" ]\n}\n")
    with open(os.path.join(here, "electra_examples.json"), "w", encoding="utf-8") as f:
        f.write("\n".join(parts))


if __name__ == "__main__":
    main()
