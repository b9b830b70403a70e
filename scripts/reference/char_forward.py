#!/usr/bin/env python3
"""Independent numpy forward pass for the kvdecode char-level GPT export format.

Reads models/<name>/{model.safetensors,config.json,chars.json} (format: docs/MODEL_FORMAT.md)
and computes logits in float32 with plain numpy, one attention head at a time, written from
the math rather than from the training code, so it can check both the training script's JAX
forward and the exported tensors' names, layouts and q|k|v column order.

Math sources: LayerNorm (Ba et al. 2016), scaled dot-product attention with causal mask
(Vaswani et al. 2017, eq. 1), pre-LN residual blocks (Xiong et al. 2020 / GPT-2).

Also defines the held-out loss the runtime's `kvdecode eval` recomputes:
  tokens t_0..t_{N-1}, context P = n_positions. Window i feeds t[i*P : i*P+P] (fewer at the
  end) and scores the predictions of t[i*P+1 : i*P+P+1]; consecutive windows overlap by one
  token; a final partial window is scored if it holds >= 2 tokens. Every token except t_0 is
  predicted exactly once; the loss is the mean cross-entropy (natural log) over those N-1
  predictions. No cache, no state carried between windows.

Usage: char_forward.py MODEL_DIR TEXT_FILE   -> prints the mean loss over TEXT_FILE
"""
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


class CharGpt:
    def __init__(self, model_dir):
        model_dir = Path(model_dir)
        self.cfg = json.loads((model_dir / "config.json").read_text())
        self.chars = json.loads((model_dir / "chars.json").read_text(encoding="utf-8"))
        # Upcast whatever is stored (F16 or F32) to float32: all arithmetic is fp32.
        self.w = {k: v.astype(np.float32) for k, v in load_file(str(model_dir / "model.safetensors")).items()}
        for name in ("wte", "wpe"):   # MODEL_FORMAT.md allows the bare spelling; prefer .weight
            if name + ".weight" in self.w:
                self.w[name] = self.w.pop(name + ".weight")
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        c = self.cfg
        self.L, self.H, self.C, self.P = c["n_layer"], c["n_head"], c["n_embd"], c["n_positions"]
        self.HS = self.C // self.H
        self.eps = c["layer_norm_epsilon"]

    def encode(self, text):
        return np.array([self.stoi[ch] for ch in text], dtype=np.int64)

    def _layer_norm(self, x, g, b):
        # Ba et al. 2016: normalise over the channel axis with the biased variance.
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * g + b

    def logits(self, ids):
        """ids (B,T) int, T <= P -> logits (B,T,V) float32."""
        w, C, HS = self.w, self.C, self.HS
        ids = np.asarray(ids)
        B, T = ids.shape
        assert T <= self.P
        x = w["wte"][ids] + w["wpe"][:T][None]                           # (B,T,C)
        causal = np.tril(np.ones((T, T), dtype=bool))
        for n in range(self.L):
            p = f"h.{n}."
            h = self._layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
            qkv = h @ w[p + "attn.c_attn.weight"]                        # (B,T,3C), no bias
            heads = []
            for hd in range(self.H):
                cols = slice(hd * HS, (hd + 1) * HS)
                q = qkv[..., 0 * C:1 * C][..., cols]                     # (B,T,HS)
                k = qkv[..., 1 * C:2 * C][..., cols]
                v = qkv[..., 2 * C:3 * C][..., cols]
                s = q @ k.transpose(0, 2, 1) / np.sqrt(np.float32(HS))   # (B,T,T)
                s = np.where(causal, s, -np.inf)
                s = s - s.max(-1, keepdims=True)                         # max-shift for exp
                a = np.exp(s)
                a = a / a.sum(-1, keepdims=True)
                heads.append(a @ v)                                      # (B,T,HS)
            y = np.concatenate(heads, axis=-1)                           # (B,T,C)
            x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            h = self._layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
            f = np.maximum(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"], 0.0)
            x = x + f @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = self._layer_norm(x, w["ln_f.weight"], w["ln_f.bias"])
        return (x @ w["lm_head.weight"].T + w["lm_head.bias"]).astype(np.float32)

    @staticmethod
    def _nll(logits, targets):
        m = logits.max(-1, keepdims=True)
        lse = np.log(np.exp(logits - m).sum(-1)) + m[..., 0]
        picked = np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
        return (lse - picked).astype(np.float64)

    def eval_loss(self, ids, batch=16):
        """Mean NLL per predicted token over non-overlapping windows (see module doc)."""
        ids = np.asarray(ids)
        N, P = len(ids), self.P
        total, count = 0.0, 0
        full = (N - 1) // P                     # windows with exactly P predictions
        for s in range(0, full, batch):
            starts = np.arange(s, min(s + batch, full)) * P
            x = np.stack([ids[a:a + P] for a in starts])
            y = np.stack([ids[a + 1:a + P + 1] for a in starts])
            total += self._nll(self.logits(x), y).sum()
            count += y.size
        a = full * P
        if N - a >= 2:                          # final partial window
            x, y = ids[a:N - 1][None], ids[a + 1:N][None]
            total += self._nll(self.logits(x), y).sum()
            count += y.size
        assert count == N - 1
        return total / count, count


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: char_forward.py MODEL_DIR TEXT_FILE")
    m = CharGpt(sys.argv[1])
    text = Path(sys.argv[2]).read_text(encoding="utf-8")
    loss, n = m.eval_loss(m.encode(text))
    print(f"{sys.argv[2]}: mean loss {loss:.6f} nats/token over {n} predictions (P={m.P})")


if __name__ == "__main__":
    main()
