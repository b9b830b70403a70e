#!/usr/bin/env python3
"""Reference fixture (1) of issue 2: small random GPT-2-family checkpoints and the logits an
independent numpy forward pass computes for them.

Pinned versions (what made the committed files):
    python 3 (any), numpy==2.4.6, safetensors==0.8.0
Run from the repository root:
    python3 scripts/reference/make_gpt2_fixture.py
It rewrites runtime/src/test/resources/fixtures/{gpt2-tiny,char-tiny}/. The output is
deterministic (fixed seeds), so re-running must leave `git status` clean.

The forward pass is written from the papers and Hugging Face's GPT-2 semantics, not from any
kvdecode code:
  - token + learned absolute position embedding (Radford et al. 2019; HF GPT2Model)
  - pre-norm blocks: x += attn(ln_1(x)); x += mlp(ln_2(x))
  - LayerNorm (Ba et al. 2016): (x - mean) / sqrt(var + eps) * g + b, biased variance
  - Conv1D linear layers: y = x @ W + b with W stored [in, out] (HF transformers' Conv1D)
  - causal scaled dot-product attention (Vaswani et al. 2017, eq. 1): softmax(q k^T / sqrt(HS))
    with a lower-triangular mask; q|k|v are the three C-wide column blocks of c_attn, head h
    is columns h*HS..(h+1)*HS of each block
  - gelu_new, the tanh form of GELU (Hendrycks & Gimpel 2016):
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); relu for the char model
  - final LayerNorm ln_f, then logits = x @ lm_head^T (+ lm_head.bias); lm_head = wte when tied
All math is float64 on the weights exactly as stored (F16 weights are widened first), and the
logits are stored as float32.

Files per fixture directory (see fixtures/README.md):
  config.json         the model config (HF GPT-2 keys + kvdecode extension keys)
  model.safetensors   the checkpoint, HF tensor names
  chars.json          (char model only) the vocabulary, a JSON array of one-char strings
  reference.json      {"prompt_ids": [...], "logits_file": "logits.npy", "logits_shape": [T, V],
                      "tensor_checks": {name: {"shape", "sum" (float64), "first" (3 values)}}, ...}
  logits.npy          float32 little-endian, C order, shape [T, V]: logits of every prompt position
"""
import json
import math
import os

import numpy as np
from safetensors.numpy import save_file, load_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                    "runtime", "src", "test", "resources", "fixtures")


def layer_norm(x, g, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # biased, as torch.nn.LayerNorm
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def relu(x):
    return np.maximum(x, 0.0)


def forward(w, cfg, ids):
    """Logits [T, V] for token ids, float64. w: canonical (unprefixed) name -> float64 array."""
    C, NH, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    HS = C // NH
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    act = {"gelu_new": gelu_new, "relu": relu}[cfg["activation_function"]]
    T = len(ids)
    x = w["wte.weight"][ids] + w["wpe.weight"][np.arange(T)]
    mask = np.tril(np.ones((T, T), dtype=bool))
    for l in range(L):
        p = f"h.{l}."
        a = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = a @ w[p + "attn.c_attn.weight"]
        if p + "attn.c_attn.bias" in w:
            qkv = qkv + w[p + "attn.c_attn.bias"]
        q, k, v = qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:]
        heads = []
        for h in range(NH):
            s = slice(h * HS, (h + 1) * HS)
            att = (q[:, s] @ k[:, s].T) / math.sqrt(HS)
            att = np.where(mask, att, -np.inf)
            att = att - att.max(axis=-1, keepdims=True)
            att = np.exp(att)
            att = att / att.sum(axis=-1, keepdims=True)
            heads.append(att @ v[:, s])
        y = np.concatenate(heads, axis=-1)
        x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        m = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        m = act(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], eps)
    head = w["wte.weight"] if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
    logits = x @ head.T
    if "lm_head.bias" in w:
        logits = logits + w["lm_head.bias"]
    return logits


def random_weights(rng, cfg, qkv_bias, untied_head, head_bias, legacy_mask):
    """Canonical name -> float64 array. Scales are chosen so attention scores and MLP inputs are
    O(1): softmax is far from uniform and the nonlinearity is exercised, so a wrong op shows."""
    C, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
    std = 0.15
    n = lambda *s, sd=std: rng.normal(0.0, sd, size=s)
    w = {"wte.weight": n(V, C, sd=0.5), "wpe.weight": n(P, C, sd=0.5)}
    for l in range(L):
        p = f"h.{l}."
        w[p + "ln_1.weight"] = 1.0 + n(C, sd=0.2)
        w[p + "ln_1.bias"] = n(C, sd=0.1)
        w[p + "attn.c_attn.weight"] = n(C, 3 * C)
        if qkv_bias:
            w[p + "attn.c_attn.bias"] = n(3 * C, sd=0.1)
        w[p + "attn.c_proj.weight"] = n(C, C)
        w[p + "attn.c_proj.bias"] = n(C, sd=0.1)
        w[p + "ln_2.weight"] = 1.0 + n(C, sd=0.2)
        w[p + "ln_2.bias"] = n(C, sd=0.1)
        w[p + "mlp.c_fc.weight"] = n(C, 4 * C)
        w[p + "mlp.c_fc.bias"] = n(4 * C, sd=0.1)
        w[p + "mlp.c_proj.weight"] = n(4 * C, C)
        w[p + "mlp.c_proj.bias"] = n(C, sd=0.1)
    w["ln_f.weight"] = 1.0 + n(C, sd=0.2)
    w["ln_f.bias"] = n(C, sd=0.1)
    if untied_head:
        w["lm_head.weight"] = n(V, C, sd=0.3)
    if head_bias:
        w["lm_head.bias"] = n(V, sd=0.3)
    extra = {}
    if legacy_mask:
        # The hub's gpt2 checkpoint still carries HF's old causal-mask buffer h.N.attn.bias
        # [1, 1, P, P]; loaders must ignore it. Kept here so the Java loader is tested on it.
        for l in range(L):
            extra[f"h.{l}.attn.bias"] = np.tril(np.ones((P, P)))[None, None]
    return w, extra


def write_fixture(name, cfg, w, extra, dtype, prompt_ids, chars=None, note=""):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    stored = {k: v.astype(dtype) for k, v in {**w, **extra}.items()}
    save_file(stored, os.path.join(d, "model.safetensors"),
              # One key only: safetensors serialises metadata from a hash map, so several keys
              # come out in a varying order and the file would not be reproducible.
              metadata={"format": "pt"})
    os.chmod(os.path.join(d, "model.safetensors"), 0o644)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    if chars is not None:
        with open(os.path.join(d, "chars.json"), "w", encoding="utf-8") as f:
            json.dump(chars, f, ensure_ascii=False)
            f.write("\n")
    # Compute from what was written (read back, widened to float64), so F16 rounding is the same
    # on both sides and only the forward's arithmetic is compared.
    back = {k: v.astype(np.float64) for k, v in load_file(os.path.join(d, "model.safetensors")).items()}
    logits = forward(back, cfg, np.array(prompt_ids))
    # Self-check of the causal mask: row t must not depend on tokens after t.
    for t in (0, len(prompt_ids) // 2):
        assert np.allclose(forward(back, cfg, np.array(prompt_ids[:t + 1]))[-1], logits[t], rtol=1e-12, atol=1e-12)
    np.save(os.path.join(d, "logits.npy"), logits.astype("<f4"))
    ref = {
        "prompt_ids": [int(i) for i in prompt_ids],
        "logits_file": "logits.npy",
        "logits_shape": list(logits.shape),
        "logits_dtype": "float32 little-endian (numpy <f4), C order; row t = logits after prompt_ids[0..t]",
        "stored_dtype": {np.float16: "F16", np.float32: "F32"}[dtype],
        # Per tensor, as numpy reads the file: the float64 sum of all stored values and the first
        # three values in C order. Lets Java check its widening and name mapping independently.
        "tensor_checks": {k: {"shape": list(v.shape), "sum": float(v.sum()),
                              "first": [float(x) for x in v.reshape(-1)[:3]]}
                          for k, v in sorted(back.items())},
        "reference": "numpy float64 forward in scripts/reference/make_gpt2_fixture.py",
        "versions": {"numpy": np.__version__, "safetensors": __import__("safetensors").__version__},
        "note": note,
    }
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    print(name, "logits", logits.shape, "range", float(logits.min()), float(logits.max()))


def main():
    # (a) GPT-2 flavour: odd sizes (C 48, NH 3, HS 16), the real GPT-2 vocabulary size. F16 keeps
    # the file ~5 MB (F32 would be ~10 MB). Hub-style names (no "transformer." prefix), tied head,
    # no lm_head.weight, with the legacy attn.bias buffers.
    cfg = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "n_layer": 2, "n_head": 3, "n_embd": 48, "n_positions": 64, "n_ctx": 64,
        "vocab_size": 50257, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
        "n_inner": None, "scale_attn_weights": True, "tie_word_embeddings": True,
        "bos_token_id": 50256, "eos_token_id": 50256,
    }
    rng = np.random.default_rng(20261125)
    w, extra = random_weights(rng, cfg, qkv_bias=True, untied_head=False, head_bias=False, legacy_mask=True)
    prompt = [50256, 15496, 11, 616, 1438, 318, 0, 50255, 1, 25, 464, 13]
    write_fixture("gpt2-tiny", cfg, w, extra, np.float16, prompt,
                  note="GPT-2 flavour: gelu_new, qkv bias, tied head, F16, hub-style names")

    # (b) the tutorial's char model flavour: ReLU, no qkv bias, untied head with bias, F32.
    text_chars = sorted(set("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
    assert len(text_chars) == 65, len(text_chars)  # Tiny Shakespeare's 65 distinct characters
    ccfg = {
        "model_type": "kvdecode-char-gpt",
        "n_layer": 2, "n_head": 4, "n_embd": 32, "n_positions": 32,
        "vocab_size": 65, "layer_norm_epsilon": 1e-5, "activation_function": "relu",
        "qkv_bias": False, "tie_word_embeddings": False, "lm_head_bias": True, "tokenizer": "char",
    }
    rng = np.random.default_rng(65)
    w, extra = random_weights(rng, ccfg, qkv_bias=False, untied_head=True, head_bias=True, legacy_mask=False)
    # "First Citizen" as char ids, then 0 (newline) and 64 (z): both ends of the id range.
    cprompt = [text_chars.index(ch) for ch in "First Citize"]
    cprompt[-2:] = [0, 64]
    write_fixture("char-tiny", ccfg, w, extra, np.float32, cprompt, chars=text_chars,
                  note="char-model flavour: relu, no qkv bias, untied head with bias, F32")


if __name__ == "__main__":
    main()
