#!/usr/bin/env python3
"""Train, evaluate and export the kvdecode default model: a char-level GPT on Tiny Shakespeare.

The architecture is the KV-cache tutorial's (see /work/shared/TUTORIAL.md, docs/MODEL_FORMAT.md):
token + learned absolute position embeddings; L pre-LN blocks x += MHA(LN1(x)); x += FFN(LN2(x));
MHA with bias-free per-head q/k/v, scale 1/sqrt(HS), causal mask, output projection with bias;
FFN Linear(C,4C)+b, ReLU, Linear(4C,C)+b; final LayerNorm (eps 1e-5); untied Linear(C,V)+b head.

Parameters are kept under their exported GPT-2 names and in Conv1D [in,out] layout from the start,
so export is a plain dump. The per-head q/k/v projections are stored fused as c_attn.weight
[C,3C] = [Wq | Wk | Wv] with head h in columns h*HS..(h+1)*HS of each block: multiplying by it
and slicing is exactly the per-head Linear(C,HS, bias=False) of the tutorial.

Subcommands:
  bench   time a few jitted train steps for a given shape (to pick the largest shape that fits)
  train   train with AdamW + warmup/cosine, periodic train/val loss, periodic checkpoints
  export  write models/<name>/{model.safetensors,config.json,chars.json,heldout-sample.txt},
          check the numpy reference forward against JAX, and compute the held-out losses
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2")

import numpy as np
import jax
import jax.numpy as jnp
import optax

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/data/tinyshakespeare.txt")
EPS = 1e-5


# ----------------------------------------------------------------------------------------- data
def load_data(path):
    text = Path(path).read_text(encoding="utf-8")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], dtype=np.int32)
    n_train = int(0.9 * len(ids))          # first 90% train, last 10% validation
    return text, chars, ids[:n_train], ids[n_train:], n_train


# ---------------------------------------------------------------------------------------- model
def init_params(key, V, P, C, L):
    """Normal(0, 0.02) weights, zero biases, unit LayerNorm gains; residual-branch output
    projections scaled by 1/sqrt(2L) (GPT-2 paper, sec. 2.3) so the residual stream's variance
    does not grow with depth."""
    keys = iter(jax.random.split(key, 4 + 4 * L))
    std, rstd = 0.02, 0.02 / math.sqrt(2 * L)
    nrm = lambda shape, s: s * jax.random.normal(next(keys), shape, jnp.float32)
    p = {"wte": nrm((V, C), std), "wpe": nrm((P, C), std)}
    for n in range(L):
        h = f"h.{n}."
        p[h + "ln_1.weight"], p[h + "ln_1.bias"] = jnp.ones(C), jnp.zeros(C)
        p[h + "attn.c_attn.weight"] = nrm((C, 3 * C), std)
        p[h + "attn.c_proj.weight"], p[h + "attn.c_proj.bias"] = nrm((C, C), rstd), jnp.zeros(C)
        p[h + "ln_2.weight"], p[h + "ln_2.bias"] = jnp.ones(C), jnp.zeros(C)
        p[h + "mlp.c_fc.weight"], p[h + "mlp.c_fc.bias"] = nrm((C, 4 * C), std), jnp.zeros(4 * C)
        p[h + "mlp.c_proj.weight"], p[h + "mlp.c_proj.bias"] = nrm((4 * C, C), rstd), jnp.zeros(C)
    p["ln_f.weight"], p["ln_f.bias"] = jnp.ones(C), jnp.zeros(C)
    p["lm_head.weight"], p["lm_head.bias"] = nrm((V, C), std), jnp.zeros(V)
    return p


def layer_norm(x, g, b):
    mu = jnp.mean(x, -1, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), -1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + EPS) * g + b


def forward(p, idx, n_layer, n_head):
    """idx (B,T) int32 -> logits (B,T,V) f32."""
    B, T = idx.shape
    C = p["wte"].shape[1]
    HS = C // n_head
    x = p["wte"][idx] + p["wpe"][:T]                                      # (B,T,C)
    mask = jnp.tril(jnp.ones((T, T), bool))
    for n in range(n_layer):
        h = f"h.{n}."
        a = layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"])
        q, k, v = jnp.split(a @ p[h + "attn.c_attn.weight"], 3, axis=-1)  # 3 x (B,T,C)
        q, k, v = (t.reshape(B, T, n_head, HS).transpose(0, 2, 1, 3) for t in (q, k, v))
        s = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(HS))          # (B,NH,T,T)
        s = jnp.where(mask, s, -jnp.inf)
        y = jax.nn.softmax(s, axis=-1) @ v                                 # (B,NH,T,HS)
        y = y.transpose(0, 2, 1, 3).reshape(B, T, C)
        x = x + y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]
        a = layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"])
        f = jax.nn.relu(a @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        x = x + f @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])
    return x @ p["lm_head.weight"].T + p["lm_head.bias"]


def nll(logits, targets):
    """Per-token cross-entropy (natural log), f32."""
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)


def make_fns(n_layer, n_head, opt):
    def loss_fn(p, x, y):
        return jnp.mean(nll(forward(p, x, n_layer, n_head), y))

    @jax.jit
    def train_step(p, s, x, y, lr):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        s = (s[0], s[1]._replace(hyperparams={**s[1].hyperparams, "learning_rate": lr}))
        upd, s = opt.update(g, s, p)
        return optax.apply_updates(p, upd), s, loss

    @jax.jit
    def sum_nll(p, x, y):
        return jnp.sum(nll(forward(p, x, n_layer, n_head), y))

    logits_fn = jax.jit(lambda p, x: forward(p, x, n_layer, n_head))
    return train_step, sum_nll, logits_fn


def lr_at(step, progress, lr, warmup, min_lr_frac=0.1):
    """Linear warmup over `warmup` steps, then cosine decay to min_lr_frac*lr as `progress`
    goes 0 -> 1. progress = max(step/steps, elapsed/time_budget): on an idle machine this is
    the usual step-based cosine; on a loaded shared machine the decay still completes within
    the wall-time budget instead of being cut off at a high learning rate."""
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * (min_lr_frac + (1 - min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def make_opt(wd):
    # Decay matrices (and embeddings) only; never biases or LayerNorm gains.
    decay_mask = lambda p: {k: v.ndim >= 2 for k, v in p.items()}
    adamw = optax.inject_hyperparams(optax.adamw, static_args=("mask",))(learning_rate=0.0, b1=0.9, b2=0.99,
                                                  weight_decay=wd, mask=decay_mask)
    return optax.chain(optax.clip_by_global_norm(1.0), adamw)


def batch(ids, rng, B, T):
    starts = rng.integers(0, len(ids) - T - 1, size=B)
    x = np.stack([ids[s:s + T] for s in starts])
    y = np.stack([ids[s + 1:s + T + 1] for s in starts])
    return jnp.asarray(x), jnp.asarray(y)


def window_loss(sum_nll, p, ids, P, batch_size=32):
    """Mean NLL over the non-overlapping-window scheme of `kvdecode eval` (see
    scripts/reference/char_forward.py): every token but the first predicted once."""
    N = len(ids)
    full = (N - 1) // P
    total, count = 0.0, 0
    for s in range(0, full, batch_size):
        st = np.arange(s, min(s + batch_size, full)) * P
        x = np.stack([ids[a:a + P] for a in st]); y = np.stack([ids[a + 1:a + P + 1] for a in st])
        total += float(sum_nll(p, jnp.asarray(x), jnp.asarray(y))); count += y.size
    a = full * P
    if N - a >= 2:
        x, y = ids[a:N - 1][None], ids[a + 1:N][None]
        total += float(sum_nll(p, jnp.asarray(x), jnp.asarray(y))); count += y.size
    assert count == N - 1
    return total / count


def fixed_windows(ids, n, T, seed):
    st = np.random.default_rng(seed).integers(0, len(ids) - T - 1, size=n)
    return (jnp.asarray(np.stack([ids[s:s + T] for s in st])),
            jnp.asarray(np.stack([ids[s + 1:s + T + 1] for s in st])))


def fixed_loss(sum_nll, p, xy, chunk=32):
    x, y = xy
    tot = sum(float(sum_nll(p, x[i:i + chunk], y[i:i + chunk])) for i in range(0, x.shape[0], chunk))
    return tot / y.size


# --------------------------------------------------------------------------------- checkpoints
def save_ckpt(path, p, opt_state, step, meta):
    leaves = jax.tree_util.tree_leaves(opt_state)
    arrs = {f"param/{k}": np.asarray(v) for k, v in p.items()}
    arrs.update({f"opt/{i:04d}": np.asarray(v) for i, v in enumerate(leaves)})
    tmp = str(path) + ".tmp.npz"
    np.savez(tmp, step=np.int64(step), meta=json.dumps(meta), **arrs)
    os.replace(tmp, path)


def load_ckpt(path):
    z = np.load(path)
    p = {k[len("param/"):]: jnp.asarray(z[k]) for k in z.files if k.startswith("param/")}
    opt_leaves = [jnp.asarray(z[k]) for k in sorted(k for k in z.files if k.startswith("opt/"))]
    return p, opt_leaves, int(z["step"]), json.loads(str(z["meta"]))


# ----------------------------------------------------------------------------------- commands
def cmd_bench(a):
    _, chars, tr, _, _ = load_data(a.data)
    p = init_params(jax.random.PRNGKey(0), len(chars), a.ctx, a.n_embd, a.n_layer)
    opt = make_opt(0.1)
    s = opt.init(p)
    step, _, _ = make_fns(a.n_layer, a.n_head, opt)
    rng = np.random.default_rng(0)
    t0 = time.time(); x, y = batch(tr, rng, a.batch, a.ctx); p, s, l = step(p, s, x, y, jnp.float32(1e-3)); l.block_until_ready()
    print(f"compile+1st step {time.time() - t0:.1f}s", flush=True)
    ts = []
    for i in range(a.steps):
        x, y = batch(tr, rng, a.batch, a.ctx)
        t0 = time.time(); p, s, l = step(p, s, x, y, jnp.float32(1e-3)); l.block_until_ready(); ts.append(time.time() - t0)
    ts = np.array(ts)
    print(f"B={a.batch} T={a.ctx} C={a.n_embd} L={a.n_layer}: step median {np.median(ts)*1e3:.0f} ms "
          f"min {ts.min()*1e3:.0f} ms; {a.batch*a.ctx/np.median(ts):.0f} tok/s; loss {float(l):.3f}")


def cmd_train(a):
    text, chars, tr, va, n_train = load_data(a.data)
    V = len(chars)
    print(f"data: {len(text)} chars, vocab {V}, train {len(tr)}, val {len(va)}", flush=True)
    out = Path(a.out_dir); out.mkdir(parents=True, exist_ok=True)
    meta = dict(n_layer=a.n_layer, n_head=a.n_head, n_embd=a.n_embd, ctx=a.ctx, batch=a.batch,
                lr=a.lr, warmup=a.warmup, steps=a.steps, wd=a.wd, seed=a.seed, vocab=chars,
                command=" ".join(sys.argv))
    opt = make_opt(a.wd)
    p = init_params(jax.random.PRNGKey(a.seed), V, a.ctx, a.n_embd, a.n_layer)
    s = opt.init(p)
    step0, elapsed0, meta_in = 0, 0.0, {}
    ck = out / "ckpt.npz"
    if a.resume and ck.exists():
        p, leaves, step0, m = load_ckpt(ck)
        s = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(s), leaves)
        elapsed0 = m.get("elapsed_s", 0.0)
        meta_in = m
        print(f"resumed at step {step0}", flush=True)
    nparam = sum(int(np.prod(v.shape)) for v in p.values())
    print(f"params: {nparam}", flush=True)
    train_step, sum_nll, _ = make_fns(a.n_layer, a.n_head, opt)
    # Periodic estimates use fixed windows (seeded) so curves are comparable across steps.
    val_fixed = fixed_windows(va, a.eval_windows, a.ctx, 1)
    tr_fixed = fixed_windows(tr, a.eval_windows, a.ctx, 2)
    t_start = time.time() - elapsed0
    warm_s = meta_in.get("warm_s", 0.0) if a.resume else 0.0
    run_loss = None
    for it in range(step0, a.steps):
        rng = np.random.default_rng([a.seed, it])   # per-step stream: resume is reproducible
        x, y = batch(tr, rng, a.batch, a.ctx)
        el = time.time() - t_start
        prog = max((it - a.warmup) / max(a.steps - a.warmup, 1),
                   (el - warm_s) / (a.time_budget_min * 60 - warm_s) if a.time_budget_min and it >= a.warmup else 0.0)
        lr = lr_at(it, prog, a.lr, a.warmup)
        p, s, l = train_step(p, s, x, y, jnp.float32(lr))
        l = float(l)
        if it + 1 == a.warmup:
            warm_s = time.time() - t_start     # cosine phase spans the rest of the budget
        run_loss = l if run_loss is None else 0.95 * run_loss + 0.05 * l
        done = it + 1
        if done % a.log_every == 0:
            el = time.time() - t_start
            print(f"step {done} loss {l:.4f} (ema {run_loss:.4f}) lr {lr:.2e} prog {prog:.3f} "
                  f"elapsed {el:.0f}s ({(el - elapsed0) / (done - step0):.2f}s/step this run)", flush=True)
        last = done == a.steps or prog >= 1.0
        over = a.time_budget_min and (time.time() - t_start) > a.time_budget_min * 60 + 120
        if done % a.eval_every == 0 or last or over:
            tl, vl = fixed_loss(sum_nll, p, tr_fixed), fixed_loss(sum_nll, p, val_fixed)
            print(f"EVAL step {done}: train {tl:.4f} val {vl:.4f} (fixed {a.eval_windows}x{a.ctx} windows)",
                  flush=True)
        if done % a.ckpt_every == 0 or last or over:
            save_ckpt(ck, p, s, done, dict(meta, elapsed_s=time.time() - t_start, step=done, warm_s=warm_s, lr=lr))
            print(f"checkpoint step {done}", flush=True)
        if over or last:
            print(f"stopping at step {done} (progress {prog:.3f})", flush=True)
            break
    print(f"training done: {time.time() - t_start:.0f}s wall", flush=True)


def cmd_export(a):
    from safetensors.numpy import save_file, load_file
    sys.path.insert(0, str(ROOT / "scripts" / "reference"))
    from char_forward import CharGpt

    text, chars, tr, va, n_train = load_data(a.data)
    p, _, step, meta = load_ckpt(a.ckpt)
    assert meta["vocab"] == chars
    L, NH, C, P = meta["n_layer"], meta["n_head"], meta["n_embd"], meta["ctx"]
    dt = {"f32": np.float32, "f16": np.float16}[a.dtype]
    out = Path(a.model_dir); out.mkdir(parents=True, exist_ok=True)
    # docs/MODEL_FORMAT.md: writers spell the embeddings wte.weight / wpe.weight.
    export_name = lambda k: k + ".weight" if k in ("wte", "wpe") else k
    tensors = {export_name(k): np.ascontiguousarray(np.asarray(v).astype(dt)) for k, v in p.items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    cfg = {"model_type": "kvdecode-char-gpt", "n_layer": L, "n_head": NH, "n_embd": C, "n_positions": P,
           "vocab_size": len(chars), "layer_norm_epsilon": EPS, "activation_function": "relu",
           "qkv_bias": False, "tie_word_embeddings": False, "lm_head_bias": True, "tokenizer": "char"}
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "chars.json").write_text(json.dumps(chars, ensure_ascii=False) + "\n", encoding="utf-8")
    val_text = text[n_train:]
    sample = val_text[:a.sample_chars]
    (out / "heldout-sample.txt").write_text(sample, encoding="utf-8")
    if a.val_file:
        Path(a.val_file).write_text(val_text, encoding="utf-8")

    # The exported weights as the runtime sees them (after any fp16 rounding), in f32.
    pe = {k.removesuffix(".weight") if k in ("wte.weight", "wpe.weight") else k: jnp.asarray(v.astype(np.float32))
          for k, v in load_file(str(out / "model.safetensors")).items()}
    assert set(pe) == set(p), set(pe) ^ set(p)
    _, sum_nll, logits_fn = make_fns(L, NH, make_opt(0.0))

    # 1. Independent numpy forward vs JAX on the same exported weights.
    ref = CharGpt(out)
    assert ref.chars == chars and ref.encode(val_text[:10]).tolist() == va[:10].tolist()
    x = np.stack([va[0:P], va[5000:5000 + P]])
    lj = np.asarray(logits_fn(pe, jnp.asarray(x)))
    ln = ref.logits(x)
    d = float(np.abs(lj - ln).max())
    print(f"numpy reference vs JAX logits (2x{P} tokens): max |diff| {d:.2e}", flush=True)
    assert d < 1e-4, d
    x1 = va[100:103][None]                                 # short input: positions 0..2
    d1 = float(np.abs(np.asarray(logits_fn(pe, jnp.asarray(x1))) - ref.logits(x1)).max())
    print(f"numpy reference vs JAX logits (1x3 tokens): max |diff| {d1:.2e}", flush=True)
    assert d1 < 1e-4, d1

    # 2. Held-out losses by the `kvdecode eval` definition.
    res = {"step": step, "dtype": a.dtype}
    t0 = time.time()
    res["val_loss_jax"] = window_loss(sum_nll, pe, va, P)
    print(f"VAL (whole last 10%, {len(va)} chars, {len(va) - 1} predictions, windows of {P}): "
          f"{res['val_loss_jax']:.6f} [jax, {time.time() - t0:.0f}s]", flush=True)
    if a.dtype == "f16":
        p32 = {k: jnp.asarray(v) for k, v in p.items()}
        res["val_loss_jax_f32_weights"] = window_loss(sum_nll, p32, va, P)
        print(f"VAL with un-rounded f32 weights: {res['val_loss_jax_f32_weights']:.6f}", flush=True)
    res["train_loss_jax_first_111540"] = window_loss(sum_nll, pe, tr[:len(va)], P)
    print(f"TRAIN (first {len(va)} chars of train split, same scheme): "
          f"{res['train_loss_jax_first_111540']:.6f}", flush=True)
    sample_ids = va[:len(sample)]
    res["sample_loss_jax"] = window_loss(sum_nll, pe, sample_ids, P)
    t0 = time.time()
    res["sample_loss_numpy"], _ = ref.eval_loss(ref.encode(sample))
    print(f"SAMPLE heldout-sample.txt ({len(sample)} chars): jax {res['sample_loss_jax']:.6f} "
          f"numpy {res['sample_loss_numpy']:.6f} [{time.time() - t0:.0f}s]", flush=True)
    if a.numpy_full:
        t0 = time.time()
        res["val_loss_numpy"], _ = ref.eval_loss(va)
        print(f"VAL numpy reference: {res['val_loss_numpy']:.6f} [{time.time() - t0:.0f}s]", flush=True)
    (Path(a.ckpt).parent / "export-result.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("bench", "train"):
        sp = sub.add_parser(name)
        sp.add_argument("--n-layer", type=int, default=4)
        sp.add_argument("--n-head", type=int, default=4)
        sp.add_argument("--n-embd", type=int, default=256)
        sp.add_argument("--ctx", type=int, default=128)
        sp.add_argument("--batch", type=int, default=32)
        sp.add_argument("--steps", type=int, default=10)
    t = sub.choices["train"]
    t.add_argument("--out-dir", default="runs/char")
    t.add_argument("--lr", type=float, default=1.5e-3)
    t.add_argument("--warmup", type=int, default=100)
    t.add_argument("--wd", type=float, default=0.1)
    t.add_argument("--seed", type=int, default=1337)
    t.add_argument("--log-every", type=int, default=20)
    t.add_argument("--eval-every", type=int, default=200)
    t.add_argument("--ckpt-every", type=int, default=100)
    t.add_argument("--eval-windows", type=int, default=64)
    t.add_argument("--time-budget-min", type=float, default=0)
    t.add_argument("--resume", action="store_true")
    e = sub.add_parser("export")
    e.add_argument("--ckpt", default="runs/char/ckpt.npz")
    e.add_argument("--model-dir", default=str(ROOT / "models" / "shakespeare-char"))
    e.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    e.add_argument("--sample-chars", type=int, default=20000)
    e.add_argument("--val-file", default="")
    e.add_argument("--numpy-full", action="store_true")
    a = ap.parse_args()
    {"bench": cmd_bench, "train": cmd_train, "export": cmd_export}[a.cmd](a)


if __name__ == "__main__":
    main()
