#!/usr/bin/env python3
"""GGUF fixtures of issue 20: a tiny random GPT-2 as safetensors and as GGUF files written by the
`gguf` Python package (llama.cpp's gguf-py), with the package's own dequantization of every
quantized tensor and the logits of a float64 numpy forward on the dequantized weights.

Pinned versions (what made the committed files):
    python 3.11, numpy==2.4.6, safetensors==0.8.0, gguf==0.19.0, tokenizers (HF, the id oracle)
Run from the repository root with the oracle venv:
    /work/pyref/bin/python scripts/reference/make_gguf_fixtures.py
    /work/pyref/bin/python scripts/reference/make_gguf_fixtures.py --check FILE.gguf MODEL_DIR
(the second reads a file `kvdecode convert --to gguf` wrote back with the gguf package and
compares every tensor with the directory's safetensors weights)
It rewrites runtime/src/test/resources/fixtures/gguf-tiny/ deterministically (fixed seed), so
re-running must leave `git status` clean.

Files (see fixtures/README.md):
  config.json, model.safetensors  the model, F16 (kvdecode's directory format)
  model-f32.gguf, model-f16.gguf  the same weights as GGUF (architecture gpt2, llama.cpp's tensor
                                  names and layout: Conv1D weights transposed to (out, in)), with
                                  an embedded byte-level BPE tokenizer (256 bytes + 31 merges +
                                  <|endoftext|>), F32 resp. F16 embeddings and matrices
  model-q8_0.gguf, model-q4_0.gguf  every 2-D tensor Q8_0 resp. Q4_0 (gguf.quants.quantize)
  model-q4_k.gguf, model-q6_k.gguf  ffn_down (rows of 4C = 256, one K-quant super-block) Q4_K
                                  resp. Q6_K, the other 2-D tensors Q8_0 resp. Q4_0 (rows of 64
                                  cannot hold a 256-weight super-block, the fallback llama.cpp's
                                  quantizer also takes). gguf 0.19 has no Q4_K/Q6_K quantizer,
                                  only their dequantization, so the K-quant blocks are packed by
                                  this script (a plain max-abs scheme, written from the block
                                  layouts); the reference values are the package's dequantization
                                  of those bytes
  reference.json                  prompt ids; per GGUF file the sha256 of every tensor's
                                  dequantized float32 values (gguf.quants.dequantize, storage
                                  order, little-endian) and the logits file of its forward
  logits.npy                      float64 forward of the stored (F16) weights, as float32 [T, V]
  logits-<type>.npy               the same forward on each quantized file's dequantized weights
"""
import hashlib
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import save_file, load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt2_fixture import forward, random_weights  # noqa: E402  (the float64 numpy forward)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "runtime", "src", "test", "resources", "fixtures", "gguf-tiny")

LINEAR = {"attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
NORMS = {"ln_1": "attn_norm", "ln_2": "ffn_norm"}


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map (openai/gpt-2 encoder.py's scheme)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def tiny_bpe(n_merges):
    """256 byte tokens (id = byte value), n_merges merges learned on a fixed text, <|endoftext|>."""
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    text = ("the quick brown fox jumps over the lazy dog. then the other fox sat there; "
            "in the end the theory of the thing is that there is nothing there.") * 3
    words = [[b2u[b] for b in (w if i == 0 else " " + w).encode()] for i, w in enumerate(text.split(" "))]
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        (a, b), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(a + " " + b)
        tokens.append(a + b)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [a + b]
                i += 1
    tokens.append("<|endoftext|>")
    types = [1] * (len(tokens) - 1) + [3]   # NORMAL, and CONTROL for <|endoftext|>
    return tokens, types, merges


def tokenizer_cases(tok):
    """Ids HF `tokenizers` gives for a few texts with the embedded vocabulary (the oracle)."""
    from tokenizers import Tokenizer, AddedToken, models, pre_tokenizers, decoders
    tokens, _, merges = tok
    vocab = {t: i for i, t in enumerate(tokens[:-1])}
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.add_special_tokens([AddedToken(tokens[-1], special=True)])
    texts = ["the theory of the thing", "Then there is nothing there.<|endoftext|>The end",
             "  spaces\n\tand tabs  ", "caf\u00e9 \u65e5\u672c \U0001F600", "fox123 jumps!?"]
    return [{"text": t, "ids": bpe.encode(t).ids} for t in texts]


def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def pack_q4_k(x):
    """x (rows, n), n % 256 == 0 -> Q4_K blocks (rows, n / 256 * 144) uint8."""
    blocks = x.reshape(-1, 8, 32).astype(np.float32)
    out = []
    for blk in blocks:
        mn = np.minimum(blk.min(axis=1), 0.0)
        mx = blk.max(axis=1)
        scale = (mx - mn) / 15.0
        minv = -mn
        d = f16(scale.max() / 63.0).astype(np.float32)
        dmin = f16(minv.max() / 63.0).astype(np.float32)
        sc = np.clip(np.round(scale / d) if d > 0 else np.zeros(8), 0, 63).astype(np.uint8)
        m = np.clip(np.round(minv / dmin) if dmin > 0 else np.zeros(8), 0, 63).astype(np.uint8)
        q = np.zeros((8, 32), dtype=np.uint8)
        for s in range(8):
            step = d * np.float32(sc[s])
            if step > 0:
                q[s] = np.clip(np.round((blk[s] + dmin * np.float32(m[s])) / step), 0, 15)
        scales = np.zeros(12, dtype=np.uint8)
        for j in range(4):
            scales[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6)
            scales[j + 4] = (m[j] & 63) | ((m[j + 4] >> 4) << 6)
            scales[j + 8] = (sc[j + 4] & 15) | ((m[j + 4] & 15) << 4)
        qs = np.zeros(128, dtype=np.uint8)
        for k in range(4):
            qs[32 * k:32 * k + 32] = q[2 * k] | (q[2 * k + 1] << 4)
        out.append(np.concatenate([f16([d]).view(np.uint8), f16([dmin]).view(np.uint8), scales, qs]))
    return np.stack(out).reshape(x.shape[0], -1)


def pack_q6_k(x):
    """x (rows, n), n % 256 == 0 -> Q6_K blocks (rows, n / 256 * 210) uint8."""
    blocks = x.reshape(-1, 256).astype(np.float32)
    out = []
    for blk in blocks:
        g = blk.reshape(16, 16)
        s = np.abs(g).max(axis=1) / 31.0
        d = f16(s.max() / 127.0).astype(np.float32)
        sc = np.clip(np.round(s / d) if d > 0 else np.zeros(16), -128, 127).astype(np.int8)
        q = np.zeros(256, dtype=np.int32)
        for e in range(256):
            step = d * np.float32(sc[e // 16])
            q[e] = 0 if step == 0 else int(np.clip(np.round(blk[e] / step), -32, 31))
        q6 = (q + 32).astype(np.uint8)
        ql = np.zeros(128, dtype=np.uint8)
        qh = np.zeros(64, dtype=np.uint8)
        for e in range(256):
            h, r = divmod(e, 128)
            ql[64 * h + r % 64] |= (q6[e] & 15) << (4 * (r // 64))
            qh[32 * h + r % 32] |= (q6[e] >> 4) << (2 * (r // 32))
        out.append(np.concatenate([ql, qh, sc.view(np.uint8), f16([d]).view(np.uint8)]))
    return np.stack(out).reshape(x.shape[0], -1)


def quantize(x, qtype):
    if qtype == Q.Q4_K:
        return pack_q4_k(x)
    if qtype == Q.Q6_K:
        return pack_q6_k(x)
    return gguf.quants.quantize(x.astype(np.float32), qtype)


def gguf_tensors(w, cfg):
    """kvdecode/HF canonical float arrays -> llama.cpp GGUF names, (out, in) linear weights."""
    t = {"token_embd.weight": w["wte.weight"], "position_embd.weight": w["wpe.weight"]}
    for l in range(cfg["n_layer"]):
        for hf, gg in NORMS.items():
            t[f"blk.{l}.{gg}.weight"] = w[f"h.{l}.{hf}.weight"]
            t[f"blk.{l}.{gg}.bias"] = w[f"h.{l}.{hf}.bias"]
        for hf, gg in LINEAR.items():
            t[f"blk.{l}.{gg}.weight"] = w[f"h.{l}.{hf}.weight"].T.copy()   # Conv1D (in, out) -> (out, in)
            t[f"blk.{l}.{gg}.bias"] = w[f"h.{l}.{hf}.bias"]
    t["output_norm.weight"] = w["ln_f.weight"]
    t["output_norm.bias"] = w["ln_f.bias"]
    return t


def write_gguf(path, cfg, tensors, types, tok):
    """types: GGUF name -> GGMLQuantizationType for 2-D tensors (1-D ones are always F32)."""
    wr = gguf.GGUFWriter(path, "gpt2")
    wr.add_name("gguf-tiny")
    wr.add_block_count(cfg["n_layer"])
    wr.add_context_length(cfg["n_positions"])
    wr.add_embedding_length(cfg["n_embd"])
    wr.add_feed_forward_length(4 * cfg["n_embd"])
    wr.add_head_count(cfg["n_head"])
    wr.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    tokens, ttypes, merges = tok
    wr.add_tokenizer_model("gpt2")
    wr.add_tokenizer_pre("gpt-2")
    wr.add_token_list(tokens)
    wr.add_token_types(ttypes)
    wr.add_token_merges(merges)
    wr.add_bos_token_id(len(tokens) - 1)
    wr.add_eos_token_id(len(tokens) - 1)
    deq = {}
    for name, a in tensors.items():
        a32 = a.astype(np.float32)
        qt = types(name) if a.ndim == 2 else Q.F32
        if qt == Q.F32:
            wr.add_tensor(name, a32)
            deq[name] = a32
        elif qt == Q.F16:
            wr.add_tensor(name, a32.astype(np.float16))
            deq[name] = a32.astype(np.float16).astype(np.float32)
        else:
            qd = quantize(a32, qt)
            wr.add_tensor(name, qd, raw_dtype=qt)
            deq[name] = gguf.quants.dequantize(qd, qt)
            assert deq[name].shape == a32.shape
            err = np.abs(deq[name] - a32).max() / np.abs(a32).max()
            assert err < 0.2, (name, qt, err)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    os.chmod(path, 0o644)
    return deq


def to_canonical(deq, cfg):
    """GGUF-named dequantized arrays -> the forward's canonical names, float64, Conv1D orientation."""
    w = {"wte.weight": deq["token_embd.weight"], "wpe.weight": deq["position_embd.weight"],
         "ln_f.weight": deq["output_norm.weight"], "ln_f.bias": deq["output_norm.bias"]}
    for l in range(cfg["n_layer"]):
        for hf, gg in NORMS.items():
            w[f"h.{l}.{hf}.weight"] = deq[f"blk.{l}.{gg}.weight"]
            w[f"h.{l}.{hf}.bias"] = deq[f"blk.{l}.{gg}.bias"]
        for hf, gg in LINEAR.items():
            w[f"h.{l}.{hf}.weight"] = deq[f"blk.{l}.{gg}.weight"].T
            w[f"h.{l}.{hf}.bias"] = deq[f"blk.{l}.{gg}.bias"]
    return {k: v.astype(np.float64) for k, v in w.items()}


def main():
    cfg = {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
        "n_layer": 1, "n_head": 4, "n_embd": 64, "n_positions": 32, "n_ctx": 32,
        "vocab_size": 288, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
        "n_inner": None, "scale_attn_weights": True, "tie_word_embeddings": True,
        "bos_token_id": 287, "eos_token_id": 287,
    }
    tok = tiny_bpe(31)
    assert len(tok[0]) == cfg["vocab_size"]
    rng = np.random.default_rng(20261207)
    w, _ = random_weights(rng, cfg, qkv_bias=True, untied_head=False, head_bias=False, legacy_mask=False)
    os.makedirs(OUT, exist_ok=True)
    st = os.path.join(OUT, "model.safetensors")
    save_file({k: v.astype(np.float16) for k, v in w.items()}, st, metadata={"format": "pt"})
    os.chmod(st, 0o644)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    stored = {k: v.astype(np.float64) for k, v in load_file(st).items()}   # F16 values, widened
    prompt = [287, 0, 116, 104, 101, 32, 256, 257, 286, 255, 10, 65]
    logits = forward(stored, cfg, np.array(prompt))
    np.save(os.path.join(OUT, "logits.npy"), logits.astype("<f4"))

    tensors = gguf_tensors(stored, cfg)
    variants = {
        "f32": lambda n: Q.F32,
        "f16": lambda n: Q.F16,
        "q8_0": lambda n: Q.Q8_0,
        "q4_0": lambda n: Q.Q4_0,
        "q4_k": lambda n: Q.Q4_K if n.endswith("ffn_down.weight") else Q.Q8_0,
        "q6_k": lambda n: Q.Q6_K if n.endswith("ffn_down.weight") else Q.Q4_0,
    }
    files = {}
    for v, types in variants.items():
        fname = f"model-{v}.gguf"
        deq = write_gguf(os.path.join(OUT, fname), cfg, tensors, types, tok)
        entry = {"tensors": {n: {"type": (types(n) if a.ndim == 2 else Q.F32).name,
                                 "sha256": hashlib.sha256(a.astype("<f4").tobytes()).hexdigest(),
                                 "first": [float(x) for x in a.reshape(-1)[:3]]}
                             for n, a in deq.items()}}
        if v not in ("f32", "f16"):
            ql = forward(to_canonical(deq, cfg), cfg, np.array(prompt))
            entry["logits_file"] = f"logits-{v}.npy"
            np.save(os.path.join(OUT, entry["logits_file"]), ql.astype("<f4"))
            entry["max_abs_logit_change_vs_f16"] = float(np.abs(ql - logits).max())
        files[fname] = entry
        print(fname, os.path.getsize(os.path.join(OUT, fname)), "bytes")
    # Read every file back with the package's reader: types and shapes as written.
    for fname, entry in files.items():
        r = gguf.GGUFReader(os.path.join(OUT, fname))
        for t in r.tensors:
            assert t.tensor_type.name == entry["tensors"][t.name]["type"], (fname, t.name)
    ref = {
        "prompt_ids": prompt,
        "tokenizer_cases": tokenizer_cases(tok),
        "logits_file": "logits.npy",
        "logits_shape": list(logits.shape),
        "stored_dtype": "F16",
        "gguf": files,
        "tokenizer": {"tokens": len(tok[0]), "merges": len(tok[2]), "eos": len(tok[0]) - 1},
        "reference": "scripts/reference/make_gguf_fixtures.py: gguf.quants.dequantize + the float64 numpy "
                     "forward of scripts/reference/make_gpt2_fixture.py",
        "versions": {"numpy": np.__version__, "safetensors": __import__("safetensors").__version__,
                     "tokenizers": __import__("tokenizers").__version__,
                     "gguf": __import__("importlib.metadata").metadata.version("gguf")},
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")


def check(path, model_dir):
    """Reads a GGUF file kvdecode's exporter wrote with the gguf package and compares every tensor
    with the model directory's safetensors weights (exact for F32; F16 as numpy rounds them)."""
    r = gguf.GGUFReader(path)
    kv = {f.name: f for f in r.fields.values()}
    arch = bytes(kv["general.architecture"].parts[-1]).decode()
    assert arch == "gpt2", arch
    n_tokens = len(kv["tokenizer.ggml.tokens"].data)
    n_merges = len(kv["tokenizer.ggml.merges"].data)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    w = {k[len("transformer."):] if k.startswith("transformer.") else k: v.astype(np.float32)
         for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()}
    want = gguf_tensors(w, cfg)
    assert {t.name for t in r.tensors} == set(want), sorted({t.name for t in r.tensors} ^ set(want))
    for t in r.tensors:
        a = want[t.name]
        got = np.asarray(t.data).reshape(a.shape)
        exp = a.astype(np.float16) if t.tensor_type == Q.F16 else a.astype(np.float32)
        assert got.dtype == exp.dtype and np.array_equal(got, exp), t.name
    print(f"{path}: gguf {__import__('importlib.metadata').metadata.version('gguf')} reads architecture {arch}, "
          f"{len(r.tensors)} tensors ({', '.join(sorted({t.tensor_type.name for t in r.tensors}))}) equal to "
          f"{model_dir}'s weights, {n_tokens} tokens, {n_merges} merges")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])   # --check FILE.gguf MODEL_DIR
    else:
        main()
