#!/usr/bin/env python3
"""The default model (models/shakespeare-char) with its weights quantized to each GGUF block format
and dequantized back, as model folders `kvdecode eval` reads (issue 20: the eval loss of the
default model in each quantization, docs/BENCHMARKS.md).

Why folders and not GGUF files: `kvdecode convert --to gguf` refuses the char model (llama.cpp has
no char tokenizer, and architecture gpt2 has no ReLU nor an LM-head bias), so the quantized model
cannot travel as a GGUF. The loss depends only on the dequantized weights, and the CPU's
kept-quantized kernels for Q4_0, Q4_K and Q6_K give exactly the fp32 matmul over them
(GgmlMatmul, GgufKeptQuantizedTest); Q8_0's int8 kernel differs from it by fp32 rounding only.

Every 2-D tensor is quantized as the GGUF fixtures do it ("every 2-D tensor in that type"): the
four linear layers of each block (as GGUF stores them, (out, in) rows of `in` weights, so the
blocks run along the input dimension), wte, wpe and lm_head (rows of C). Norms and biases stay
F32. Every `in` is 256 or 1024, so the K-quants (256-weight super-blocks) apply to all of them.
Q8_0 and Q4_0 by gguf.quants.quantize; gguf 0.19 has no K-quant quantizer, so Q4_K and Q6_K use
the fixture script's plain max-abs packers (scripts/bench/make_gpt2_gguf.py), cruder than
llama.cpp's (which searches each sub-block's scale and min): their losses are upper bounds for
what llama-quantize would give. Dequantization by gguf.quants.dequantize.

    /work/pyref/bin/python scripts/bench/quantize_char_model.py OUT_DIR [q8_0,q4_0,q6_k,q4_k]
Writes OUT_DIR/shakespeare-char-<type>/ (config.json, chars.json, model.safetensors; 13 MB each).
"""
import json
import os
import shutil
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_gpt2_gguf as mg  # noqa: E402

MODEL = os.path.join(HERE, "..", "..", "models", "shakespeare-char")
TYPES = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_k": Q.Q4_K, "q6_k": Q.Q6_K}


def roundtrip(rows, qtype):
    """rows (n, k) float32, blocks along k -> the dequantized values and the quantized bytes."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    if qtype == Q.Q4_K:
        q = mg.pack_q4_k(rows)
    elif qtype == Q.Q6_K:
        q = mg.pack_q6_k(rows)
    else:
        q = gguf.quants.quantize(rows, qtype)
    return gguf.quants.dequantize(q, qtype).reshape(rows.shape).astype(np.float32), q.nbytes


def main():
    out_dir = sys.argv[1]
    kinds = sys.argv[2].split(",") if len(sys.argv) > 2 else list(TYPES)
    mg.self_check()
    w = load_file(os.path.join(MODEL, "model.safetensors"))
    for k in kinds:
        qt = TYPES[k]
        out = {}
        qbytes = fbytes = 0
        for name, a in w.items():
            if a.ndim != 2:
                out[name] = a
                continue
            linear = name.startswith("h.")   # Conv1D (in, out): GGUF rows are its columns
            rows = a.T if linear else a
            deq, nb = roundtrip(rows, qt)
            out[name] = np.ascontiguousarray(deq.T if linear else deq)
            qbytes += nb
            fbytes += a.nbytes
            err = np.abs(deq - rows).max() / np.abs(rows).max()
            print(f"{k} {name} {a.shape}: max |err| / max |w| = {err:.3g}")
        d = os.path.join(out_dir, f"shakespeare-char-{k}")
        os.makedirs(d, exist_ok=True)
        for f in ("config.json", "chars.json"):
            shutil.copy(os.path.join(MODEL, f), d)
        save_file(out, os.path.join(d, "model.safetensors"))
        print(f"{d}: 2-D tensors {qbytes} bytes as {k} ({qbytes / fbytes:.4f} of F32)")


if __name__ == "__main__":
    main()
