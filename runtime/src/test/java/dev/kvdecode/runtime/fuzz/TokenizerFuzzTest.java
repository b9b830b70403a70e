package dev.kvdecode.runtime.fuzz;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kvdecode.runtime.model.TokenizerKind;
import dev.kvdecode.runtime.tokenizer.StreamDecoder;
import dev.kvdecode.runtime.tokenizer.Tokenizer;
import dev.kvdecode.runtime.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;

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

    /** The char model's chars.json. */
    @FuzzTest
    @DictionaryEntries({"\"\\n\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "[\"a\"]"})
    void chars(byte[] input) { loadAndUse(Map.of("chars.json", input), TokenizerKind.CHAR); }

    static void loadAndUse(Map<String, byte[]> files, TokenizerKind kind) {
        var dir = FILES.write(files);
        Tokenizer tok = FuzzFiles.parseOrReject(() -> Tokenizers.load(dir, kind));
        if (tok == null) return;
        if (tok.vocabSize() <= 0) throw new AssertionError("accepted an empty vocabulary");
        int[] ids = FuzzFiles.parseOrReject(() -> tok.encode(TEXT));
        if (ids != null) {
            for (int id : ids) {
                if (id < 0 || id >= tok.vocabSize()) throw new AssertionError("encode gave id " + id + " of " + tok.vocabSize());
            }
            String text = tok.decode(ids);
            if (text == null) throw new AssertionError("decode gave null");
            StreamDecoder stream = new StreamDecoder(tok);
            for (int id : ids) stream.push(id);
            stream.flush();
        }
        int v = tok.vocabSize();
        java.util.stream.IntStream.concat(java.util.stream.IntStream.rangeClosed(-1, Math.min(v, FIRST_IDS)),
                java.util.stream.IntStream.of(v - 1, v, tok.eosToken())).forEach(id ->
                FuzzFiles.parseOrReject(() -> tok.tokenBytes(id)));
    }
}
