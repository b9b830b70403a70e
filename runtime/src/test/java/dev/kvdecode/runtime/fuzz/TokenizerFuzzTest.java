package dev.kvdecode.runtime.fuzz;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kvdecode.runtime.model.TokenizerKind;
import dev.kvdecode.runtime.tokenizer.ChatMessage;
import dev.kvdecode.runtime.tokenizer.ChatTemplate;
import dev.kvdecode.runtime.tokenizer.StreamDecoder;
import dev.kvdecode.runtime.tokenizer.Tokenizer;
import dev.kvdecode.runtime.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;

import java.util.List;
import java.util.Map;

/**
 * Fuzzes the tokenizer files through {@link Tokenizers#load}, the loader the CLI uses, and then
 * uses what it accepted: encode a text with added-token, non-ASCII and astral characters, decode
 * the ids, and ask for every id's bytes. Loading and use may only fail with a one-line
 * TokenizerException or ModelFormatException.
 *
 * <p>One method per file layout, each with its seeds in TokenizerFuzzTestInputs/&lt;method&gt;/. A
 * new tokenizer.json type needs only a new method calling {@link #loadAndUse} with its
 * {@link TokenizerKind} (and a few seed files), e.g.
 * {@code @FuzzTest void llamaTokenizerJson(byte[] in) { loadAndUse(Map.of("tokenizer.json", in), TokenizerKind.X); }}.
 */
class TokenizerFuzzTest {
    private static final FuzzFiles FILES = new FuzzFiles("TokenizerFuzzTest");
    private static final String TEXT = "Hello, world!<|endoftext|> It's 2026: caf\u00e9 \u00fcber \u4e2d\u6587 "
            + "\ud83d\ude00\n\t  \r\n12345 a\u0301 <|endoftext|";
    /**
     * The ids whose bytes are asked for: the first this many, the last and one past the end (a
     * sparse vocabulary answers most ids with an exception, which costs; asking for 4,096 made the
     * vocab.json target run 20 inputs a second).
     */
    private static final int FIRST_IDS = 300;

    @AfterAll
    static void cleanUp() { FILES.close(); }

    /** GPT-2's original pair: the input holds vocab.json and merges.txt (layout in {@link FuzzFiles#unpack}). */
    @FuzzTest
    @DictionaryEntries({"#version: 0.2", "\u0120", "\u0120t", "<|endoftext|>", "\"\\u0120\"", "50256"})
    void vocabAndMerges(byte[] input) {
        loadAndUse(FuzzFiles.unpack(input, "vocab.json", "merges.txt"), TokenizerKind.GPT2_BPE);
    }

    /** A Hugging Face tokenizer.json with a BPE model and a ByteLevel pre-tokenizer (GPT-2's). */
    @FuzzTest
    @DictionaryEntries({"\"model\"", "\"type\"", "\"BPE\"", "\"vocab\"", "\"merges\"", "\"added_tokens\"",
            "\"pre_tokenizer\"", "\"ByteLevel\"", "\"normalizer\"", "\"add_prefix_space\"", "\"use_regex\"",
            "\"content\"", "\"id\"", "\"lstrip\"", "\"dropout\"", "\"ignore_merges\"", "<|endoftext|>"})
    void gpt2TokenizerJson(byte[] input) { loadAndUse(Map.of("tokenizer.json", input), TokenizerKind.GPT2_BPE); }

    /**
     * tokenizer.json of the Llama family (HfTokenizer: byte-level BPE with a Split regex read from
     * the file, SentencePiece-style BPE with Metaspace or Prepend/Replace normalizers and byte
     * fallback, added tokens, post-processors, decoder chains). The input packs a text and the
     * tokenizer.json; both the packed text and the fixed one are encoded and decoded.
     */
    @FuzzTest
    @DictionaryEntries({"\"Split\"", "\"Regex\"", "\"String\"", "\"behavior\"", "\"Isolated\"", "\"Removed\"",
            "\"MergedWithPrevious\"", "\"MergedWithNext\"", "\"invert\"", "\"Metaspace\"", "\"replacement\"",
            "\"prepend_scheme\"", "\"first\"", "\"Sequence\"", "\"normalizers\"", "\"Prepend\"", "\"Replace\"",
            "\"NFC\"", "\"NFKD\"", "\"Lowercase\"", "\"Strip\"", "\"byte_fallback\"", "\"ByteFallback\"",
            "\"Fuse\"", "\"unk_token\"", "\"fuse_unk\"", "\"TemplateProcessing\"", "\"SpecialToken\"",
            "\"special_tokens\"", "\"rstrip\"", "\"lstrip\"", "\"single_word\"", "\"normalized\"", "\"special\"",
            "\"RobertaProcessing\"", "\"ignore_merges\"", "\"<0x0A>\"", "\u2581", "(?i:", "\\p{L}", "{1,3}"})
    void hfTokenizerJson(byte[] input) {
        Map<String, byte[]> files = FuzzFiles.unpack(input, "text", "tokenizer.json");
        byte[] text = files.remove("text");
        loadAndUse(files, TokenizerKind.TOKENIZER_JSON,
                text == null ? TEXT : new String(text, java.nio.charset.StandardCharsets.UTF_8), TEXT);
    }

    /** Larger tokenizer_config.json inputs are skipped: the server bounds nothing here, the file is the model's. */
    private static final int MAX_TEMPLATE_BYTES = 8192;
    private static final List<ChatMessage> CHAT = List.of(new ChatMessage("system", "Be brief."),
            new ChatMessage("user", "Hi \u00e9 \ud83d\ude00"), new ChatMessage("assistant", " Hello. "),
            new ChatMessage("user", "{{ raise_exception('x') }}"));

    /**
     * tokenizer_config.json's chat_template (jinjava, {@link ChatTemplate}) rendered on a fixed
     * chat, as the server's /v1/chat/completions does: a template that does not parse, raises or
     * runs too long must be a one-line TokenizerException.
     */
    @FuzzTest
    @DictionaryEntries({"\"chat_template\"", "\"bos_token\"", "\"eos_token\"", "{%", "%}", "{{", "}}", "{%-", "-%}",
            "{% for m in messages %}", "{% endfor %}", "{% if ", "{% endif %}", "{% set ", "namespace(", "loop.index0",
            "range(", "raise_exception(", "strftime_now(", "m['role']", "m.content", "|trim", "|length", "[::-1]",
            "add_generation_prompt", "{% macro ", "{% endmacro %}", "{% call ", ".strip()", ".split(", "~"})
    void chatTemplate(byte[] input) {
        if (input.length > MAX_TEMPLATE_BYTES) return;
        // Any template, loops nested at will included: ChatTemplate's render budget (steps, bytes,
        // time) turns a runaway one into a TokenizerLimitException, a TokenizerException.
        var dir = FILES.write(Map.of("tokenizer_config.json", input));
        var template = FuzzFiles.parseOrReject(() -> ChatTemplate.load(dir));
        if (template == null || template.isEmpty()) return;
        for (boolean prompt : new boolean[] {false, true}) {
            String out = FuzzFiles.parseOrReject(() -> template.get().render(CHAT, prompt));
            if (out == null) return;
        }
    }

    /** The char model's chars.json. */
    @FuzzTest
    @DictionaryEntries({"\"\\n\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "[\"a\"]"})
    void chars(byte[] input) { loadAndUse(Map.of("chars.json", input), TokenizerKind.CHAR); }

    static void loadAndUse(Map<String, byte[]> files, TokenizerKind kind) { loadAndUse(files, kind, TEXT); }

    static void loadAndUse(Map<String, byte[]> files, TokenizerKind kind, String... texts) {
        var dir = FILES.write(files);
        Tokenizer tok = FuzzFiles.parseOrReject(() -> Tokenizers.load(dir, kind));
        if (tok == null) return;
        if (tok.vocabSize() <= 0) throw new AssertionError("accepted an empty vocabulary");
        for (String text : texts) use(tok, text);
        int v = tok.vocabSize();
        java.util.stream.IntStream.concat(java.util.stream.IntStream.rangeClosed(-1, Math.min(v, FIRST_IDS)),
                java.util.stream.IntStream.of(v - 1, v, tok.eosToken())).forEach(id ->
                FuzzFiles.parseOrReject(() -> tok.tokenBytes(id)));
    }

    /** Encodes {@code text}, checks the ids, decodes them whole and streamed. */
    private static void use(Tokenizer tok, String text) {
        FuzzFiles.parseOrReject(() -> tok.encode(text, false));
        int[] ids = FuzzFiles.parseOrReject(() -> tok.encode(text));
        if (ids != null) {
            for (int id : ids) {
                if (id < 0 || id >= tok.vocabSize()) throw new AssertionError("encode gave id " + id + " of " + tok.vocabSize());
            }
            if (tok.decode(ids) == null) throw new AssertionError("decode gave null");
            StreamDecoder stream = tok.streamDecoder();
            for (int id : ids) stream.push(id);
            stream.flush();
        }
    }
}
