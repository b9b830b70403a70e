#!/usr/bin/env python3
"""Reference fixtures of issue 18: tiny random-weight Llama-family checkpoints, written by Hugging
Face transformers' save_pretrained, with the logits and greedy tokens transformers computes.

Pinned versions (what made the committed files):
    python 3.12, torch==2.13.0+cpu, transformers==5.18.0, safetensors==0.8.0, numpy==2.4.6
Run from the repository root:
    /work/pyref/bin/python scripts/reference/make_llama_fixtures.py
It rewrites runtime/src/test/resources/llama-fixtures/<name>/. Fixed seeds: re-running gives the
same tensors and logits.

Each fixture covers shapes the Java loader and forward must handle:
  llama-gqa2-f32      LlamaForCausalLM, GQA ratio 2, tied head, default RoPE, F32, 4.x config
  llama3-mha-bf16     LlamaForCausalLM, ratio 1, untied, llama3 rope scaling, q/k/v/o biases
                      (attention_bias), BF16, 5.x config (rope_parameters)
  llama-mqa-f16       LlamaForCausalLM, MQA (1 KV head), linear rope scaling written the old way
                      ({"type": "linear"}), F16, eos as a list, generation_config.json eos ids
  mistral-gqa5-shard  MistralForCausalLM, GQA ratio 5 (10 heads, 2 KV heads), untied, BF16,
                      sharded (model.safetensors.index.json)
  qwen2-bias          Qwen2ForCausalLM, q/k/v biases, tied, BF16, 4.x config with
                      use_sliding_window false (sliding_window set but off)
  qwen3-headdim       Qwen3ForCausalLM, head_dim 32 != hidden/heads 16, per-head q/k RMSNorm,
                      tied, BF16

Files per fixture (beside what save_pretrained writes):
  reference.json   {"prompt_ids", "greedy_ids" (32, float64 model), "greedy_ids_f32" (float32
                   model), "vocab_size", "steps": 32, "min_margin" (smallest top-1 minus top-2
                   logit gap along the greedy path, float64)}
  logits.f64       float64 little-endian, shape [32, V]: row i = the logits from which greedy
                   token i was chosen (row 0: after the prompt; row i: after feeding token i-1)
The float64 reference is the written checkpoint loaded back with from_pretrained(dtype=float64).
(transformers itself computes RoPE's inv_freq, cos/sin and the RMSNorm statistics in float32
even then; that is the model.)
"""
import json
import os
import shutil

import numpy as np
import torch
import transformers
from transformers import (AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM,
                          GenerationConfig)

OUT = "runtime/src/test/resources/llama-fixtures"
PROMPT = [1, 17, 42, 99, 7, 200, 3, 64, 128, 5, 250, 11]
STEPS = 32
V = 256


def randomize(model, seed, std):
    """Every parameter redrawn: matrices N(0, std), norm weights 1 + N(0, 0.1), biases N(0, 0.1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))
    model.tie_weights()


def greedy(path, dtype):
    # Reloaded from the written files, as a user loads them: this also checks that transformers
    # reads every config style and the shards, and it keeps the rotary inv_freq in float32 (a
    # module .to(bfloat16) would round that buffer too, which no loaded checkpoint does).
    m = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="eager")
    assert m.model.rotary_emb.inv_freq.dtype == torch.float32
    ids = list(PROMPT)
    rows, toks, margins = [], [], []
    with torch.no_grad():
        for _ in range(STEPS):
            out = m(torch.tensor([ids]), use_cache=False).logits[0, -1]
            top = torch.topk(out, 2).values
            margins.append(float(top[0] - top[1]))
            t = int(torch.argmax(out))
            rows.append(out.double().numpy())
            toks.append(t)
            ids.append(t)
    return np.stack(rows), toks, min(margins)


def to_v4_config(path, old_type_key=False):
    """Rewrites config.json as transformers 4.x wrote it: rope_theta and rope_scaling."""
    cfg_path = os.path.join(path, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    rp = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rp.pop("rope_theta")
    kind = rp.pop("rope_type")
    if kind == "default":
        cfg["rope_scaling"] = None
    else:
        rp["type" if old_type_key else "rope_type"] = kind
        cfg["rope_scaling"] = rp
    cfg["transformers_version"] = "4.46.0"
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def make(name, model, dtype, seed, std=0.15, v4=False, old_type_key=False, shard=None, gen_eos=None):
    randomize(model, seed, std)
    model = model.to(dtype)   # the stored weights; the references use exactly these values
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(path, **kwargs)
    gen = os.path.join(path, "generation_config.json")
    if gen_eos is not None:
        GenerationConfig(bos_token_id=model.config.bos_token_id, eos_token_id=gen_eos).save_pretrained(path)
    elif os.path.exists(gen):
        os.remove(gen)
    if v4:
        to_v4_config(path, old_type_key)
    logits64, toks64, margin = greedy(path, torch.float64)
    _, toks32, _ = greedy(path, torch.float32)
    if toks32 != toks64:
        raise SystemExit(f"{name}: float32 and float64 greedy tokens differ; pick another seed")
    logits64.astype("<f8").tofile(os.path.join(path, "logits.f64"))
    with open(os.path.join(path, "reference.json"), "w") as f:
        json.dump({"prompt_ids": PROMPT, "greedy_ids": toks64, "greedy_ids_f32": toks32,
                   "vocab_size": V, "steps": STEPS, "min_margin": margin,
                   "transformers": transformers.__version__, "torch": torch.__version__}, f, indent=1)
    size = sum(os.path.getsize(os.path.join(path, x)) for x in os.listdir(path))
    print(f"{name}: {size // 1024} KB, min margin {margin:.4g}, tokens {toks64[:8]}...")


def main():
    torch.manual_seed(0)
    common = dict(vocab_size=V, num_hidden_layers=2, max_position_embeddings=128,
                  bos_token_id=1, eos_token_id=2, attn_implementation="eager")
    make("llama-gqa2-f32", LlamaForCausalLM(LlamaConfig(
        hidden_size=64, intermediate_size=32, num_attention_heads=4, num_key_value_heads=2,
        tie_word_embeddings=True, rms_norm_eps=1e-6, **common)), torch.float32, 1, v4=True)
    make("llama3-mha-bf16", LlamaForCausalLM(LlamaConfig(
        hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=4,
        tie_word_embeddings=False, attention_bias=True, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 64}, **common)), torch.bfloat16, 2)
    make("llama-mqa-f16", LlamaForCausalLM(LlamaConfig(
        hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=1,
        tie_word_embeddings=False, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0},
        **{**common, "eos_token_id": [2, 3]})), torch.float16, 3, v4=True, old_type_key=True,
        gen_eos=[2, 3, 4])
    make("mistral-gqa5-shard", MistralForCausalLM(MistralConfig(
        hidden_size=80, intermediate_size=96, num_attention_heads=10, num_key_value_heads=2,
        tie_word_embeddings=False, sliding_window=None, rope_theta=10000.0, **common)),
        torch.bfloat16, 4, shard="60KB")
    make("qwen2-bias", Qwen2ForCausalLM(Qwen2Config(
        hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2,
        tie_word_embeddings=True, use_sliding_window=False, sliding_window=4096,
        rope_theta=1000000.0, rms_norm_eps=1e-6, **common)), torch.bfloat16, 5, v4=True)
    make("qwen3-headdim", Qwen3ForCausalLM(Qwen3Config(
        hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2,
        head_dim=32, tie_word_embeddings=True, use_sliding_window=False, rope_theta=1000000.0,
        rms_norm_eps=1e-6, **common)), torch.bfloat16, 6)


if __name__ == "__main__":
    main()
