#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes tests/data/hf-tiny/: small ELECTRA, RoBERTa, ALBERT and DistilBERT checkpoints exactly as Hugging Face
transformers saves them, with reference outputs computed by transformers' own modeling code.

The reference is Hugging Face transformers v4.30.0 (tag v4.30.0, commit 905892f09027cab690918c7766fea1bb51bcdd26,
2023-06-07; its setup.py accepts torch>=1.9,!=1.12.0 and Python>=3.7), run unmodified from a checkout:

  git clone https://github.com/huggingface/transformers /tmp/transformers
  git -C /tmp/transformers checkout v4.30.0        # or: git archive 905892f0... src/transformers | tar -x
  apt-get install python3-torch python3-numpy python3-packaging python3-filelock python3-tqdm python3-regex \
      python3-requests python3-sentencepiece                                    # all Debian 12 packages
  /usr/bin/python3 tests/data/hf-tiny/make_hf_tiny.py /tmp/transformers

What runs is transformers' own code: `import transformers` (its __init__, its dependency check), the model classes
(ElectraForPreTraining, ElectraForMaskedLM, RobertaForMaskedLM, AlbertForPreTraining, DistilBertForMaskedLM),
PreTrainedModel.save_pretrained (which decides which tied keys to leave out of model.safetensors and which keys
`_keys_to_ignore_on_save` drops), PreTrainedModel.from_pretrained (the reload check below), and the slow (pure
Python) tokenizers ElectraTokenizer, DistilBertTokenizer, RobertaTokenizer and AlbertTokenizer (the latter through
Debian's python3-sentencepiece), with their save_pretrained. Two packages transformers imports are not in Debian;
this script puts stand-ins for them in sys.modules before importing transformers (nothing is written into the
checkout, nothing of transformers is copied):
  - huggingface_hub: transformers.utils.hub imports a dozen names from it at import time; the stand-in provides
    those names (functions that raise if ever called, exception classes, the commit-hash regex); none is called,
    since everything is saved to and loaded from local folders;
  - safetensors: save_file / load_file / safe_open / storage_ptr / storage_size, written here from the format's
    definition (huggingface/safetensors v0.3.1, safetensors/src/tensor.rs `prepare` and `Metadata`'s Serialize):
    8-byte little-endian header length N, N bytes of compact JSON: `__metadata__` first (here {"format":"pt"}),
    then the tensors in data order, sorted by dtype descending (U64, I64, F64, F32, ..., in Dtype's enum order)
    then by name, each {"dtype","shape","data_offsets":[begin,end]} relative to the data section; the header is
    padded with spaces to a multiple of 8 bytes; then the raw little-endian bytes. Like the real package it refuses
    tensors that share storage and non-contiguous tensors. A dist-info folder (Name: safetensors, Version: 0.3.1)
    in a temporary directory makes transformers' is_safetensors_available() true.
tokenizers (the Rust package) is absent, so transformers uses its slow tokenizers, which is what is wanted here;
without it transformers 4.30 falls back to its own AddedToken dataclass, which lacks tokenizers.AddedToken's
__str__ (the token's text) that the slow tokenizers use for special tokens given as AddedToken (RoBERTa's <mask>,
ALBERT's [MASK]): the script supplies that one method.

Weights are drawn from a fixed seed and spread so that every parameter matters (see `spread`); the script checks
that every parameter tensor changes at least one expected output, and that model.safetensors and
pytorch_model.bin reload through from_pretrained with no missing or unexpected key and reproduce the outputs bit
for bit. tests/data/hf-tiny/check_tokenizers.js cross-checks the token ids against Hugging Face tokenizers' Rust
implementation. Runs single-threaded; a rerun writes the same bytes (checked: sha256 of every file).

Inputs of other files: tests/data/tokenizers/bert-base-uncased-vocab.txt (ELECTRA, DistilBERT: its first 4,096
lines), tests/data/tokenizers/gpt2/{vocab.json,merges.txt} (RoBERTa: GPT-2's first 2,000 tokens and RoBERTa's
special tokens) and tests/data/tokenizers/albert-30k-clean.model (ALBERT, used whole; not copied).
"""
import collections
import hashlib
import importlib.machinery
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZERS = os.path.join(HERE, "..", "tokenizers")
RELEASE = "4.30.0"
COMMIT = "905892f09027cab690918c7766fea1bb51bcdd26"

# ---------------------------------------------------------------- safetensors, from the format's definition

# safetensors' Dtype enum order (tensor.rs); the data section is sorted by it, descending.
ST_ORDER = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
ST_DTYPES = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16", torch.float16: "F16",
             torch.bfloat16: "BF16", torch.int32: "I32", torch.float32: "F32", torch.float64: "F64",
             torch.int64: "I64"}
ST_TORCH = {v: k for k, v in ST_DTYPES.items()}


def storage_ptr(tensor):
    return tensor.storage().data_ptr()


def storage_size(tensor):
    return tensor.storage().size() * tensor.element_size()


def st_serialize(tensors, metadata=None):
    by_storage = collections.defaultdict(set)
    for name, t in tensors.items():
        by_storage[storage_ptr(t)].add(name)
    shared = [sorted(names) for names in by_storage.values() if len(names) > 1]
    if shared:
        raise RuntimeError(f"safetensors stand-in: tensors share memory: {shared}")
    items = sorted(tensors.items(), key=lambda kv: (-ST_ORDER.index(ST_DTYPES[kv[1].dtype]), kv[0].encode()))
    entries, blobs, offset = [], [], 0
    if metadata is not None:
        entries.append('"__metadata__":' + json.dumps(metadata, separators=(",", ":"), ensure_ascii=False))
    for name, t in items:
        if not t.is_contiguous():
            raise ValueError(f"safetensors stand-in: non contiguous tensor {name}")
        blob = t.detach().cpu().numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        info = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        entries.append(json.dumps(name, ensure_ascii=False) + ":" + json.dumps(info, separators=(",", ":")))
        blobs.append(blob)
        offset += len(blob)
    header = ("{" + ",".join(entries) + "}").encode("utf-8")
    header += b" " * ((8 - len(header) % 8) % 8)
    return struct.pack("<Q", len(header)) + header + b"".join(blobs)


def st_parse(data):
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=collections.OrderedDict)
    metadata = header.pop("__metadata__", None)
    out = collections.OrderedDict()
    for name, info in header.items():
        b, e = info["data_offsets"]
        dtype = ST_TORCH[info["dtype"]]
        raw = bytearray(data[8 + n + b:8 + n + e])
        out[name] = torch.frombuffer(raw, dtype=dtype).reshape(info["shape"]) if e > b else \
            torch.empty(info["shape"], dtype=dtype)
    return metadata, out


def st_save_file(tensors, filename, metadata=None):
    with open(filename, "wb") as f:
        f.write(st_serialize(tensors, metadata))


def st_load_file(filename, device="cpu"):
    with open(filename, "rb") as f:
        return dict(st_parse(f.read())[1])


class SafeOpen:
    def __init__(self, filename, framework="pt", device="cpu"):
        with open(filename, "rb") as f:
            self._metadata, self._tensors = st_parse(f.read())

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False

    def metadata(self):
        return self._metadata

    def keys(self):
        return list(self._tensors.keys())

    def get_tensor(self, name):
        return self._tensors[name]


# ---------------------------------------------------------------- the stand-ins

def _module(name, **attrs):
    m = types.ModuleType(name)
    m.__spec__ = importlib.machinery.ModuleSpec(name, None)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def install_stand_ins(tmp):
    def offline(*args, **kwargs):
        raise RuntimeError("huggingface_hub stand-in: no Hub access while making fixtures")

    errors = {n: type(n, (Exception,), {}) for n in [
        "EntryNotFoundError", "LocalEntryNotFoundError", "RepositoryNotFoundError", "RevisionNotFoundError",
        "HFValidationError", "GatedRepoError"]}
    hub_utils = _module("huggingface_hub.utils", build_hf_headers=offline, hf_raise_for_status=offline,
                        enable_progress_bars=lambda: None, disable_progress_bars=lambda: None,
                        are_progress_bars_disabled=lambda: True, **errors)
    file_download = _module("huggingface_hub.file_download", REGEX_COMMIT_HASH=re.compile(r"^[0-9a-f]{40}$"),
                            http_get=offline)
    hub = _module("huggingface_hub", __version__="0+stand-in", utils=hub_utils, file_download=file_download)
    for name in ["CommitOperationAdd", "create_commit", "create_repo", "get_hf_file_metadata", "hf_hub_download",
                 "hf_hub_url", "whoami", "model_info", "list_repo_files", "HfFolder"]:
        setattr(hub, name, offline)
    st_torch = _module("safetensors.torch", save_file=st_save_file, load_file=st_load_file,
                       storage_ptr=storage_ptr, storage_size=storage_size)
    _module("safetensors", torch=st_torch, safe_open=SafeOpen, __version__="0.3.1")
    dist = os.path.join(tmp, "safetensors-0.3.1.dist-info")
    os.makedirs(dist)
    with open(os.path.join(dist, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: safetensors\nVersion: 0.3.1\n")
    sys.path.insert(0, tmp)


# ---------------------------------------------------------------- weights

def spread(model, seed):
    """Replaces every parameter with seeded draws that make it matter: LayerNorm gains 1 + 0.3 N(0,1) and biases
    0.3 N(0,1) (no identity, no zero), Linear weights N(0, 1/fan_in) so pre-activations stay near unit variance
    (attention not uniform, GELU in its curved part), embedding rows N(0, 0.8) including padding rows, and the
    other biases 0.3 N(0,1). Shared (tied) parameters are drawn once."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            owner = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            kind = name.rsplit(".", 1)[-1]
            draw = torch.randn(p.shape, generator=gen)
            if isinstance(owner, torch.nn.LayerNorm):
                value = 1.0 + 0.3 * draw if kind == "weight" else 0.3 * draw
            elif isinstance(owner, torch.nn.Linear) and kind == "weight":
                value = draw / np.sqrt(p.shape[1])
            elif isinstance(owner, torch.nn.Embedding):
                value = 0.8 * draw
            else:
                value = 0.3 * draw
            p.copy_(value)


# ---------------------------------------------------------------- the fixtures

def bert_vocab(n):
    with open(os.path.join(TOKENIZERS, "bert-base-uncased-vocab.txt"), encoding="utf-8") as f:
        return f.read().split("\n")[:n]


def roberta_vocab(tmp, n_gpt2):
    """RoBERTa's layout with GPT-2's first n_gpt2 tokens: <s> <pad> </s> <unk>, the GPT-2 tokens in GPT-2's order
    (the 256 byte symbols, then one token per merge, merge k giving GPT-2 id 256 + k), <mask> last."""
    with open(os.path.join(TOKENIZERS, "gpt2", "vocab.json"), encoding="utf-8") as f:
        gpt2 = json.load(f)
    with open(os.path.join(TOKENIZERS, "gpt2", "merges.txt"), encoding="utf-8") as f:
        merges = f.read().split("\n")
    assert merges[0].startswith("#version")
    tokens = sorted(gpt2, key=gpt2.get)[:n_gpt2]
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>"] + tokens + ["<mask>"])}
    kept = merges[1:1 + n_gpt2 - 256]
    for k, m in enumerate(kept):  # every merge's result is in the vocabulary, with GPT-2's order
        assert "".join(m.split(" ")) == tokens[256 + k]
    vocab_file, merges_file = os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(merges_file, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(kept) + "\n")
    return vocab_file, merges_file


ELECTRA_EMBEDDINGS = [
    "Embeddings: `word_embeddings` (vocab x embedding_size, padding_idx 0: the [PAD] row is looked up for padding "
    "and is random here), `position_embeddings` at positions 0..T-1 (the `electra.embeddings.position_ids` buffer), "
    "`token_type_embeddings` (2 rows); their sum goes through `LayerNorm` (eps 1e-12) = `embedding_output`, then "
    "`electra.embeddings_project` (Linear embedding_size -> hidden_size, present because the two differ) = "
    "`projected_embedding_output`, the input of layer 0.",
    "Layers as BERT's (post-LayerNorm, eps 1e-12; `hidden_act: gelu` is the exact erf GELU); the attention mask is "
    "added as `(1 - mask) * torch.finfo(float32).min` (transformers >= 4.21; not -10000). No pooler.",
]


WORDPIECE_NOTE = (
    "Tokenizer: {cls} (BertTokenizer: lower-casing, accents stripped, CJK characters split, WordPiece) over "
    "vocab.txt = the first 4,096 lines of bert-base-uncased's vocabulary (tests/data/tokenizers/"
    "bert-base-uncased-vocab.txt), so every id is bert-base-uncased's own; words it cannot build become [UNK]. "
    "Special tokens in the text (`[MASK]`) are kept whole.")

FIXTURES = [
    {
        "name": "electra-discriminator",
        "notes": ELECTRA_EMBEDDINGS + [
            "Head (`discriminator_predictions`): `dense` (hidden -> hidden), the config's `hidden_act` (gelu), "
            "`dense_prediction` (hidden -> 1), squeezed: `rtd_logits` [batch, T], the logit that a token was "
            "replaced.",
            WORDPIECE_NOTE.format(cls="ElectraTokenizer") + " `[CLS] A [SEP] B [SEP]`, token types 0 then 1.",
        ],
        "seed": 1101,
        "model": "ElectraForPreTraining",
        "config": ("ElectraConfig", dict(vocab_size=4096, embedding_size=32, hidden_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, intermediate_size=128, hidden_act="gelu",
                                         max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
                                         pad_token_id=0)),
        "tokenizer": "electra",
        "base": "electra",
        "heads": {"rtd_logits": "logits"},
        "cases": [
            ("The chef cooked the meal and then the waiter ate it.", None),
            ("She said that it was a good day for the city.",
             "They had never seen so many people in one place before."),
            ("Naïve café owners sold 1,000 croissants in 2019!", "北京 is far away; émigrés say “hello” – twice 😀."),
            ("Hello, world!", None),
        ],
    },
    {
        "name": "electra-generator",
        "notes": ELECTRA_EMBEDDINGS + [
            "Head: `generator_predictions.dense` (hidden -> embedding_size), the exact GELU (always `gelu`, whatever "
            "`hidden_act` says), `generator_predictions.LayerNorm` (eps = layer_norm_eps), then `generator_lm_head` "
            "(embedding_size -> vocab) whose weight IS `electra.embeddings.word_embeddings.weight` (tied) and whose "
            "bias `generator_lm_head.bias` is its own: `mlm_logits_case0`.",
            WORDPIECE_NOTE.format(cls="ElectraTokenizer") + " `[CLS] A [SEP] B [SEP]`, token types 0 then 1.",
        ],
        "seed": 1102,
        "model": "ElectraForMaskedLM",
        "config": ("ElectraConfig", dict(vocab_size=4096, embedding_size=32, hidden_size=48, num_hidden_layers=2,
                                         num_attention_heads=4, intermediate_size=96, hidden_act="gelu",
                                         max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
                                         pad_token_id=0)),
        "tokenizer": "electra",
        "base": "electra",
        "heads": {"mlm_logits_case0": "logits"},
        "cases": [
            ("The man went to the [MASK] to buy a new [MASK].", None),
            ("She said that it was a good day for the city.",
             "They had never seen so many people in one place before."),
            ("What is the name of the [MASK]?", "The river runs through the old part of the town, near the church."),
            ("Hello, world!", None),
        ],
    },
    {
        "name": "roberta",
        "notes": [
            "Position ids are not 0..T-1: `create_position_ids_from_input_ids` gives a real token "
            "`padding_idx + (its rank among the non-padding tokens)` and a padding token `padding_idx` itself, with "
            "padding_idx = pad_token_id = 1: the first token (`<s>`) uses row 2 of `position_embeddings`, padding "
            "uses row 1; hence max_position_embeddings 514 = 512 + 2. cases.json lists them (`position_ids`). The "
            "`roberta.embeddings.position_ids` buffer is saved (I64 [1, 514]) but not used for input ids.",
            "`type_vocab_size` 1: one `token_type_embeddings` row, added to every token (the tokenizer returns no "
            "`token_type_ids`; pairs are told apart by `</s></s>` only). `word_embeddings` has padding_idx 1.",
            "LayerNorm eps 1e-5 everywhere (embeddings, layers, `lm_head.layer_norm`); layers as BERT's otherwise "
            "(post-LN, exact GELU, mask `(1 - mask) * finfo(float32).min`). No pooler: RobertaForMaskedLM builds its "
            "`roberta` without one, so there are no `roberta.pooler.*` keys.",
            "Head (`lm_head`): `dense` (hidden -> hidden), exact GELU (hard-coded), `layer_norm`, `decoder` "
            "(hidden -> vocab) with weight = `roberta.embeddings.word_embeddings.weight` and bias = `lm_head.bias` "
            "(both tied): `mlm_logits_case0`. RobertaForMaskedLM's `_keys_to_ignore_on_save` keeps "
            "`lm_head.decoder.weight` and `lm_head.decoder.bias` out of BOTH files: an importer ties them itself.",
            "Tokenizer: RobertaTokenizer, byte-level BPE (GPT-2's pre-tokenizing regex and byte-to-unicode map) over "
            "a small real vocabulary in RoBERTa's layout: `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, then GPT-2's "
            "first 2,000 tokens in GPT-2's order (its 256 byte symbols and the results of its first 1,744 merges; "
            "GPT-2 id g is id g + 4 here), `<mask>` 2004; merges.txt = GPT-2's first 1,744 merges "
            "(tests/data/tokenizers/gpt2/). `add_prefix_space` false (the first word has no `Ġ`), `<s> A </s>` and "
            "`<s> A </s></s> B </s>`; `<mask>` strips the space on its left (`lstrip`), so `is <mask>.` gives "
            "`Ġis`, `<mask>`, `.`. tests/data/tokenizers/roberta-tiny/tokenizer.json is the same tokenizer as "
            "Hugging Face tokenizers' tokenizer.json.",
        ],
        "seed": 1103,
        "model": "RobertaForMaskedLM",
        "config": ("RobertaConfig", dict(vocab_size=2005, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=128, hidden_act="gelu", max_position_embeddings=514,
                                         type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0,
                                         eos_token_id=2)),
        "tokenizer": "roberta",
        "base": "roberta",
        "heads": {"mlm_logits_case0": "logits"},
        "cases": [
            ("The capital of France is <mask>.", None),
            ("It's a beautiful day, isn't it? We'll see.", "They've said: \"café at 10:30\" 😀  twice."),
            ("Hello world", "   Leading spaces and\ttabs\nand a new line."),
            ("Short.", None),
        ],
    },
    {
        "name": "albert",
        "notes": [
            "Embeddings: `word_embeddings` (30,000 x embedding_size 8, padding_idx 0), `position_embeddings` at "
            "0..T-1 (buffer `albert.embeddings.position_ids`), `token_type_embeddings` (2 rows), `LayerNorm` "
            "(eps 1e-12) = `embedding_output`; then `albert.encoder.embedding_hidden_mapping_in` (8 -> 32) = "
            "`projected_embedding_output`.",
            "One layer, shared: `albert.encoder.albert_layer_groups.0.albert_layers.0.*` (num_hidden_groups 1, "
            "inner_group_num 1) is applied num_hidden_layers = 3 times (`layer_0..2`): attention `query`, `key`, "
            "`value`, `dense` + `LayerNorm` (post-LN), then `ffn` (32 -> 64), `gelu_new`, `ffn_output` (64 -> 32), "
            "`full_layer_layer_norm`. `gelu_new` is the tanh approximation "
            "`0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, not the erf GELU. Mask `(1 - mask) * finfo.min`.",
            "Pooler: `albert.pooler` (dense 32 -> 32) and tanh on the first token = `pooled_output`; SOP head "
            "`sop_classifier.classifier` (32 -> 2) on it = `sop_logits` (dropout is off in eval).",
            "MLM head (`predictions`): `dense` (32 -> 8), `gelu_new` (the config's hidden_act), `LayerNorm` "
            "(eps 1e-12), `decoder` (8 -> 30,000) with weight = `albert.embeddings.word_embeddings.weight` and bias "
            "= `predictions.bias` (both tied): `mlm_logits_case0`.",
            "Tokenizer: AlbertTokenizer on ALBERT's own `30k-clean.model` (not copied here: it is "
            "`tests/data/tokenizers/albert-30k-clean.model`, byte for byte the `spiece.model` that save_pretrained "
            "writes): whitespace runs collapsed, ``` `` ``` and `''` turned into `\"`, NFKD with combining marks "
            "dropped (keep_accents false), lower-cased, SentencePiece, then a piece ending in `,` after a digit is "
            "re-split; special tokens are cut out first and each remaining chunk gets its own `▁` prefix "
            "(`[MASK].` gives `[MASK]`, `▁`, `.`); `[MASK]` strips the space on its left. "
            "`[CLS] A [SEP] B [SEP]` with token types 0 up to the first [SEP], 1 after.",
        ],
        "seed": 1104,
        "model": "AlbertForPreTraining",
        "config": ("AlbertConfig", dict(vocab_size=30000, embedding_size=8, hidden_size=32, num_hidden_layers=3,
                                        num_hidden_groups=1, inner_group_num=1, num_attention_heads=4,
                                        intermediate_size=64, hidden_act="gelu_new", max_position_embeddings=512,
                                        type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0, bos_token_id=2,
                                        eos_token_id=3)),
        "tokenizer": "albert",
        "base": "albert",
        "heads": {"mlm_logits_case0": "prediction_logits", "sop_logits": "sop_logits"},
        "pooled": True,
        "cases": [
            ("The capital of France is [MASK].", None),
            ("Naïve café owners sold 1,000 croissants in 2019.", "The ``quoted'' words stay; Ça va?"),
            ("Call me Ishmael. Some years ago, never mind how long precisely.",
             "In the beginning God created the heavens and the earth."),
            ("Hello!", None),
        ],
    },
    {
        "name": "distilbert",
        "notes": [
            "Embeddings: `word_embeddings` (vocab x dim, padding_idx 0) + `position_embeddings` at 0..T-1 (learned, "
            "`sinusoidal_pos_embds` false), no token types at all; `LayerNorm` with eps 1e-12 hard-coded = "
            "`embedding_output`. The `position_ids` buffer is not persistent in this release: in neither file.",
            "Layers `distilbert.transformer.layer.N`: `attention.q_lin/k_lin/v_lin/out_lin`, `sa_layer_norm`, "
            "`ffn.lin1`, activation (config `activation`: gelu, exact), `ffn.lin2`, `output_layer_norm` (post-LN, "
            "eps 1e-12 hard-coded); q is divided by sqrt(head_dim) before q.k; masked keys get "
            "`masked_fill(mask == 0, finfo(float32).min)`.",
            "Head: `vocab_transform` (dim -> dim), the config's `activation` (gelu), `vocab_layer_norm` (eps "
            "1e-12), `vocab_projector` (dim -> vocab) whose weight IS `distilbert.embeddings.word_embeddings.weight` "
            "(tied) and whose bias `vocab_projector.bias` is its own: `mlm_logits_case0`.",
            WORDPIECE_NOTE.format(cls="DistilBertTokenizer") + " It returns no `token_type_ids` (the model takes "
            "none); a pair is `[CLS] A [SEP] B [SEP]`.",
        ],
        "seed": 1105,
        "model": "DistilBertForMaskedLM",
        "config": ("DistilBertConfig", dict(vocab_size=4096, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                            activation="gelu", max_position_embeddings=512,
                                            sinusoidal_pos_embds=False, pad_token_id=0)),
        "tokenizer": "distilbert",
        "base": "distilbert",
        "heads": {"mlm_logits_case0": "logits"},
        "cases": [
            ("The man went to the [MASK] to buy a new car.", None),
            ("Call me Ishmael. Some years ago, never mind how long precisely.",
             "In the beginning God created the heavens and the earth."),
            ("A   lot\tof\nwhite space   here", "and UPPER case WORDS"),
            ("Hello, world!", None),
        ],
    },
]


def make_tokenizer(transformers, kind, tmp):
    """The architecture's slow tokenizer as users get it: built from the vocabulary files, saved with
    save_pretrained and loaded back with from_pretrained (which registers the special tokens as unsplittable)."""
    if kind in ("electra", "distilbert"):
        vocab_file = os.path.join(tmp, "vocab.txt")
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.write("\n".join(bert_vocab(4096)) + "\n")
        cls = transformers.ElectraTokenizer if kind == "electra" else transformers.DistilBertTokenizer
        tok = cls(vocab_file, do_lower_case=True, model_max_length=512)
    elif kind == "roberta":
        cls = transformers.RobertaTokenizer
        tok = cls(*roberta_vocab(tmp, 2000), model_max_length=512)
    elif kind == "albert":
        cls = transformers.AlbertTokenizer
        tok = cls(os.path.join(TOKENIZERS, "albert-30k-clean.model"), model_max_length=512)
    else:
        raise ValueError(kind)
    saved = os.path.join(tmp, "saved")
    tok.save_pretrained(saved)
    loaded = cls.from_pretrained(saved)
    assert len(loaded) == len(tok.get_vocab()), "a special token is missing from the vocabulary"
    return loaded


def encode_cases(tok, cases):
    encodings = [tok(a, b) for a, b in cases]
    batch = tok.pad(encodings, padding=True)
    lengths = [len(e["input_ids"]) for e in encodings]
    return dict(batch), lengths


def run_model(model, base, batch, lengths, spec):
    captured = {}
    embeddings = getattr(model, base).embeddings
    hook = embeddings.register_forward_hook(lambda mod, inp, out: captured.setdefault("embedding_output", out))
    inputs = {k: torch.tensor(v) for k, v in batch.items()}
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True, return_dict=True)
    hook.remove()
    result = collections.OrderedDict()
    result["embedding_output"] = captured["embedding_output"]
    hidden = out.hidden_states
    if hidden[0].shape[-1] != captured["embedding_output"].shape[-1] or \
            not torch.equal(hidden[0], captured["embedding_output"]):
        result["projected_embedding_output"] = hidden[0]
    for i, h in enumerate(hidden[1:]):
        result[f"layer_{i}"] = h
    if spec.get("pooled"):
        result["pooled_output"] = getattr(model, base)(**inputs, return_dict=True).pooler_output
    for key, attr in spec["heads"].items():
        value = getattr(out, attr)
        # the vocabulary-wide logits of the first case only, its tokens without the padding: they are the bulk
        result[key] = value[0, :lengths[0]] if key.endswith("_case0") else value
    return result


def check_parameters_matter(model, base, batch, lengths, spec, reference):
    """Every parameter tensor changes some expected output when nudged. The attention key bias is the exception
    the mathematics allows: it adds the same number to every score of a query, which the softmax cancels."""
    gen = torch.Generator().manual_seed(7)
    dead = []
    for name, p in model.named_parameters():
        if re.search(r"(\.key|\.k_lin)\.bias$", name):
            continue
        saved = p.detach().clone()
        with torch.no_grad():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
        nudged = run_model(model, base, batch, lengths, spec)
        with torch.no_grad():
            p.copy_(saved)
        if max((nudged[k] - reference[k]).abs().max().item() for k in reference) < 1e-5:
            dead.append(name)
    assert not dead, f"parameters without effect: {dead}"


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_fixture(transformers, spec, out_root, tmp):
    name = spec["name"]
    folder = os.path.join(out_root, name)
    if os.path.isdir(folder):
        for entry in os.listdir(folder):
            os.remove(os.path.join(folder, entry))
    os.makedirs(folder, exist_ok=True)
    cfg_class, cfg_args = spec["config"]
    config = getattr(transformers, cfg_class)(**cfg_args)
    torch.manual_seed(spec["seed"])
    model = getattr(transformers, spec["model"])(config).eval()
    spread(model, spec["seed"])
    model.tie_weights()

    tok_tmp = os.path.join(tmp, name)
    os.makedirs(tok_tmp)
    tok = make_tokenizer(transformers, spec["tokenizer"], tok_tmp)
    batch, lengths = encode_cases(tok, spec["cases"])
    outputs = run_model(model, spec["base"], batch, lengths, spec)
    check_parameters_matter(model, spec["base"], batch, lengths, spec, outputs)

    model.save_pretrained(folder, safe_serialization=True)
    model.save_pretrained(folder, safe_serialization=False)
    tok.save_pretrained(folder)
    if spec["tokenizer"] == "albert":  # the unchanged 30k-clean model: referenced, not copied
        assert sha256(os.path.join(folder, "spiece.model")) == \
            sha256(os.path.join(TOKENIZERS, "albert-30k-clean.model"))
        os.remove(os.path.join(folder, "spiece.model"))
    st_save_file({k: v.contiguous() for k, v in outputs.items()}, os.path.join(folder, "expected.safetensors"),
                 metadata={"format": "pt"})

    check_reload(getattr(transformers, spec["model"]), folder, batch, lengths, spec, outputs)
    write_cases(spec, config, tok, batch, lengths, outputs, folder)
    return model, tok, outputs, folder


def check_reload(cls, folder, batch, lengths, spec, outputs):
    """Both files reload through transformers' own loader, completely, and reproduce the outputs bit for bit."""
    for use_safetensors in (True, False):
        reloaded, info = cls.from_pretrained(folder, use_safetensors=use_safetensors, output_loading_info=True)
        assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")), info
        again = run_model(reloaded.eval(), spec["base"], batch, lengths, spec)
        for k, v in outputs.items():
            assert torch.equal(v, again[k]), (spec["name"], use_safetensors, k)


def write_cases(spec, config, tok, batch, lengths, outputs, folder):
    cases = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask") if k in batch}
    if spec["tokenizer"] == "roberta":
        from transformers.models.roberta.modeling_roberta import create_position_ids_from_input_ids
        cases["position_ids"] = create_position_ids_from_input_ids(
            torch.tensor(batch["input_ids"]), config.pad_token_id).tolist()
    cases["cases"] = [
        {"text_a": a, "text_b": b, "tokens": tok.convert_ids_to_tokens(batch["input_ids"][i][:lengths[i]])}
        for i, (a, b) in enumerate(spec["cases"])]
    cases["lengths"] = lengths
    cases["note"] = (
        f"Made by make_hf_tiny.py with transformers {RELEASE} ({spec['model']}, {type(tok).__name__}): each case "
        "encoded alone, then padded on the right by the tokenizer's pad() to the longest. expected.safetensors: "
        + ", ".join(f"{k} {list(v.shape)}" for k, v in outputs.items()) + "; eval mode (no dropout), padding "
        "positions included as computed.")
    with open(os.path.join(folder, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
        f.write("\n")


def tensor_keys(folder):
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        st = st_parse(f.read())[1]
    pt = torch.load(os.path.join(folder, "pytorch_model.bin"), map_location="cpu")
    return st, pt


def key_list(keys):
    return ", ".join(f"`{k}`" for k in sorted(keys)) if keys else "none"


def write_readme(spec, model, tok, outputs, folder):
    st, pt = tensor_keys(folder)
    full = model.state_dict()
    buffers = sorted(k for k in st if st[k].dtype != torch.float32)
    cfg = ", ".join(f"{k} {v}" for k, v in spec["config"][1].items())
    tok_files = sorted(f for f in os.listdir(folder) if f not in (
        "README.md", "config.json", "model.safetensors", "pytorch_model.bin", "cases.json", "expected.safetensors"))
    lines = [
        f"# {spec['name']}: a Hugging Face `{spec['model']}` checkpoint with reference outputs",
        "",
        f"Written by `../make_hf_tiny.py` with Hugging Face transformers {RELEASE} (tag v{RELEASE}, commit "
        f"{COMMIT[:12]}), running its own `{spec['model']}` and `{type(tok).__name__}` on Debian's PyTorch 1.13 "
        f"(single thread). The weights are random (seed {spec['seed']}, spread so that every parameter tensor "
        "changes the outputs); nothing was trained. The config: " + cfg + ".",
        "",
        "| file | what |",
        "|---|---|",
        "| config.json | `save_pretrained`'s config (transformers writes every model-specific key and the generic keys "
        "that differ from PretrainedConfig's defaults) |",
        f"| model.safetensors | `save_pretrained(safe_serialization=True)`: {len(st)} tensors, F32"
        + (f" and I64 for {key_list(buffers)}" if buffers else "") + "; tied tensors transformers leaves out: "
        + key_list(set(pt) - set(st)) + " |",
        f"| pytorch_model.bin | `save_pretrained()` (`torch.save`, zip format): {len(pt)} keys"
        + (f", including the tied {key_list(set(pt) - set(st))} (one storage with the tensor it is tied to)"
           if set(pt) - set(st) else "") + " |",
        f"| {', '.join(tok_files)} | `{type(tok).__name__}.save_pretrained` |",
        "| cases.json | the inputs: texts (`text_a`, `text_b`), the tokenizer's tokens, `input_ids`, "
        + ("`token_type_ids`, " if "token_type_ids" in tok.model_input_names else "")
        + "`attention_mask`" + (", `position_ids` (as the model computes them)" if spec["tokenizer"] == "roberta"
                                else "") + ", `lengths` (tokens before padding) |",
        "| expected.safetensors | eval-mode outputs for those inputs: " + ", ".join(
            f"`{k}` {list(v.shape)}" for k, v in outputs.items()) + " |",
        "",
        "State-dict keys in neither file: " + key_list(set(full) - set(pt) - set(st)) + ".",
        "",
        "## What an importer has to reproduce",
        "",
    ] + [f"- {n}" for n in spec["notes"]] + [
        "- `mlm_logits_case0` holds the logits of the first case's tokens only (its padding left out): the "
        "vocabulary-wide logits are most of the bytes." if "mlm_logits_case0" in outputs else
        "- Every output covers the whole padded batch.",
        "",
    ]
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_hf_tiny.py TRANSFORMERS_CHECKOUT (huggingface/transformers at tag v4.30.0)")
    torch.set_num_threads(1)
    checkout = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="hf-tiny-")
    try:
        install_stand_ins(os.path.join(tmp, "site"))
        sys.path.insert(0, os.path.join(checkout, "src"))
        import transformers
        assert transformers.__version__ == RELEASE, transformers.__version__
        # The one method of tokenizers.AddedToken that transformers' fallback dataclass lacks (see the header).
        from transformers import tokenization_utils_base
        assert not transformers.utils.is_tokenizers_available()
        tokenization_utils_base.AddedToken.__str__ = lambda self: self.content
        transformers.logging.set_verbosity_error()
        for spec in FIXTURES:
            model, tok, outputs, folder = make_fixture(transformers, spec, HERE, tmp)
            write_readme(spec, model, tok, outputs, folder)
            st, pt = tensor_keys(folder)
            print(f"{spec['name']}: {len(st)} tensors in model.safetensors, {len(pt)} in pytorch_model.bin; "
                  f"only in .bin: {sorted(set(pt) - set(st))}; only in .safetensors: {sorted(set(st) - set(pt))}")
            for f in sorted(os.listdir(folder)):
                print(f"  {f:28s} {os.path.getsize(os.path.join(folder, f)):9d}  {sha256(os.path.join(folder, f))}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
