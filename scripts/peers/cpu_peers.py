#!/usr/bin/env python3
"""CPU peers for kvdecode (issue 9): one GPT-2 124M-shaped checkpoint of random weights, decoded
greedily on the same cores and thread count by

  ours      ./kvdecode generate --backend cpu --dtype fp32|fp16|bf16|int8 --json
  hf        Hugging Face transformers GPT2LMHeadModel.generate(use_cache=True) on torch CPU
  llamacpp  llama.cpp through npm node-llama-cpp@3.21.1 (its prebuilt CPU build), on GGUF
            files of the same weights written here with the `gguf` package (F32, F16, Q8_0)
  jlama     Jlama 0.8.4 (Maven Central com.github.tjake:jlama-core, its Vector API ops, no
            jlama-native) through scripts/peers/jlama/JlamaPeer.java, fp32, on a copy of the
            checkpoint with the names and config keys Jlama reads (see make_jlama_checkpoint);
            built with Maven on first use; reported as unavailable (with the reason) when it
            cannot be built or run

Each peer times a 16-token prompt then N new tokens; decode tokens/s excludes the prefill.
Before every timing the script samples /proc/stat for 1 s and waits (up to --max-waits times)
until the other processes use less than --max-busy of the machine; during each timing it
records how busy the machine was apart from the timed process, and repeats a timing that was
disturbed (other load above --max-busy), keeping the best undisturbed run (or the best run,
flagged, when none was undisturbed). On 2 shared cores any parallel job halves a figure.

Both JVM peers (ours, jlama) start cold for each timing: no warm-up run in either. kvdecode's
`generate` warms its CPU kernels up inside its own process while it loads the checkpoint (on a
small model of random weights of its own, Backend.warmUp), which is part of its load, not of its
prefill or decode figures; every peer's whole process wall time (start-up, load, prefill, decode)
is recorded beside its figures as process_wall_s.

Before and after the timings the script measures the read bandwidth (torch, best of 8 x.sum()
over 1 GiB with the same thread count), and reports our fp32 bytes per token against it.
--markdown FILE writes the run (command, machine, date, table, bandwidth) into FILE between the
markers <!-- cpu-peers:begin --> and <!-- cpu-peers:end -->, replacing the previous run's.

Usage (node-llama-cpp installed with `npm install node-llama-cpp@3.21.1` in --npm-dir; jlama
needs `mvn` and a JDK >= 21, found through JAVA_HOME or /usr/lib/jvm):
    python3 scripts/peers/cpu_peers.py --threads 2 --new-tokens 128 --npm-dir /tmp/npm --json peers.json --markdown docs/BENCHMARKS.md
    python3 scripts/peers/cpu_peers.py --peers jlama --new-tokens 8 --reps 1     # smoke test one peer
Pinned: torch 2.13 (cpu), transformers 5.18, gguf (pip, local index), node-llama-cpp 3.21.1,
jlama-core 0.8.4.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "The quick brown fox jumps over the lazy dog while the cat sleeps in the warm"


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v), idle


def busy_fraction(seconds=1.0):
    t0, i0 = cpu_times()
    time.sleep(seconds)
    t1, i1 = cpu_times()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def wait_idle(max_busy, max_waits):
    for _ in range(max_waits):
        b = busy_fraction()
        if b <= max_busy:
            return b
        time.sleep(2)
    return b


def timed(cmd, env=None, cwd=None):
    """Runs cmd; returns (stdout, other-load fraction of the machine during the run, wall seconds of the process)."""
    t0, i0 = cpu_times()
    r0 = os.times()
    w0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - w0
    r1 = os.times()
    t1, i1 = cpu_times()
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    ticks = os.sysconf("SC_CLK_TCK")
    child = ((r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)) * ticks
    ncpu = os.cpu_count()
    # /proc/stat counts ticks summed over cpus: other = busy - ours
    busy_ticks = (t1 - t0) - (i1 - i0)
    other = max(0.0, (busy_ticks - child) / max(1, (t1 - t0)))
    return p.stdout, other, wall


BW_SCRIPT = r"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
x = torch.ones(256 * 1024 * 1024)  # 1 GiB of fp32
best = min((lambda t0: (x.sum(), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(8))
print(x.numel() * 4 / best / 1e9)
"""


def read_bandwidth(threads):
    """Read bandwidth in GB/s: best of 8 torch x.sum() over 1 GiB of fp32 with `threads` threads, in a child process."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    p = subprocess.run([sys.executable, "-c", BW_SCRIPT, str(threads)], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"bandwidth probe failed: {p.stderr[-500:]}")
    return float(p.stdout.strip().splitlines()[-1])


def weight_bytes(ckpt: Path):
    """Bytes of every fp32 parameter of the checkpoint (what an fp32 decode step reads, the tied head once)."""
    from safetensors import safe_open
    n = 0
    with safe_open(str(ckpt / "model.safetensors"), framework="np") as f:
        for k in f.keys():
            if k.endswith("lm_head.weight") or k.endswith(".attn.bias") or k.endswith(".attn.masked_bias"):
                continue  # the tied head is wte; the causal-mask buffers are not weights
            n += 4 * int(np.prod(f.get_slice(k).get_shape()))
    return n


MD_BEGIN, MD_END = "<!-- cpu-peers:begin -->", "<!-- cpu-peers:end -->"


def md_markers(shape: str):
    """The GPT-2 table keeps its markers; each other shape has its own section."""
    if shape == "gpt2-124m":
        return MD_BEGIN, MD_END
    return f"<!-- cpu-peers-{shape}:begin -->", f"<!-- cpu-peers-{shape}:end -->"


def markdown(results, unavailable, a, ids, bw, wbytes, when):
    """The run as a Markdown section: command, machine, date, table, and our fp32 against the read bandwidth."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cmd = "python3 scripts/peers/cpu_peers.py " + " ".join(sys.argv[1:])
    begin, end = md_markers(a.shape)
    out = [begin, "",
           f"### Latest `cpu_peers.py` run, {SHAPE_TITLES[a.shape]} ({when}, written by the script)", "",
           f"    {cmd}", "",
           f"Machine: {cpu}, {os.cpu_count()} cpus, {mem:.0f} GiB; {a.threads} threads for every peer. {SHAPE_TITLES[a.shape]}, "
           f"random weights, batch 1, greedy, {len(ids)}-token prompt, {a.new_tokens} new tokens, cold "
           f"processes; best undisturbed of up to {a.reps * 3} timings each. Read bandwidth (torch, {a.threads} "
           f"threads, best of 8 `x.sum()` over 1 GiB) before / after: {bw[0]:.1f} / {bw[1]:.1f} GB/s.", "",
           "| peer | weights | decode tok/s | prefill ms | process s | other load |",
           "|---|---|---:|---:|---:|---:|"]
    for r in results:
        flag = " (disturbed)" if r["disturbed"] else ""
        out.append(f"| {r['peer']} | {r['dtype']} | {r['decode_tokens_per_s']:.1f} | {r['prefill_ms']:.1f} | "
                   f"{r['process_wall_s']:.1f} | {r['other_load_during']:.0%}{flag} |")
    for name, dtype, why in unavailable:
        out.append(f"| {name} | {dtype} | unavailable: {why} | | | |")
    ours = next((r for r in results if r["peer"] == "kvdecode" and r["dtype"] == "fp32"), None)
    f32 = next((r for r in results if r["peer"] == "llama.cpp" and r["dtype"] == "F32"), None)
    if ours:
        gbs = ours["decode_tokens_per_s"] * wbytes / 1e9
        line = (f"kvdecode fp32 reads {wbytes / 1e6:.0f} MB per token: {gbs:.1f} GB/s, "
                f"{gbs / max(bw):.0%}-{gbs / min(bw):.0%} of the read bandwidth")
        if f32:
            line += f"; {ours['decode_tokens_per_s'] / f32['decode_tokens_per_s']:.2f}x llama.cpp F32"
        out += ["", line + "."]
    out += ["", end]
    return "\n".join(out)


def write_markdown(path: Path, section: str, shape: str = "gpt2-124m"):
    """Replaces the section between the markers in path (appends it when the markers are missing)."""
    MD_BEGIN, MD_END = md_markers(shape)
    text = path.read_text() if path.exists() else ""
    if MD_BEGIN in text and MD_END in text:
        head, rest = text.split(MD_BEGIN, 1)
        text = head + section + rest.split(MD_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# --shape: the model every peer runs. The Llama-family shapes keep their real layer sizes (hidden, layers,
# heads, KV heads, MLP width) but use GPT-2's byte-level BPE vocabulary (50,257 ids, tied embeddings),
# so one tokenizer serves every peer; SmolLM2-135M's own vocabulary has 49,152 ids, Llama 3.2's 128,256
# (its head is then 2.5x larger than here: say so beside any figure). RoPE is the default kind for
# both (llama3 frequency scaling changes no cost).
SHAPES = {
    "gpt2-124m": None,
    "smollm2-135m": dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                         intermediate_size=1536, rope_theta=100000.0, rms_norm_eps=1e-5),
    "llama-3.2-1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                         intermediate_size=8192, rope_theta=500000.0, rms_norm_eps=1e-5, head_dim=64),
}
SHAPE_TITLES = {"gpt2-124m": "GPT-2 124M shape",
                "smollm2-135m": "SmolLM2-135M shape (GPT-2 vocabulary, 50,257 ids)",
                "llama-3.2-1b": "Llama-3.2-1B shape (GPT-2 vocabulary, 50,257 ids)"}


def make_llama_checkpoint(d: Path, seed: int, shape: str):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    if (d / "model.safetensors").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=50257, max_position_embeddings=2048, tie_word_embeddings=True,
                      bos_token_id=50256, eos_token_id=50256, torch_dtype="float32", **SHAPES[shape])
    LlamaForCausalLM(cfg).save_pretrained(d, safe_serialization=True, max_shard_size="100GB")
    shutil.copy(ROOT / "runtime/src/test/resources/gpt2-tokenizer/tokenizer.json", d / "tokenizer.json")
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(ROOT / "runtime/src/test/resources/gpt2-tokenizer" / f, d / f)


def llama_permute(w, n_head):
    """HF's rotate-half q/k rows -> llama.cpp's interleaved pairs (its converter's LlamaModel.permute)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_llama_gguf(d: Path, ftype: str) -> Path:
    import gguf
    from safetensors.numpy import load_file
    out = d / f"model-{ftype}.gguf"
    if out.exists():
        return out
    t = load_file(str(d / "model.safetensors"))
    c = json.loads((d / "config.json").read_text())
    nh, nkv, L = c["num_attention_heads"], c["num_key_value_heads"], c["num_hidden_layers"]
    hd = c.get("head_dim") or c["hidden_size"] // nh
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_context_length(c["max_position_embeddings"])
    w.add_embedding_length(c["hidden_size"])
    w.add_feed_forward_length(c["intermediate_size"])
    w.add_block_count(L)
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_rope_dimension_count(hd)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_freq_base(c["rope_theta"] if "rope_theta" in c else c["rope_parameters"]["rope_theta"])
    w.add_layer_norm_rms_eps(c["rms_norm_eps"])
    w.add_vocab_size(c["vocab_size"])
    put = gguf_putter(w, ftype)
    add_gpt2_tokenizer(w, d)

    put("token_embd.weight", t["model.embed_tokens.weight"], True)
    for l in range(L):
        p = f"model.layers.{l}."
        put(f"blk.{l}.attn_norm.weight", t[p + "input_layernorm.weight"], False)
        put(f"blk.{l}.attn_q.weight", llama_permute(t[p + "self_attn.q_proj.weight"], nh), True)
        put(f"blk.{l}.attn_k.weight", llama_permute(t[p + "self_attn.k_proj.weight"], nkv), True)
        put(f"blk.{l}.attn_v.weight", t[p + "self_attn.v_proj.weight"], True)
        put(f"blk.{l}.attn_output.weight", t[p + "self_attn.o_proj.weight"], True)
        put(f"blk.{l}.ffn_norm.weight", t[p + "post_attention_layernorm.weight"], False)
        put(f"blk.{l}.ffn_gate.weight", t[p + "mlp.gate_proj.weight"], True)
        put(f"blk.{l}.ffn_up.weight", t[p + "mlp.up_proj.weight"], True)
        put(f"blk.{l}.ffn_down.weight", t[p + "mlp.down_proj.weight"], True)
    put("output_norm.weight", t["model.norm.weight"], False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def gguf_putter(w, ftype: str):
    """Sets the file type and returns put(name, array, matrix): matrices in ftype (F32, F16 or
    Q8_0, quantized by the gguf package), vectors in F32."""
    import gguf
    qtype = {"F32": gguf.GGMLQuantizationType.F32, "F16": gguf.GGMLQuantizationType.F16,
             "Q8_0": gguf.GGMLQuantizationType.Q8_0}[ftype]
    w.add_file_type({"F32": 0, "F16": 1, "Q8_0": 7}[ftype])

    def put(name, arr, matrix):
        arr = np.ascontiguousarray(arr.astype(np.float32))
        if matrix and qtype == gguf.GGMLQuantizationType.F16:
            w.add_tensor(name, arr.astype(np.float16))
        elif matrix and qtype != gguf.GGMLQuantizationType.F32:
            q = gguf.quants.quantize(arr, qtype)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
        else:
            w.add_tensor(name, arr)
    return put


def add_gpt2_tokenizer(w, d: Path):
    """GPT-2's byte-level BPE vocabulary and merges, as llama.cpp reads them (tokenizer.ggml.*)."""
    import gguf
    vocab = json.loads((d / "vocab.json").read_text())
    tokens = [None] * len(vocab)
    for s, i in vocab.items():
        tokens[i] = s
    merges = [ln for ln in (d / "merges.txt").read_text(encoding="utf-8").split("\n")[1:] if ln]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.NORMAL] * len(tokens))
    w.add_token_merges(merges)
    w.add_bos_token_id(50256)
    w.add_eos_token_id(50256)


def make_checkpoint(d: Path, seed: int):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    if (d / "model.safetensors").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = GPT2Config(n_layer=12, n_head=12, n_embd=768, n_positions=1024, vocab_size=50257,
                     activation_function="gelu_new")
    GPT2LMHeadModel(cfg).save_pretrained(d, safe_serialization=True)
    tok = ROOT / "runtime/src/test/resources/gpt2-tokenizer"
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(tok / f, d / f)


def write_gguf(d: Path, ftype: str) -> Path:
    import gguf
    from safetensors.numpy import load_file
    out = d / f"model-{ftype}.gguf"
    if out.exists():
        return out
    t = load_file(str(d / "model.safetensors"))
    t = {k.removeprefix("transformer."): v for k, v in t.items()}
    cfgj = json.loads((d / "config.json").read_text())
    w = gguf.GGUFWriter(str(out), "gpt2")
    w.add_context_length(cfgj["n_positions"])
    w.add_embedding_length(cfgj["n_embd"])
    w.add_feed_forward_length(4 * cfgj["n_embd"])
    w.add_block_count(cfgj["n_layer"])
    w.add_head_count(cfgj["n_head"])
    w.add_layer_norm_eps(cfgj["layer_norm_epsilon"])
    put = gguf_putter(w, ftype)
    add_gpt2_tokenizer(w, d)

    put("token_embd.weight", t["wte.weight"], True)
    put("position_embd.weight", t["wpe.weight"], False)
    names = {"ln_1": "attn_norm", "ln_2": "ffn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
             "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    for l in range(cfgj["n_layer"]):
        for hf, gg in names.items():
            wt, b = t[f"h.{l}.{hf}.weight"], t[f"h.{l}.{hf}.bias"]
            # HF Conv1D stores W (in, out); ggml wants (out, in) rows (ne0 = in)
            put(f"blk.{l}.{gg}.weight", wt.T if wt.ndim == 2 else wt, wt.ndim == 2)
            put(f"blk.{l}.{gg}.bias", b, False)
    put("output_norm.weight", t["ln_f.weight"], False)
    put("output_norm.bias", t["ln_f.bias"], False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


JLAMA_DIR = ROOT / "scripts/peers/jlama"
# Jlama's own launcher (run-cli.sh, v0.8.4) passes these, less -ea (assertions cost time) and
# --enable-preview (jlama-core 0.8.4 is Java 20 bytecode without preview features).
JLAMA_JVM_FLAGS = ["--add-modules=jdk.incubator.vector",
                   "--add-opens=jdk.incubator.vector/jdk.incubator.vector=ALL-UNNAMED",
                   "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
                   "--enable-native-access=ALL-UNNAMED",
                   "-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0"]


class Unavailable(Exception):
    """A peer that cannot run on this machine; the message is the one-line reason."""


def make_jlama_checkpoint(src: Path, d: Path):
    """Jlama 0.8.4's GPT2Model reads the same weights under other names: tensor names without HF's
    `transformer.` prefix (it ties the LM head to wte itself), the context length from `n_ctx`
    (HF 5.x writes only n_positions), and a tokenizer.json (its BPE tokenizer must load, though
    the prompt goes in as ids)."""
    from safetensors.numpy import load_file, save_file
    if (d / "model.safetensors").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    t = load_file(str(src / "model.safetensors"))
    t = {k.removeprefix("transformer."): v for k, v in t.items() if k != "lm_head.weight"}
    cfgj = json.loads((src / "config.json").read_text())
    cfgj.setdefault("n_ctx", cfgj["n_positions"])
    (d / "config.json").write_text(json.dumps(cfgj, indent=1))
    shutil.copy(ROOT / "runtime/src/test/resources/gpt2-tokenizer/tokenizer.json", d / "tokenizer.json")
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(src / f, d / f)
    # written last, under a temporary name, so an interrupted run never leaves a half checkpoint
    save_file(t, str(d / "model.safetensors.part"), metadata={"format": "pt"})
    os.replace(d / "model.safetensors.part", d / "model.safetensors")


def find_jdk(min_major=21) -> Path:
    """JAVA_HOME when it is new enough, else the newest JDK under /usr/lib/jvm."""
    def major(home: Path) -> int:
        if not (home / "bin/java").exists():
            return 0
        p = subprocess.run([str(home / "bin/java"), "-XshowSettings:properties", "-version"],
                           capture_output=True, text=True)
        for ln in p.stderr.splitlines():
            if "java.specification.version =" in ln:
                return int(ln.split("=")[1].strip().split(".")[0])
        return 0
    if os.environ.get("JAVA_HOME") and major(Path(os.environ["JAVA_HOME"])) >= min_major:
        return Path(os.environ["JAVA_HOME"])
    best = max(((major(c), c) for c in Path("/usr/lib/jvm").glob("*")), default=(0, None))
    if best[0] < min_major:
        raise Unavailable(f"no JDK >= {min_major} (looked at JAVA_HOME and /usr/lib/jvm)")
    return best[1]


def build_jlama(jdk: Path) -> list:
    """Compiles JlamaPeer with Maven (first use, or when its sources changed) and returns the
    java command line without its arguments. Outputs stay in scripts/peers/jlama/target/."""
    cp_file = JLAMA_DIR / "target/classpath.txt"
    sources = [JLAMA_DIR / "pom.xml", *(JLAMA_DIR / "src").rglob("*.java")]
    stale = not cp_file.exists() or any(s.stat().st_mtime > cp_file.stat().st_mtime for s in sources)
    if stale:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise Unavailable("mvn not on PATH (needed once to fetch jlama-core 0.8.4 and compile JlamaPeer)")
        p = subprocess.run([mvn, "-B", "-q", "-f", str(JLAMA_DIR / "pom.xml"), "compile", "dependency:build-classpath",
                            f"-Dmdep.outputFile={cp_file}"], capture_output=True, text=True,
                           env=dict(os.environ, JAVA_HOME=str(jdk)))
        if p.returncode != 0:
            err = [ln for ln in (p.stdout + p.stderr).splitlines() if "[ERROR]" in ln] or ["(no [ERROR] line)"]
            raise Unavailable(f"maven build of scripts/peers/jlama failed: {err[0].strip()[:300]}")
    cp = str(JLAMA_DIR / "target/classes") + os.pathsep + cp_file.read_text().strip()
    return [str(jdk / "bin/java"), *JLAMA_JVM_FLAGS, "-cp", cp, "JlamaPeer"]


def failure_reason(err: str) -> str:
    """One line from a failed peer's stderr: the innermost exception when there is a Java trace."""
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    exc = [ln for ln in lines if not ln.startswith(("at ", "...", "WARNING")) and ("Exception" in ln or "Error" in ln)]
    return (exc or lines or ["no output"])[-1][:300]


NODE_SCRIPT = r"""
import {getLlama} from "node-llama-cpp";
const [modelPath, threads, promptJson, nNew] = process.argv.slice(2);
const prompt = JSON.parse(promptJson), n = parseInt(nNew);
const llama = await getLlama({gpu: false, logLevel: "error"});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const ctx = await model.createContext({contextSize: 512, threads: parseInt(threads), batchSize: 512});
const seq = ctx.getSequence();
const t0 = performance.now();
let tFirst = 0, got = [];
for await (const tok of seq.evaluate(prompt, {temperature: 0})) {
  if (got.length === 0) tFirst = performance.now();
  got.push(tok);
  if (got.length >= n + 1) break;
}
const t1 = performance.now();
console.log(JSON.stringify({prefill_ms: tFirst - t0, decode_ms: t1 - tFirst, decode_tokens: got.length - 1, tokens: got}));
await ctx.dispose(); await model.dispose(); await llama.dispose();
"""

HF_SCRIPT = r"""
import json, sys, time, torch
from transformers import AutoModelForCausalLM
d, threads, ids, n = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
x = torch.tensor([ids])
kw = dict(do_sample=False, use_cache=True, pad_token_id=50256, eos_token_id=None)
with torch.inference_mode():
    m.generate(x, max_new_tokens=8, min_new_tokens=8, **kw)  # warm-up
    t0 = time.perf_counter(); m.generate(x, max_new_tokens=1, min_new_tokens=1, **kw); t1 = time.perf_counter()
    out = m.generate(x, max_new_tokens=n + 1, min_new_tokens=n + 1, **kw); t2 = time.perf_counter()
print(json.dumps({"prefill_ms": (t1 - t0) * 1e3, "decode_ms": ((t2 - t1) - (t1 - t0)) * 1e3, "decode_tokens": n,
                  "tokens": out[0, len(ids):].tolist()}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shape", default="gpt2-124m", choices=sorted(SHAPES),
                    help="the model's shape (random weights); Llama-family shapes leave jlama out")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--work-dir", default="/tmp/kvdecode-peers")
    ap.add_argument("--npm-dir", default="/tmp/kvdecode-peers/npm", help="folder with node_modules/node-llama-cpp")
    ap.add_argument("--peers", default="ours,hf,llamacpp,jlama", help="comma list of ours,hf,llamacpp,jlama")
    ap.add_argument("--ours-dtypes", default="fp32,fp16,bf16,int8")
    ap.add_argument("--gguf-types", default="F32,F16,Q8_0")
    ap.add_argument("--reps", type=int, default=2, help="timings per configuration (best undisturbed kept)")
    ap.add_argument("--markdown", help="write the run's table into this Markdown file between "
                    + MD_BEGIN + " and " + MD_END + " (e.g. docs/BENCHMARKS.md)")
    ap.add_argument("--max-busy", type=float, default=0.10, help="other load allowed, fraction of all cores")
    ap.add_argument("--max-waits", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--json", help="write all results here")
    a = ap.parse_args()

    work = Path(a.work_dir)
    llama = SHAPES[a.shape] is not None
    if llama:
        ckpt = work / f"{a.shape}-random"
        make_llama_checkpoint(ckpt, a.seed, a.shape)
    else:
        ckpt = work / "gpt2-random"
        make_checkpoint(ckpt, a.seed)
    from tokenizers import Tokenizer
    ids = Tokenizer.from_file(str(ROOT / "runtime/src/test/resources/gpt2-tokenizer/tokenizer.json")).encode(PROMPT).ids[:16]
    prompt_text = Tokenizer.from_file(str(ROOT / "runtime/src/test/resources/gpt2-tokenizer/tokenizer.json")).decode(ids)

    configs = []
    peers = a.peers.split(",")
    if "ours" in peers:
        for dt in a.ours_dtypes.split(","):
            configs.append(("kvdecode", dt, [str(ROOT / "kvdecode"), "generate", "--model", str(ckpt), "--backend", "cpu",
                                             "--dtype", dt, "--threads", str(a.threads), "--prompt", prompt_text,
                                             "--max-new-tokens", str(a.new_tokens + 1), "--greedy", "--json"], None, None))
    if "hf" in peers:
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
        configs.append(("hf-transformers", "fp32", [sys.executable, "-c", HF_SCRIPT, str(ckpt), str(a.threads), json.dumps(ids),
                                                   str(a.new_tokens)], env, None))
    if "llamacpp" in peers:
        (work / "run.mjs").write_text(NODE_SCRIPT)
        shutil.copy(work / "run.mjs", Path(a.npm_dir) / "run_peers.mjs")
        for gt in a.gguf_types.split(","):
            g = write_llama_gguf(ckpt, gt) if llama else write_gguf(ckpt, gt)
            configs.append(("llama.cpp", gt, ["node", "run_peers.mjs", str(g), str(a.threads), json.dumps(ids),
                                              str(a.new_tokens)], None, a.npm_dir))
    unavailable = []  # (peer, weights, one-line reason): peers that may be missing here
    if "jlama" in peers and llama:
        unavailable.append(("jlama", "fp32", "not run for Llama-family shapes by this script"))
    elif "jlama" in peers:
        try:
            java = build_jlama(find_jdk())
            jckpt = work / "gpt2-random-jlama"
            make_jlama_checkpoint(ckpt, jckpt)
            configs.append(("jlama", "fp32", java + [str(jckpt), str(a.threads), json.dumps(ids), str(a.new_tokens)],
                            None, None))
        except Unavailable as e:
            unavailable.append(("jlama", "fp32", str(e)))

    bw_before = read_bandwidth(a.threads)
    results = []
    for name, dtype, cmd, env, cwd in configs:
        best = None
        for rep in range(a.reps * 3):
            before = wait_idle(a.max_busy, a.max_waits)
            try:
                out, other, wall = timed(cmd, env, cwd)
            except RuntimeError as e:
                if name != "jlama":
                    raise
                if best is None:
                    unavailable.append((name, dtype, failure_reason(str(e))))
                break
            o = json.loads(out.strip().splitlines()[-1])
            if name == "kvdecode":
                n = len(o["tokens"]) - 1
                tps = n / (o["decode_ms"] / 1e3) if "decode_tokens" not in o else o["decode_tokens"] / (o["decode_ms"] / 1e3)
                o["decode_tokens"] = n
            else:
                tps = o["decode_tokens"] / (o["decode_ms"] / 1e3)
            r = {"peer": name, "dtype": dtype, "threads": a.threads, "decode_tokens_per_s": tps,
                 "prefill_ms": o["prefill_ms"], "decode_tokens": o["decode_tokens"], "busy_before": before,
                 "other_load_during": other, "disturbed": other > a.max_busy, "process_wall_s": wall, "first_tokens": o["tokens"][:8]}
            if "tensor_ops" in o:  # jlama: Panama (Vector API) or its scalar fallback
                r["tensor_ops"] = o["tensor_ops"]
            print(json.dumps(r), flush=True)
            if best is None or (best["disturbed"], -best["decode_tokens_per_s"]) > (r["disturbed"], -tps):
                best = r
            if not r["disturbed"] and rep + 1 >= a.reps:
                break
        if best is not None:
            results.append(best)

    bw = (bw_before, read_bandwidth(a.threads))
    when = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    wbytes = weight_bytes(ckpt)
    print(f"\n{SHAPE_TITLES[a.shape]}, random weights, batch 1, greedy, {len(ids)}-token prompt, "
          f"{a.new_tokens} new tokens, {a.threads} threads; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{'peer':18s} {'weights':8s} {'decode tok/s':>12s} {'prefill ms':>10s} {'process s':>9s} {'other load':>10s}")
    for r in results:
        flag = " (disturbed)" if r["disturbed"] else ""
        print(f"{r['peer']:18s} {r['dtype']:8s} {r['decode_tokens_per_s']:12.1f} {r['prefill_ms']:10.1f} "
              f"{r['process_wall_s']:9.1f} {r['other_load_during']:10.0%}{flag}")
    for name, dtype, why in unavailable:
        print(f"{name}: unavailable ({why})")
    print(f"read bandwidth before / after: {bw[0]:.1f} / {bw[1]:.1f} GB/s; fp32 weights {wbytes / 1e6:.0f} MB per token")
    if a.markdown:
        write_markdown(Path(a.markdown), markdown(results, unavailable, a, ids, bw, wbytes, when), a.shape)
        print(f"wrote the table into {a.markdown}")
    if a.json:
        Path(a.json).write_text(json.dumps({"results": results, "prompt_ids": ids, "argv": sys.argv,
                                            "read_bandwidth_gb_s": {"before": bw[0], "after": bw[1]},
                                            "fp32_weight_bytes": wbytes, "date": when,
                                            "unavailable": [{"peer": n, "dtype": d, "reason": w}
                                                            for n, d, w in unavailable]}, indent=1))


if __name__ == "__main__":
    main()
