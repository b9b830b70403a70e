#!/usr/bin/env python3
"""GGUF fixtures of issue 20 for the Llama family: some of the llama-fixtures checkpoints
(scripts/reference/make_llama_fixtures.py) written again as GGUF files by the `gguf` Python package
the way llama.cpp's convert_hf_to_gguf.py writes them, with a tiny embedded tokenizer.

Pinned versions (what made the committed files):
    python 3.11, torch==2.13.0+cpu, transformers==5.18.0, safetensors==0.8.0, numpy==2.4.6,
    gguf==0.19.0, tokenizers==0.23.2
Run from the repository root with the oracle venv (after make_llama_fixtures.py):
    /work/pyref/bin/python scripts/reference/make_llama_gguf_fixtures.py
Deterministic: re-running leaves `git status` clean.
    /work/pyref/bin/python scripts/reference/make_llama_gguf_fixtures.py --llamacpp OUT_DIR
writes llama-architecture files with a byte-level vocabulary for scripts/llamacpp/compare.sh (not
committed: llama.cpp refuses a SentencePiece vocabulary without the <0x0A> token).

What convert_hf_to_gguf.py does and this script repeats:
  - architecture "llama" for Llama and Mistral, "qwen2", "qwen3"; the hyperparameters under
    {arch}.*: context_length, embedding_length, block_count, feed_forward_length,
    attention.head_count(_kv), attention.key_length/value_length (head_dim),
    attention.layer_norm_rms_epsilon, rope.freq_base, rope.dimension_count, rope.scaling.type and
    .factor for linear scaling, vocab_size;
  - LlamaModel.permute on q_proj and k_proj (weights and biases) for architecture llama only:
    rows (n_head, 2, hd/2) -> (n_head, hd/2, 2), the interleaved RoPE pairing llama.cpp's
    rope kernel expects (for k, n_head is the KV head count);
  - llama3 rope scaling as a rope_freqs.weight tensor of per-frequency factors
    (LlamaModel.generate_extra_tensors), no rope.scaling.* keys;
  - tensor names token_embd, blk.N.attn_norm, attn_q/k/v(.bias), attn_q_norm/attn_k_norm,
    attn_output, ffn_norm, ffn_gate/up/down, output_norm, output (absent when tied).

Files (beside each fixture's safetensors):
  llama-gqa2-f32/model-f32.gguf     F32, exactly the safetensors values (bit-identical logits)
  llama-gqa2-f32/model-q8_0.gguf    every matrix Q8_0 (gguf.quants.quantize), norms F32
  llama-mqa-f16/model-f16.gguf      F16 (the stored values), linear rope scaling, untied head
  qwen3-headdim/model-bf16.gguf     BF16 (the stored values), q/k norms, head_dim 32
  qwen2-bias/model-q8_0.gguf        Q8_0 matrices, q/k/v biases F32
  llama3-mha-bf16/model-q8_0.gguf   Q8_0, llama3 rope scaling as rope_freqs.weight, q/k/v/o biases
  <fixture>/gguf-reference.json     per file: tokenizer cases (HF transformers' own GGUF
                                    tokenizer conversion gives the ids, without special tokens;
                                    for SentencePiece its legacy-normalizer builder), and for quantized files
                                    the logits file
  <fixture>/logits-q8_0.f64         float64 [T, V] logits of the prompt positions: transformers
                                    (float64) on the file's weights as gguf.quants.dequantize
                                    gives them, permutation undone
The llama-arch files embed a SentencePiece vocabulary ("llama": tokens, scores, token types),
the qwen files a byte-level BPE one ("gpt2", pre-tokenizer "qwen2"); 256 tokens each, the models'
vocab_size.
"""
import json
import os
import math

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as Q
from safetensors.torch import load_file
import transformers
from transformers import AutoModelForCausalLM, AutoConfig
from transformers.integrations.gguf.gguf_tokenizer_mapping import get_gguf_tokenizer, convert_gguf_tokenizer

ROOT = "runtime/src/test/resources/llama-fixtures"
PROMPT = [1, 17, 42, 99, 7, 200, 3, 64, 128, 5, 250, 11]
ARCH = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2",
        "Qwen3ForCausalLM": "qwen3"}
LAYER = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
         "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
         "self_attn.v_proj.weight": "attn_v.weight", "self_attn.q_proj.bias": "attn_q.bias",
         "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
         "self_attn.o_proj.weight": "attn_output.weight", "self_attn.o_proj.bias": "attn_output.bias",
         "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
         "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
         "mlp.down_proj.weight": "ffn_down.weight"}
TEXTS = ["the theory of the thing", "then there is nothing there.", "  spaces and  more  ",
         "fox, 123 jumps! the end", "hello world"]


def permute(w, n_head, n_head_kv):
    """convert_hf_to_gguf.py's LlamaModel.permute."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head, n_head_kv):
    """transformers' LlamaTensorProcessor._reverse_permute_weights (the inverse)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)


def load(name):
    d = os.path.join(ROOT, name)
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    w = {}
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".safetensors"):
            w.update(load_file(os.path.join(d, fn)))
    return d, cfg, w


def rope_of(cfg):
    """(theta, scaling dict or None) from a 4.x or 5.x config."""
    if cfg.get("rope_parameters"):
        rp = dict(cfg["rope_parameters"])
        theta = rp.pop("rope_theta")
        kind = rp.get("rope_type", "default")
        return theta, (None if kind == "default" else rp)
    sc = cfg.get("rope_scaling")
    return cfg.get("rope_theta", 10000.0), sc


def llama3_factors(theta, dim, sc):
    """LlamaModel.generate_extra_tensors: rope_freqs.weight for rope_type llama3."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, low, high = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
    old = sc["original_max_position_embeddings"]
    low_wl, high_wl = old / low, old / high
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(1)
        elif wl > low_wl:
            out.append(factor)
        else:
            s = (old / wl - low) / (high - low)
            out.append(1 / ((1 - s) / factor + s))
    return np.array(out, dtype=np.float32)


def spm_vocab():
    """256 SentencePiece-style pieces: <unk> <s> </s>, '▁' and characters, then pieces made by
    greedy pair merges on a fixed text; score = -merge order (chars below every merge)."""
    text = ("the quick brown fox jumps over the lazy dog. then the other fox sat there; "
            "in the end the theory of the thing is that there is nothing there. Hello, world! 123") * 3
    chars = sorted(set(text.replace(" ", "")))
    words = [["\u2581"] + list(w) for w in text.split(" ")]
    pieces, scores = [], []
    while len(pieces) + len(chars) + 4 < 256:
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        (a, b), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        if a + b in pieces:
            break
        pieces.append(a + b)
        scores.append(-float(len(pieces) - 1))
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [a + b]
                i += 1
    tokens = ["<unk>", "<s>", "</s>"] + pieces + ["\u2581"] + chars
    scores = [0.0, 0.0, 0.0] + scores + [-1000.0 - i for i in range(1 + len(chars))]
    types = [2, 3, 3] + [1] * (len(tokens) - 3)
    while len(tokens) < 256:   # pad as llama.cpp does for a vocab_size above the tokenizer's
        tokens.append(f"[PAD{len(tokens)}]")
        scores.append(-10000.0)
        types.append(5)   # UNUSED
    assert len(tokens) == 256 and len(set(tokens)) == 256
    return tokens, scores, types


BYTE_MERGES = ["\u0120 t", "h e", "\u0120t he", "i n", "\u0120 a", "e r", "o n", "\u0120 f", "o x", "\u0120f ox",
               "r e", "\u0120 s", "a t", "\u0120s at", "e n", "\u0120 o"]


def byte_vocab():
    """256 byte-level tokens (GPT-2's byte -> character map), id = byte value, except that the
    control bytes 0x10..0x1F give their ids to the 16 products of BYTE_MERGES."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    for i, m in enumerate(BYTE_MERGES):
        chars[0x10 + i] = m.replace(" ", "")
    assert len(set(chars)) == 256
    return chars


def write(name, out_name, qtype, out_dir=None, byte_level=False):
    """out_dir/byte_level: the --llamacpp variant (not committed): a byte-level vocabulary for every
    architecture, since llama.cpp needs the <0x0A> byte token of a SentencePiece vocabulary, which
    the 256-token fixtures have no room for."""
    d, cfg, w = load(name)
    arch = ARCH[cfg["architectures"][0]]
    C, L, NH = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
    NKV = cfg.get("num_key_value_heads", NH)
    HS = cfg.get("head_dim") or C // NH
    V = cfg["vocab_size"]
    theta, sc = rope_of(cfg)
    path = os.path.join(out_dir or d, out_name)
    wr = gguf.GGUFWriter(path, arch)
    wr.add_name(name)
    wr.add_vocab_size(V)
    wr.add_context_length(cfg["max_position_embeddings"])
    wr.add_embedding_length(C)
    wr.add_block_count(L)
    wr.add_feed_forward_length(cfg["intermediate_size"])
    wr.add_head_count(NH)
    wr.add_head_count_kv(NKV)
    wr.add_key_length(HS)
    wr.add_value_length(HS)
    wr.add_rope_dimension_count(HS)
    wr.add_rope_freq_base(theta)
    wr.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    sc_type = None if sc is None else sc.get("rope_type", sc.get("type"))
    if sc_type == "linear":
        wr.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        wr.add_rope_scaling_factor(sc["factor"])
    bos = cfg.get("bos_token_id")
    eos = cfg.get("eos_token_id")
    eos = eos[0] if isinstance(eos, list) else eos
    if arch == "llama" and not byte_level:
        tokens, scores, types = spm_vocab()
        wr.add_tokenizer_model("llama")
        wr.add_tokenizer_pre("default")
        wr.add_token_list(tokens)
        wr.add_token_scores(scores)
        wr.add_token_types(types)
        wr.add_unk_token_id(0)
        wr.add_add_bos_token(True)
        wr.add_add_eos_token(False)
    else:
        tokens = byte_vocab()
        wr.add_tokenizer_model("gpt2")
        wr.add_tokenizer_pre("llama-bpe" if arch == "llama" else "qwen2")
        wr.add_token_list(tokens)
        wr.add_token_types([1] * len(tokens))
        wr.add_token_merges(BYTE_MERGES)
        wr.add_add_bos_token(False)
    wr.add_bos_token_id(bos)
    wr.add_eos_token_id(eos)
    wr.add_chat_template("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")

    tensors = {"token_embd.weight": w["model.embed_tokens.weight"]}
    if sc_type == "llama3":
        tensors["rope_freqs.weight"] = torch.from_numpy(llama3_factors(theta, HS, sc))
    for l in range(L):
        for hf, gg in LAYER.items():
            key = f"model.layers.{l}.{hf}"
            if key not in w:
                continue
            t = w[key]
            if arch == "llama" and "q_proj" in hf:
                t = permute(t, NH, NH)
            elif arch == "llama" and "k_proj" in hf:
                t = permute(t, NH, NKV)
            tensors[f"blk.{l}.{gg}"] = t
    tensors["output_norm.weight"] = w["model.norm.weight"]
    if not cfg.get("tie_word_embeddings", False):
        tensors["output.weight"] = w["lm_head.weight"]

    deq = {}
    for tn, t in tensors.items():
        a32 = t.float().numpy()
        if t.ndim == 1 or qtype == Q.F32:
            wr.add_tensor(tn, a32)
            deq[tn] = a32
        elif qtype == Q.F16:
            assert t.dtype == torch.float16
            wr.add_tensor(tn, t.numpy())
            deq[tn] = a32
        elif qtype == Q.BF16:
            assert t.dtype == torch.bfloat16
            raw = t.view(torch.int16).numpy().view(np.uint8).reshape(t.shape[0], -1)
            wr.add_tensor(tn, raw, raw_dtype=Q.BF16)
            deq[tn] = a32
        else:
            qd = gguf.quants.quantize(a32, qtype)
            wr.add_tensor(tn, qd, raw_dtype=qtype)
            deq[tn] = gguf.quants.dequantize(qd, qtype)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    os.chmod(path, 0o644)

    entry = {"type": qtype.name, "architecture": arch}
    if out_dir:
        print(f"{path}: {os.path.getsize(path)} bytes")
        return entry
    # transformers' own GGUF tokenizer conversion gives the oracle ids. For SentencePiece files its
    # phi3 builder: the legacy Prepend/Replace normalizer, which is what llama.cpp runs (a space
    # before each stretch of text); its llama builder uses Metaspace(prepend_scheme "first"), which
    # adds no U+2581 to text that already starts with a space.
    arch_, tdict, _ = get_gguf_tokenizer(path)
    backend, _ = convert_gguf_tokenizer("phi3" if arch_ == "llama" else arch_, tdict)
    entry["tokenizer_cases"] = [{"text": t, "ids": backend.encode(t, add_special_tokens=False).ids} for t in TEXTS]
    if qtype not in (Q.F32, Q.F16, Q.BF16):
        entry["logits_file"] = out_name.replace("model-", "logits-").replace(".gguf", ".f64")
        logits = reference_logits(d, cfg, deq, arch, NH, NKV)
        logits.astype("<f8").tofile(os.path.join(d, entry["logits_file"]))
        entry["logits_shape"] = list(logits.shape)
    print(f"{path}: {os.path.getsize(path)} bytes")
    return entry


def reference_logits(d, cfg, deq, arch, NH, NKV):
    """transformers (float64) with the dequantized weights, permutation undone: [T, V]."""
    config = AutoConfig.from_pretrained(d)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float64, attn_implementation="eager")
    inv = {v: k for k, v in LAYER.items()}
    sd = {}
    for tn, a in deq.items():
        if tn == "rope_freqs.weight":
            continue
        if tn == "token_embd.weight":
            key = "model.embed_tokens.weight"
        elif tn == "output_norm.weight":
            key = "model.norm.weight"
        elif tn == "output.weight":
            key = "lm_head.weight"
        else:
            _, l, rest = tn.split(".", 2)
            key = f"model.layers.{l}.{inv[rest]}"
            if arch == "llama" and rest.startswith("attn_q."):
                a = unpermute(a, NH, NH)
            elif arch == "llama" and rest.startswith("attn_k."):
                a = unpermute(a, NH, NKV)
        sd[key] = torch.from_numpy(np.ascontiguousarray(a)).double()
    if cfg.get("tie_word_embeddings", False):
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and all("rotary" in m for m in missing), (missing, unexpected)
    model.tie_weights()
    with torch.no_grad():
        out = model(torch.tensor([PROMPT]), use_cache=False).logits[0]
    return out.double().numpy()


def main():
    plan = [("llama-gqa2-f32", "model-f32.gguf", Q.F32), ("llama-gqa2-f32", "model-q8_0.gguf", Q.Q8_0),
            ("llama-mqa-f16", "model-f16.gguf", Q.F16), ("qwen3-headdim", "model-bf16.gguf", Q.BF16),
            ("qwen2-bias", "model-q8_0.gguf", Q.Q8_0), ("llama3-mha-bf16", "model-q8_0.gguf", Q.Q8_0)]
    refs = {}
    for name, out_name, qtype in plan:
        refs.setdefault(name, {})[out_name] = write(name, out_name, qtype)
    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "gguf": __import__("importlib.metadata").metadata.version("gguf"), "numpy": np.__version__}
    for name, files in refs.items():
        with open(os.path.join(ROOT, name, "gguf-reference.json"), "w") as f:
            json.dump({"prompt_ids": PROMPT, "files": files, "versions": versions}, f, indent=1)
            f.write("\n")


def llamacpp(out_dir):
    """Llama-architecture files with a byte-level vocabulary, for scripts/llamacpp/compare.sh."""
    os.makedirs(out_dir, exist_ok=True)
    for name, out_name, qtype in [("llama-gqa2-f32", "llama-gqa2-f32.gguf", Q.F32), ("llama-gqa2-f32", "llama-gqa2-q8_0.gguf", Q.Q8_0),
                                  ("llama-mqa-f16", "llama-mqa-f16.gguf", Q.F16), ("llama3-mha-bf16", "llama3-mha-q8_0.gguf", Q.Q8_0),
                                  ("mistral-gqa5-shard", "mistral-gqa5-bf16.gguf", Q.BF16)]:
        write(name, out_name, qtype, out_dir=out_dir, byte_level=True)


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "--llamacpp":
        llamacpp(sys.argv[2])   # --llamacpp OUT_DIR
    else:
        main()
