#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A cross-encoder written in plain PyTorch, trained from a random initialisation on an MRPC-layout pair task: the
control that says whether the DSE teacher's failure on the shipped paraphrase task (docs/training.md, "DSE") is
stagehand's or the scale's. Nothing of stagehand is used: its own word-level vocabulary (lower-cased words and
punctuation of the training pairs), torch.nn.TransformerEncoder, torch.optim.AdamW.

    /usr/bin/python3 scripts/cross_encoder_from_scratch.py data/paraphrase/bible_mrpc [--pooling cls|mean]
        [--epochs 3] [--lr 3e-4] [--seed 0]

The model is the teacher's shape in pipelines/dse.yaml: 2 post-LN blocks, hidden 128, 2 heads, FFN 512, GELU,
dropout 0.1, token, position and segment embeddings with LayerNorm, input `[CLS] a [SEP] b [SEP]` (longest-first
truncation to 128), then BERT's pooler (dense + tanh on [CLS]; `--pooling mean`: the mean over real tokens),
dropout 0.1, a linear layer to 2 classes. Training: batch 32, AdamW (weight decay 0.01), linear warm-up over 10% of
the steps then linear decay, gradient norm clipped to 1.0. Prints, per epoch, the training loss and the accuracy on
test.tsv. Needs Debian's python3-torch.
"""
import argparse
import math
import random
import re

import torch
from torch import nn

SPECIALS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"]
PAD, CLS, SEP, UNK = range(4)


def read_pairs(path):
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return [(int(r[0]), r[3], r[4]) for r in rows]


def words(text):
    return re.findall(r"\w+|[^\w\s]", text.lower())


class CrossEncoder(nn.Module):
    def __init__(self, vocab, pooling, hidden=128, heads=2, ffn=512, layers=2, positions=128):
        super().__init__()
        self.pooling = pooling
        self.words = nn.Embedding(vocab, hidden)
        self.positions = nn.Embedding(positions, hidden)
        self.segments = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden)
        block = nn.TransformerEncoderLayer(hidden, heads, ffn, 0.1, activation="gelu", batch_first=True)
        self.blocks = nn.TransformerEncoder(block, layers)
        self.pooler = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.1)
        self.out = nn.Linear(hidden, 2)

    def forward(self, ids, segments, mask):
        x = self.norm(self.words(ids) + self.positions(torch.arange(ids.shape[1]))[None] + self.segments(segments))
        h = self.blocks(x, src_key_padding_mask=~mask)
        if self.pooling == "cls":
            pooled = torch.tanh(self.pooler(h[:, 0]))
        else:
            pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return self.out(self.dropout(pooled))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("--pooling", choices=["cls", "mean"], default="cls")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(2)
    train = read_pairs(f"{args.data_dir}/train.tsv")
    test = read_pairs(f"{args.data_dir}/test.tsv")
    vocab = {w: i for i, w in enumerate(SPECIALS)}
    for _, a, b in train:
        for w in words(a) + words(b):
            vocab.setdefault(w, len(vocab))

    def encode(a, b, length=128):
        ta, tb = [vocab.get(w, UNK) for w in words(a)], [vocab.get(w, UNK) for w in words(b)]
        while len(ta) + len(tb) > length - 3:
            (ta if len(ta) > len(tb) else tb).pop()
        return [CLS] + ta + [SEP] + tb + [SEP], [0] * (len(ta) + 2) + [1] * (len(tb) + 1)

    def batch(rows):
        enc = [encode(a, b) for _, a, b in rows]
        width = max(len(ids) for ids, _ in enc)
        ids = torch.tensor([i + [PAD] * (width - len(i)) for i, _ in enc])
        seg = torch.tensor([s + [0] * (width - len(s)) for _, s in enc])
        return ids, seg, ids != PAD, torch.tensor([r[0] for r in rows])

    model = CrossEncoder(len(vocab), args.pooling)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    per_epoch = math.ceil(len(train) / 32)
    total = args.epochs * per_epoch
    warmup = max(1, int(0.1 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / (total - warmup)))
    for epoch in range(args.epochs):
        random.shuffle(train)
        model.train()
        loss_sum = 0.0
        for i in range(0, len(train), 32):
            ids, seg, mask, y = batch(train[i:i + 32])
            loss = nn.functional.cross_entropy(model(ids, seg, mask), y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            loss_sum += loss.item()
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(test), 128):
                ids, seg, mask, y = batch(test[i:i + 128])
                correct += (model(ids, seg, mask).argmax(1) == y).sum().item()
        print(f"epoch {epoch + 1}: train loss {loss_sum / per_epoch:.4f}, test accuracy {correct / len(test):.4f}",
              flush=True)


if __name__ == "__main__":
    main()
