#!/usr/bin/env python3
"""PyTorch peers for `kvdecode bench`: the same shapes, random weights, same token counts.

(a) tutorial: a plain PyTorch re-implementation of the KV-cache tutorial's char-level GPT
    (L=4, C=256, NH=4, context 1024, V=65, ReLU MLP, per-head q/k/v without bias, untied head),
    generating N tokens one at a time from a single start token, with its cache (fixed: the
    query attends only to written slots, positions advance, shift on overflow) and without
    (recompute the last <= 1024 tokens every step).
(b) hf: Hugging Face GPT2LMHeadModel (gpt2 124M shape, random weights) generate() of N new
    tokens after a 16-token prompt, greedy, use_cache=True and use_cache=False.
(c) hf-static: the same with a static cache and torch.compile, where it works.

Written from the math for kvdecode (not the tutorial's code). Versions it was run with are
printed in the output. Usage (the GPU machine has torch + transformers, offline):

    python3 scripts/peers/torch_peers.py --device cuda --steps 100,500,1000,5000,10000 --json peers.json
    python3 scripts/peers/torch_peers.py --device cpu --threads 2 --steps 100,500,1000 --experiments tutorial
"""
import argparse
import json
import math
import platform
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Head(nn.Module):
    def __init__(self, c, hs, ctx):
        super().__init__()
        self.key = nn.Linear(c, hs, bias=False)
        self.query = nn.Linear(c, hs, bias=False)
        self.value = nn.Linear(c, hs, bias=False)
        self.ctx, self.hs = ctx, hs
        self.register_buffer("tril", torch.tril(torch.ones(ctx, ctx, dtype=torch.bool)), persistent=False)
        self.k_cache = self.v_cache = None
        self.n = 0

    def reset(self, b, device, dtype):
        self.k_cache = torch.zeros(b, self.ctx, self.hs, device=device, dtype=dtype)
        self.v_cache = torch.zeros(b, self.ctx, self.hs, device=device, dtype=dtype)
        self.n = 0

    def forward(self, x, use_cache):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scale = 1.0 / math.sqrt(self.hs)
        if not use_cache:
            t = x.shape[1]
            w = (q @ k.transpose(-2, -1)) * scale
            w = w.masked_fill(~self.tril[:t, :t], float("-inf"))
            return F.softmax(w, dim=-1) @ v
        # one new token: append at n, or shift left by one when full (the tutorial's overflow)
        if self.n == self.ctx:
            self.k_cache[:, :-1] = self.k_cache[:, 1:].clone()
            self.v_cache[:, :-1] = self.v_cache[:, 1:].clone()
            self.n -= 1
        self.k_cache[:, self.n] = k[:, 0]
        self.v_cache[:, self.n] = v[:, 0]
        self.n += 1
        kk, vv = self.k_cache[:, : self.n], self.v_cache[:, : self.n]  # only written slots
        w = F.softmax((q @ kk.transpose(-2, -1)) * scale, dim=-1)
        return w @ vv


class Block(nn.Module):
    def __init__(self, c, nh, ctx):
        super().__init__()
        self.heads = nn.ModuleList([Head(c, c // nh, ctx) for _ in range(nh)])
        self.proj = nn.Linear(c, c)
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.ff = nn.Sequential(nn.Linear(c, 4 * c), nn.ReLU(), nn.Linear(4 * c, c))

    def forward(self, x, use_cache):
        h = self.ln1(x)
        x = x + self.proj(torch.cat([hd(h, use_cache) for hd in self.heads], dim=-1))
        return x + self.ff(self.ln2(x))


class TutorialGPT(nn.Module):
    def __init__(self, v=65, c=256, nh=4, layers=4, ctx=1024):
        super().__init__()
        self.ctx = ctx
        self.tok = nn.Embedding(v, c)
        self.pos = nn.Embedding(ctx, c)
        self.blocks = nn.ModuleList([Block(c, nh, ctx) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(c)
        self.head = nn.Linear(c, v)

    def forward(self, idx, use_cache, pos0=0):
        t = idx.shape[1]
        pos = torch.arange(pos0, pos0 + t, device=idx.device).clamp(max=self.ctx - 1)
        x = self.tok(idx) + self.pos(pos)
        for b in self.blocks:
            x = b(x, use_cache)
        return self.head(self.ln_f(x))

    @torch.no_grad()
    def generate(self, n, use_cache, device):
        idx = torch.zeros(1, 1, dtype=torch.long, device=device)
        if use_cache:
            for b in self.blocks:
                for h in b.heads:
                    h.reset(1, device, next(self.parameters()).dtype)
        out = [idx]
        cur = idx
        for t in range(n):
            if use_cache:
                logits = self(cur, True, pos0=t)
            else:
                window = torch.cat(out, dim=1)[:, -self.ctx:]
                logits = self(window, False)
            cur = logits[:, -1].argmax(-1, keepdim=True)
            out.append(cur)
        return torch.cat(out, dim=1)


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_it(fn, device):
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def run_tutorial(args, results):
    torch.manual_seed(0)
    model = TutorialGPT().to(args.device).eval()
    model.generate(20, True, args.device)  # warm-up
    model.generate(20, False, args.device)
    for n in args.steps:
        for cached in (False, True):
            if not cached and n > args.max_recompute_steps:
                continue
            secs = time_it(lambda: model.generate(n, cached, args.device), args.device)
            results.append(dict(experiment="tutorial", mode="cached" if cached else "recompute", steps=n,
                                seconds=secs, tokens_per_s=n / secs))
            report(results[-1])


def hf_model(args):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    cfg = GPT2Config()  # gpt2 124M: L=12, C=768, NH=12, V=50257, n_positions=1024
    model = GPT2LMHeadModel(cfg).to(args.device).eval()
    if args.hf_dtype == "fp16":
        model = model.half()
    return model


def run_hf(args, results, static):
    model = hf_model(args)
    prompt = torch.randint(0, 50257, (1, 16), generator=torch.Generator().manual_seed(1)).to(args.device)
    kwargs = dict(do_sample=False, pad_token_id=0)
    label = "hf"
    if static:
        label = "hf-static-compile"
        model.generation_config.cache_implementation = "static"
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
    with torch.no_grad():
        model.generate(prompt, max_new_tokens=8, min_new_tokens=8, use_cache=True, **kwargs)  # warm-up / compile
        for n in args.hf_steps:
            modes = (True,) if static else (True, False)
            for use_cache in modes:
                if not use_cache and n > args.max_recompute_steps:
                    continue
                secs = time_it(lambda: model.generate(prompt, max_new_tokens=n, min_new_tokens=n,
                                                      use_cache=use_cache, **kwargs), args.device)
                results.append(dict(experiment=label, mode="cached" if use_cache else "recompute", steps=n,
                                    seconds=secs, tokens_per_s=n / secs, dtype=args.hf_dtype))
                report(results[-1])


def report(r):
    print(f"{r['experiment']:>18} {r['mode']:>9} {r['steps']:>6} tokens {r['seconds']:9.3f} s {r['tokens_per_s']:10.1f} tok/s",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", default="100,500,1000,5000,10000")
    ap.add_argument("--hf-steps", default="1000")
    ap.add_argument("--hf-dtype", default="fp32", choices=["fp32", "fp16"])
    ap.add_argument("--experiments", default="tutorial,hf,hf-static")
    ap.add_argument("--max-recompute-steps", type=int, default=10**9)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", help="write all results to this file")
    args = ap.parse_args()
    args.steps = [int(s) for s in args.steps.split(",")]
    args.hf_steps = [int(s) for s in args.hf_steps.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    env = dict(torch=torch.__version__, python=platform.python_version(), device=args.device,
               threads=torch.get_num_threads(),
               gpu=torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor())
    try:
        import transformers
        env["transformers"] = transformers.__version__
    except ImportError:
        pass
    print("env:", json.dumps(env), flush=True)
    for e in args.experiments.split(","):
        try:
            if e == "tutorial":
                run_tutorial(args, results)
            elif e == "hf":
                run_hf(args, results, static=False)
            elif e == "hf-static":
                run_hf(args, results, static=True)
            else:
                sys.exit(f"--experiments: unknown experiment '{e}'")
        except Exception as ex:  # a peer that does not run here is reported, not fatal
            print(f"{e}: did not run: {type(ex).__name__}: {ex}", flush=True)
            results.append(dict(experiment=e, error=f"{type(ex).__name__}: {ex}"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(env=env, results=results), f, indent=1)


if __name__ == "__main__":
    main()
