#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reference pooled vectors for tests/plugins/test_reference_pooling.cpp, from Hugging Face BERT's own outputs.

Input: tests/data/hf-bert-tiny (expected.safetensors: the eval-mode hidden states `layer_0`, `layer_1` and the
`pooled_output` that Hugging Face's BERT, pytorch_pretrained_bert 0.6.2, computed for the inputs of cases.json).
Output: pooled_reference.json beside this script:
  - dse_concat_top_mean: DSE's `concat_top_mean` pooler with `pooler_num_top_hidden_layers` k = 2 (the fixture has
    two layers), written from microsoft/Distilled-Sentence-Embedding's formula: Hcat_t = concat(h^{L-k+1}_t .. h^L_t),
    u = sum_{t>=1} m_t Hcat_t / sum_{t>=1} m_t ([CLS] at t = 0 left out, [SEP] kept, padding left out).
    Only cases whose token_type_ids are all 0: a DSE student encodes each sentence alone, with token types 0.
  - specter_pooler_output: `pooled_output` as stored (the SPECTER classifier seed feeds `SPECTER_output[1]`, the
    pooler output, to its head).
Run: /usr/bin/python3 tests/data/pooling/make_pooled_reference.py  (numpy only; Debian 12's python3-numpy 1.24).
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
HF = os.path.join(HERE, "..", "hf-bert-tiny")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).astype(np.float64)
    return out


def main():
    t = read_safetensors(os.path.join(HF, "expected.safetensors"))
    cases = json.load(open(os.path.join(HF, "cases.json")))
    mask = np.array(cases["attention_mask"], dtype=np.float64)
    types = np.array(cases["token_type_ids"])
    k_layers = [t["layer_0"], t["layer_1"]]  # the top k = 2 layers, oldest first
    hcat = np.concatenate(k_layers, axis=-1)  # (B, T, 2H)
    single = [i for i in range(mask.shape[0]) if not types[i].any()]
    dse = []
    for i in single:
        m = mask[i, 1:, None]
        dse.append(((hcat[i, 1:] * m).sum(0) / m.sum()).tolist())
    out = {
        "note": "made by make_pooled_reference.py from ../hf-bert-tiny/expected.safetensors and cases.json",
        "dse_cases": single,
        "dse_num_top_layers": 2,
        "dse_concat_top_mean": dse,
        "specter_pooler_output": t["pooled_output"].tolist(),
    }
    with open(os.path.join(HERE, "pooled_reference.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()
