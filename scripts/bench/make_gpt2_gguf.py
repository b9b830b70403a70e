#!/usr/bin/env python3
"""GPT-2-small-shaped GGUF files of random weights for decode speed comparisons (issue 20): the
same weights as F32, Q8_0, Q4_K and Q6_K (every 2-D tensor in that type, token_embd too; the head
is tied), with the tiny byte-level BPE tokenizer of the gguf-tiny fixture padded with control tokens to
the 50,257 ids (the bench feeds token ids; generate decodes whatever the model picks). Values do not matter for speed; the K-quant blocks are packed with the fixture
script's plain max-abs schemes, vectorized here (gguf 0.19 has no K-quant quantizer).

    /work/pyref/bin/python scripts/bench/make_gpt2_gguf.py OUT_DIR [f32,q8_0,q4_k,q6_k]
Writes OUT_DIR/gpt2-<type>.gguf (F32 ~500 MB, Q8_0 ~135, Q6_K ~104, Q4_K ~72). Not for git.
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import make_gguf_fixtures as fx  # noqa: E402


def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def pack_q4_k(x):
    """x (rows, n), n % 256 == 0 -> Q4_K blocks (rows, n / 256 * 144) uint8 (fx.pack_q4_k, vectorized)."""
    b = x.reshape(-1, 8, 32).astype(np.float32)
    mn = np.minimum(b.min(axis=2), 0.0)
    scale = (b.max(axis=2) - mn) / 15.0
    minv = -mn
    d = f16(scale.max(axis=1) / 63.0).astype(np.float32)
    dmin = f16(minv.max(axis=1) / 63.0).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d[:, None] > 0, np.clip(np.round(scale / d[:, None]), 0, 63), 0).astype(np.uint8)
        m = np.where(dmin[:, None] > 0, np.clip(np.round(minv / dmin[:, None]), 0, 63), 0).astype(np.uint8)
        step = (d[:, None] * sc.astype(np.float32))[:, :, None]
        q = np.where(step > 0, np.clip(np.round((b + (dmin[:, None] * m.astype(np.float32))[:, :, None]) / step), 0, 15), 0)
    q = q.astype(np.uint8)
    scales = np.zeros((b.shape[0], 12), dtype=np.uint8)
    scales[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    scales[:, 4:8] = (m[:, 0:4] & 63) | ((m[:, 4:8] >> 4) << 6)
    scales[:, 8:12] = (sc[:, 4:8] & 15) | ((m[:, 4:8] & 15) << 4)
    qs = (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(-1, 128)
    out = np.concatenate([f16(d).view(np.uint8).reshape(-1, 2), f16(dmin).view(np.uint8).reshape(-1, 2), scales, qs], axis=1)
    return out.reshape(x.shape[0], -1)


def pack_q6_k(x):
    """x (rows, n), n % 256 == 0 -> Q6_K blocks (rows, n / 256 * 210) uint8 (fx.pack_q6_k, vectorized)."""
    b = x.reshape(-1, 256).astype(np.float32)
    s = np.abs(b.reshape(-1, 16, 16)).max(axis=2) / 31.0
    d = f16(s.max(axis=1) / 127.0).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d[:, None] > 0, np.clip(np.round(s / d[:, None]), -128, 127), 0).astype(np.int8)
        step = np.repeat(d[:, None] * sc.astype(np.float32), 16, axis=1)
        q = np.where(step != 0, np.clip(np.round(b / step), -32, 31), 0).astype(np.int32)
    q6 = (q + 32).astype(np.uint8).reshape(-1, 2, 2, 64)
    ql = ((q6[:, :, 0, :] & 15) | ((q6[:, :, 1, :] & 15) << 4)).reshape(-1, 128)
    q6h = q6.reshape(-1, 2, 4, 32) >> 4
    qh = (q6h[:, :, 0] | (q6h[:, :, 1] << 2) | (q6h[:, :, 2] << 4) | (q6h[:, :, 3] << 6)).reshape(-1, 64)
    out = np.concatenate([ql, qh, sc.view(np.uint8), f16(d).view(np.uint8).reshape(-1, 2)], axis=1)
    return out.reshape(x.shape[0], -1)


def self_check():
    """The vectorized packers give the fixture script's bytes on a few random blocks."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 512)).astype(np.float32) * 0.1
    assert np.array_equal(pack_q4_k(x), fx.pack_q4_k(x))
    assert np.array_equal(pack_q6_k(x), fx.pack_q6_k(x))


def main():
    out_dir = sys.argv[1]
    kinds = sys.argv[2].split(",") if len(sys.argv) > 2 else ["f32", "q8_0", "q4_k", "q6_k"]
    self_check()
    fx.pack_q4_k, fx.pack_q6_k = pack_q4_k, pack_q6_k
    cfg = {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024, "vocab_size": 50257,
           "layer_norm_epsilon": 1e-5}
    tokens, ttypes, merges = fx.tiny_bpe(31)
    # control tokens up to the vocabulary, so that every id the model may pick decodes (generate)
    pad = cfg["vocab_size"] - len(tokens)
    tok = (tokens + [f"<|pad{i}|>" for i in range(pad)], ttypes + [3] * pad, merges)
    rng = np.random.default_rng(1234)
    C, V, T = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    w = {"wte.weight": rng.standard_normal((V, C), dtype=np.float32) * 0.02,
         "wpe.weight": rng.standard_normal((T, C), dtype=np.float32) * 0.01,
         "ln_f.weight": np.ones(C, np.float32), "ln_f.bias": np.zeros(C, np.float32)}
    for l in range(cfg["n_layer"]):
        for hf in fx.NORMS:
            w[f"h.{l}.{hf}.weight"] = np.ones(C, np.float32)
            w[f"h.{l}.{hf}.bias"] = np.zeros(C, np.float32)
        for hf, (i, o) in {"attn.c_attn": (C, 3 * C), "attn.c_proj": (C, C), "mlp.c_fc": (C, 4 * C),
                           "mlp.c_proj": (4 * C, C)}.items():
            w[f"h.{l}.{hf}.weight"] = rng.standard_normal((i, o), dtype=np.float32) * 0.02
            w[f"h.{l}.{hf}.bias"] = np.zeros(o, np.float32)
    tensors = fx.gguf_tensors(w, cfg)
    types = {"f32": Q.F32, "q8_0": Q.Q8_0, "q4_k": Q.Q4_K, "q6_k": Q.Q6_K}
    os.makedirs(out_dir, exist_ok=True)
    for k in kinds:
        path = os.path.join(out_dir, f"gpt2-{k}.gguf")
        fx.write_gguf(path, cfg, tensors, lambda n, t=types[k]: t, tok)
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
