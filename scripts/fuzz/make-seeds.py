#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (docs/FUZZING.md) under
runtime/src/test/resources/dev/kvdecode/runtime/fuzz/<Class>Inputs/<method>/.

Python 3 standard library only (no numpy, no safetensors package): the files are tiny and
hand-built so that each seed is a few hundred bytes and libFuzzer's default input size limit
(taken from the largest seed) stays small. Deterministic: rerunning rewrites the same bytes.
Findings that became regression inputs (crash-*, named after what they reproduce) live beside
the seeds and are not touched by this script.
"""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                    "runtime", "src", "test", "resources", "dev", "kvdecode", "runtime", "fuzz")


def out(cls, method, name, data):
    d = os.path.join(ROOT, cls + "Inputs", method)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, raw bytes). Returns the file's bytes."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def f16(values):
    return struct.pack("<%de" % len(values), *values)


def bf16(values):
    return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in values)


def ramp(n, scale=0.1):
    return [((i * 7) % 11 - 5) * scale for i in range(n)]


def pack(*files):
    """FuzzFiles.unpack's layout: every file but the last is u32 length + bytes; the last is the rest."""
    b = b""
    for f in files[:-1]:
        b += struct.pack("<I", len(f)) + f
    return b + files[-1]


# ---- safetensors ---------------------------------------------------------------------------
out("SafeTensorsFuzzTest", "file", "f32-two-tensors", safetensors(
    [("a", "F32", [2, 3], f32(ramp(6))), ("b", "F32", [3], f32(ramp(3)))], {"format": "pt"}))
out("SafeTensorsFuzzTest", "file", "f16-bf16-scalar-empty", safetensors(
    [("h", "F16", [2, 2], f16(ramp(4))), ("g", "BF16", [4], bf16(ramp(4))), ("s", "F32", [], f32([1.5])),
     ("z", "F32", [0, 4], b"")]))
out("SafeTensorsFuzzTest", "file", "any-dtype-buffer", safetensors(
    [("any.mask", "BOOL", [2, 2], b"\x01\x00\x00\x01"), ("w", "F32", [1], f32([2.0]))], pad=False))
out("SafeTensorsFuzzTest", "header", "two-tensors",
    '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},'
    '"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}}')
out("SafeTensorsFuzzTest", "header", "f16-scalar-any",
    '{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"s":{"dtype":"F32","shape":[],"data_offsets":[8,12]},'
    '"any.b":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}  ')

# ---- config.json ---------------------------------------------------------------------------
gpt2 = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_inner": None, "n_layer": 12,
        "n_positions": 1024, "scale_attn_weights": True, "vocab_size": 50257}
char = {"model_type": "kvdecode-char-gpt", "n_layer": 1, "n_head": 1, "n_embd": 2, "n_positions": 2,
        "vocab_size": 3, "layer_norm_epsilon": 1e-05, "activation_function": "relu", "qkv_bias": False,
        "tie_word_embeddings": False, "lm_head_bias": True, "tokenizer": "char"}
out("ConfigFuzzTest", "config", "gpt2", json.dumps(gpt2, indent=1))
out("ConfigFuzzTest", "config", "char", json.dumps(char, indent=1))
out("ConfigFuzzTest", "config", "minimal-n-ctx", '{"n_layer":1,"n_head":1,"n_embd":4,"n_ctx":8,"vocab_size":5}')

# ---- tokenizers ----------------------------------------------------------------------------
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()
vocab = {B2U[b]: b for b in range(256)}
merges = [("\u0120", "t"), ("h", "e"), ("\u0120t", "he"), ("l", "l"), ("ll", "o")]
for a, b in merges:
    vocab.setdefault(a + b, len(vocab))
vocab["<|endoftext|>"] = len(vocab)
merges_txt = "#version: 0.2\n" + "".join("%s %s\n" % m for m in merges)
vocab_json = json.dumps(vocab, ensure_ascii=False, separators=(",", ":"))
out("TokenizerFuzzTest", "vocabAndMerges", "tiny", pack(vocab_json.encode(), merges_txt.encode()))
out("TokenizerFuzzTest", "vocabAndMerges", "no-merges", pack(vocab_json.encode(), b"#version: 0.2\n"))
tj = {"version": "1.0", "truncation": None, "padding": None,
      "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False,
                        "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
      "normalizer": None,
      "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
      "post_processor": None, "decoder": {"type": "ByteLevel"},
      "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                "vocab": vocab, "merges": ["%s %s" % m for m in merges]}}
out("TokenizerFuzzTest", "gpt2TokenizerJson", "tiny-string-merges", json.dumps(tj, ensure_ascii=False))
tj["model"]["merges"] = [list(m) for m in merges]
out("TokenizerFuzzTest", "gpt2TokenizerJson", "tiny-pair-merges", json.dumps(tj, ensure_ascii=False))
out("TokenizerFuzzTest", "chars", "shakespeare",
    json.dumps(list("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")))
out("TokenizerFuzzTest", "chars", "astral", json.dumps(["a", "\U0001F600", "\u00e9"], ensure_ascii=True))

# tokenizer.json of the Llama family (HfTokenizer, TokenizerKind.TOKENIZER_JSON): the input packs
# a text to encode and decode (u32 length + UTF-8) and the tokenizer.json.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
l3_vocab = {B2U[b]: b for b in range(256)}
for a, b in merges:
    l3_vocab.setdefault(a + b, len(l3_vocab))
bot, eot = len(l3_vocab), len(l3_vocab) + 1
llama3 = {
    "added_tokens": [
        {"id": bot, "content": "<|begin_of_text|>", "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": eot, "content": "<|eot_id|>", "lstrip": False, "rstrip": False, "normalized": False, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    "post_processor": {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                                  {"Sequence": {"id": "A", "type_id": 0}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [bot], "tokens": ["<|begin_of_text|>"]}}}]},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "ignore_merges": True, "byte_fallback": False, "vocab": l3_vocab,
              "merges": [list(m) for m in merges]}}
TEXT = "Hello, world! It's 2026: caf\u00e9 \u4e2d\u6587 \U0001F600\n\t 12345<|eot_id|>"


def tok_json(t):
    return json.dumps(t, ensure_ascii=False, separators=(",", ":")).encode()


out("TokenizerFuzzTest", "hfTokenizerJson", "llama3-split-regex", pack(TEXT.encode(), tok_json(llama3)))

SP = "\u2581"
sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in (0x0A, 0x21, 0x2C, 0xC3, 0xA9, 0xE4, 0xB8, 0xAD, 0xF0, 0x9F, 0x98, 0x80):
    sp_vocab["<0x%02X>" % b] = len(sp_vocab)
sp_pieces = [SP, "H", "e", "l", "o", "w", "r", "d", "a", "b", "1", "2", SP + "w", "ll", "He", "Hell", "Hello", "or", "ld"]
for piece in sp_pieces:
    sp_vocab[piece] = len(sp_vocab)
sp_merges = [("l", "l"), ("H", "e"), ("He", "ll"), ("Hell", "o"), (SP, "w"), ("o", "r"), ("l", "d")]
tool = len(sp_vocab)
llama2 = {
    "added_tokens": [
        {"id": 0, "content": "<unk>", "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": 1, "content": "<s>", "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": 2, "content": "</s>", "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": tool, "content": "[TOOL]", "lstrip": True, "rstrip": True, "single_word": False, "normalized": False, "special": False}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SP},
                                                       {"type": "Replace", "pattern": {"String": " "}, "content": SP}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": SP}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
              "vocab": sp_vocab, "merges": ["%s %s" % m for m in sp_merges]}}
SP_TEXT = "Hello, world! [TOOL] caf\u00e9 \u4e2d \U0001F600\n12 </s>"
out("TokenizerFuzzTest", "hfTokenizerJson", "llama2-sentencepiece", pack(SP_TEXT.encode(), tok_json(llama2)))
mistral = dict(llama2, normalizer=None,
               pre_tokenizer={"type": "Metaspace", "replacement": SP, "prepend_scheme": "first", "split": False},
               decoder={"type": "Metaspace", "replacement": SP, "prepend_scheme": "first", "split": False})
mistral["model"] = dict(llama2["model"], merges=[list(m) for m in sp_merges])
out("TokenizerFuzzTest", "hfTokenizerJson", "mistral-metaspace", pack(SP_TEXT.encode(), tok_json(mistral)))
qwen = dict(llama3, normalizer={"type": "NFC"},
            pre_tokenizer={"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithNext", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
            post_processor={"type": "ByteLevel"})
qwen["model"] = dict(llama3["model"], ignore_merges=False, merges=["%s %s" % m for m in merges])
out("TokenizerFuzzTest", "hfTokenizerJson", "nfc-split-string", pack(TEXT.encode(), tok_json(qwen)))


# tokenizer_config.json with a chat_template (ChatTemplate, jinjava), rendered on a fixed chat.
with open(os.path.join(ROOT, "..", "..", "..", "..", "hf-tokenizers", "llama2-chat-template.jinja"), encoding="utf-8") as f:
    LLAMA2_CHAT = f.read()
LLAMA3_CHAT = ("{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
               "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
               "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}")
QWEN_CHAT = ("{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}"
             "{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}"
             "{%- if ns.multi_step_tool and message.role == 'user' and not message.content.startswith('<tool_response>') %}"
             "{%- set ns.multi_step_tool = false %}{%- set ns.last_query_index = index %}{%- endif %}{%- endfor %}"
             "{%- for m in messages %}{{- '<|im_start|>' + m.role + '\n' + m.content.strip() + '<|im_end|>\n' }}{%- endfor %}"
             "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}{{ ns.last_query_index }}")
out("TokenizerFuzzTest", "chatTemplate", "llama2", json.dumps(
    {"bos_token": "<s>", "eos_token": {"content": "</s>", "lstrip": False}, "chat_template": LLAMA2_CHAT}, indent=1))
out("TokenizerFuzzTest", "chatTemplate", "llama3", json.dumps(
    {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": LLAMA3_CHAT}))
out("TokenizerFuzzTest", "chatTemplate", "qwen-namespace-reverse", json.dumps({"eos_token": "<|im_end|>", "chat_template": QWEN_CHAT}))
out("TokenizerFuzzTest", "chatTemplate", "named-list-macro", json.dumps({"chat_template": [
    {"name": "tool_use", "template": "{{ tools }}"},
    {"name": "default", "template": "{% macro say(m) %}{{ m.role|upper }}: {{ m.content.split(' ')|join('_') }}"
                                    "{% endmacro %}{% for m in messages %}{{ say(m) }}{% if loop.last %}.{% endif %}{% endfor %}"
                                    "{{ raise_exception('no ' ~ strftime_now('%Y')) if messages|length > 9 }}"}]}))


# ---- the char model format -----------------------------------------------------------------
def char_model(dtype, enc, tied=False):
    C, V, P = 2, 3, 2
    t = [("wte", dtype, [V, C], enc(ramp(V * C))), ("wpe", dtype, [P, C], enc(ramp(P * C, 0.01))),
         ("h.0.ln_1.weight", dtype, [C], enc([1.0] * C)), ("h.0.ln_1.bias", dtype, [C], enc([0.0] * C)),
         ("h.0.attn.c_attn.weight", dtype, [C, 3 * C], enc(ramp(3 * C * C))),
         ("h.0.attn.c_proj.weight", dtype, [C, C], enc(ramp(C * C))), ("h.0.attn.c_proj.bias", dtype, [C], enc(ramp(C))),
         ("h.0.ln_2.weight", dtype, [C], enc([1.0] * C)), ("h.0.ln_2.bias", dtype, [C], enc([0.0] * C)),
         ("h.0.mlp.c_fc.weight", dtype, [C, 4 * C], enc(ramp(4 * C * C))), ("h.0.mlp.c_fc.bias", dtype, [4 * C], enc(ramp(4 * C))),
         ("h.0.mlp.c_proj.weight", dtype, [4 * C, C], enc(ramp(4 * C * C))), ("h.0.mlp.c_proj.bias", dtype, [C], enc(ramp(C))),
         ("ln_f.weight", dtype, [C], enc([1.0] * C)), ("ln_f.bias", dtype, [C], enc([0.0] * C)),
         ("lm_head.weight", dtype, [V, C], enc(ramp(V * C, 0.3))), ("lm_head.bias", dtype, [V], enc(ramp(V)))]
    return safetensors(t)


cfg = json.dumps(char, indent=1).encode()
chars = json.dumps(["a", "b", "\n"]).encode()
out("CharModelFuzzTest", "model", "tiny-f32", pack(cfg, chars, char_model("F32", f32)))
out("CharModelFuzzTest", "model", "tiny-f16", pack(cfg, chars, char_model("F16", f16)))
out("CharModelFuzzTest", "model", "tiny-bf16", pack(cfg, chars, char_model("BF16", bf16)))

# ---- regression inputs: what the fuzz runs and the probes beside them found (docs/FUZZING.md) --
# Each must now be rejected with a one-line error; before its fix it escaped as another exception.
out("TokenizerFuzzTest", "vocabAndMerges", "crash-vocab-id-int-max",   # NegativeArraySizeException
    pack(b'{"a": 2147483647}', b""))
out("TokenizerFuzzTest", "vocabAndMerges", "crash-vocab-id-5e8",       # OutOfMemoryError (a 4 GB table)
    pack(b'{"a": 500000000}', b""))
tj_big = {"model": {"type": "BPE", "vocab": {"a": 1}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"},
          "added_tokens": [{"content": "x", "id": 2147483647}]}
out("TokenizerFuzzTest", "gpt2TokenizerJson", "crash-added-token-id-int-max", json.dumps(tj_big))
char_huge = dict(char, n_layer=2147483647)                               # hung building 2^31 names, then OOM
out("CharModelFuzzTest", "model", "crash-n-layer-int-max",
    pack(json.dumps(char_huge).encode(), chars, char_model("F32", f32)))
