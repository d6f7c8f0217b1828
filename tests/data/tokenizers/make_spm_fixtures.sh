#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates the SentencePiece parity fixtures used by tests/plugins/test_sentencepiece.cpp:
#   tests/data/tokenizers/spm_parity_input.txt      varied lines (one text per line)
#   tests/data/tokenizers/albert-30k-clean.ids.txt   `spm_encode --output_format=id` of those lines
#   tests/data/tokenizers/albert-30k-clean.pieces.txt `spm_encode --output_format=piece` of those lines
#   tests/data/corpora/moby_dick_excerpt.txt         the small training corpus for trained-model tests
# The lines are picked deterministically (fixed strides, no randomness) from the shared public data, plus
# hand-written hard cases. Run it only to change the fixtures; the test reads the committed files.
#
# Usage: tests/data/tokenizers/make_spm_fixtures.sh DATA_DIR   (DATA_DIR holds corpora/ and tokenizers/, the public
# data listed in tests/data/README.md)
# Needs: python3, spm_encode (Debian package `sentencepiece`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: $0 DATA_DIR (the folder holding corpora/ and tokenizers/)" >&2; exit 1; }
shared="$1"
[[ -d "$shared/corpora" ]] || { echo "error: no corpora/ folder in '$shared'; pass the data folder" >&2; exit 1; }
command -v spm_encode >/dev/null || { echo "error: spm_encode not found; apt-get install sentencepiece" >&2; exit 1; }

model="$here/albert-30k-clean.model"
[[ -f "$model" ]] || cp "$shared/tokenizers/albert-30k-clean.model" "$model"
echo "73e62ff8e90f951f24c8b907913039a5  $model" | md5sum -c --quiet -

python3 - "$shared" "$here/spm_parity_input.txt" "$repo/tests/data/corpora/moby_dick_excerpt.txt" <<'PY'
import json, sys, unicodedata
from pathlib import Path

shared, out_path, excerpt_path = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])

def clean(line):
    # One text per line for spm_encode: no newline, no carriage return, no other control character but tab.
    line = "".join(ch for ch in line if ch == "\t" or unicodedata.category(ch) != "Cc")
    return line[:1500]

def every(items, count):
    items = [x for x in items if x.strip()]
    step = max(1, len(items) // count)
    return items[::step][:count]

lines = []
for name in ["moby_dick.txt", "jane_austen.txt", "web_bible.txt"]:
    text = (shared / "corpora" / name).read_text(encoding="utf-8").splitlines()
    lines += every(text, 60)
# State of the Union addresses are one speech per line: take sentences.
sotu = (shared / "corpora" / "sotu.txt").read_text(encoding="utf-8").splitlines()
sentences = [s.strip() + "." for speech in sotu for s in speech.split(". ")]
lines += every(sentences, 60)
# E-mails: headers, URLs, HTML and odd punctuation.
mails = (shared / "classification" / "spamassassin.jsonl").read_text(encoding="utf-8").splitlines()
for record in mails[::100][:61]:
    text = json.loads(record)["text"]
    head, _, body = text.partition("\n\n")
    subject = [l for l in head.splitlines() if l.startswith("Subject:")]
    lines += subject[:1] + every(body.splitlines(), 2)

hard = [
    "",
    " ",
    "   leading,   inner   and trailing spaces   ",
    "tab\tseparated\t\tfields\t",
    "Café, naïve résumé; crème brûlée à la façade.",
    "ÀÉÎÕÜ àéîõü ÇÑ çñ Øresund Ærøskøbing",
    "Ünïcödé with combining marks: e\u0301 a\u0308 n\u0303",
    "Ligatures ﬁ ﬂ and full-width ＡＢＣ１２３！",
    "日本語のテキストを分割します。",
    "中文分词测试，包括标点符号。",
    "한국어 문장도 포함합니다.",
    "Привет, мир! Как дела?",
    "Καλημέρα κόσμε",
    "مرحبا بالعالم",
    "שלום עולם",
    "Emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇯🇵 and ❤️",
    "Math ∑ ∫ √ ≤ ≥ ≠ ∞ π ≈ 3.14159",
    "Numbers 1,000,000 and 3.5% of $42.00 on 2021-03-04 at 12:30",
    "don't won't it's O'Neill's rock'n'roll",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "URL https://example.com/path?query=1&x=y#frag and mail a.b@example.org",
    "[CLS] [SEP] [MASK] <pad> <unk> literal special tokens",
    "The whitespace mark \u2581 itself, twice\u2581\u2581.",
    "zero\u200bwidth\u200bspace and non\u00a0breaking\u00a0space",
    "ALL CAPS SHOUTING TEXT",
    "MiXeD cAsE wOrDs",
    "a",
    "?",
    "...",
    "--- *** ### @@@ ~~~",
    "Quotes “curly” ‘single’ «guillemets» „low“",
    "Dashes – en — em ‐ hyphen",
    "Repeated letters aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "\tleading tab",
    "ﬀ ﬃ Ⅻ ① ㎏ ½",
    "Ελληνικά και English mixed με 漢字 and עברית",
    "Deutsch: Straße, Größe, Übermäßig",
    "Polish: Zażółć gęślą jaźń",
    "Vietnamese: Tiếng Việt có dấu",
    "Thai: ภาษาไทย",
]
lines += hard

out_path.write_text("".join(clean(l) + "\n" for l in lines), encoding="utf-8")
print(f"{out_path}: {len(lines)} lines")

# Training corpus for the trained-model tests: the first ~200 KB of Moby Dick, cut at a line end.
moby = (shared / "corpora" / "moby_dick.txt").read_text(encoding="utf-8").splitlines(keepends=True)
excerpt, size = [], 0
for l in moby:
    if size + len(l.encode("utf-8")) > 200_000:
        break
    excerpt.append(l)
    size += len(l.encode("utf-8"))
excerpt_path.parent.mkdir(parents=True, exist_ok=True)
excerpt_path.write_text("".join(excerpt), encoding="utf-8")
print(f"{excerpt_path}: {size} bytes")
PY

spm_encode --model="$model" --output_format=id < "$here/spm_parity_input.txt" > "$here/albert-30k-clean.ids.txt"
spm_encode --model="$model" --output_format=piece < "$here/spm_parity_input.txt" > "$here/albert-30k-clean.pieces.txt"
wc -l "$here/spm_parity_input.txt" "$here/albert-30k-clean.ids.txt" "$here/albert-30k-clean.pieces.txt"
