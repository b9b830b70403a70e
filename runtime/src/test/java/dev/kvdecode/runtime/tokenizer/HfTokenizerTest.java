package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * tokenizer.json loading against HF tokenizers' ids for the real Llama 3 (byte-level BPE, split
 * regex from the file, ignore_merges), Llama 2 (SentencePiece BPE: Prepend/Replace normalizer,
 * byte fallback, TemplateProcessing BOS) and Qwen3 (NFC, byte-level BPE, merges as pairs) files.
 */
class HfTokenizerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static void assertMatchesHf(Tokenizer tok, JsonNode cases, String name) {
        assertTrue(cases.size() >= 100, name + ": fixture has " + cases.size() + " cases");
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            int[] want = Fixtures.ints(c.get("ids"));
            assertArrayEquals(want, tok.encode(text), () -> name + ": ids differ from HF for " + Gpt2BpeTokenizerTest.escape(text));
            assertEquals(c.get("decoded").asText(), tok.decode(want), () -> name + ": decode(HF ids) for " + Gpt2BpeTokenizerTest.escape(text));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "llama2", "qwen3"})
    void realTokenizerGivesHfIds(String name) {
        HfTokenizer tok = RealTokenizers.tokenizer(name);
        JsonNode expected = RealTokenizers.expected(name);
        assertMatchesHf(tok, expected.get("cases"), name);
        JsonNode noSpecial = expected.get("no_special_first8");
        for (int i = 0; i < noSpecial.size(); i++) {
            String text = expected.get("cases").get(i).get("text").asText();
            assertArrayEquals(Fixtures.ints(noSpecial.get(i)), tok.encode(text, false), name + ": without special tokens: " + Gpt2BpeTokenizerTest.escape(text));
        }
    }

    @Test
    void bosAndEosComeFromTokenizerConfig() {
        HfTokenizer llama3 = RealTokenizers.tokenizer("llama3");
        assertEquals(128000, llama3.bosToken());
        assertEquals(128001, llama3.eosToken());
        assertEquals(128009, llama3.tokenId("<|eot_id|>").orElseThrow());
        HfTokenizer llama2 = RealTokenizers.tokenizer("llama2");
        assertEquals(1, llama2.bosToken());
        assertEquals(2, llama2.eosToken());
        HfTokenizer qwen3 = RealTokenizers.tokenizer("qwen3");
        assertEquals(-1, qwen3.bosToken());
        assertEquals(151645, qwen3.eosToken()); // <|im_end|>
    }

    /** Newer SentencePiece files (Mistral, TinyLlama) use a Metaspace pre-tokenizer and decoder instead of a normalizer. */
    @Test
    void metaspaceVariantGivesHfIds(@TempDir Path tmp) throws IOException {
        JsonNode variant = RealTokenizers.expected("llama2_metaspace");
        ObjectNode root = (ObjectNode) JSON.readTree(RealTokenizers.dir("llama2").resolve("tokenizer.json").toFile());
        for (Iterator<Map.Entry<String, JsonNode>> it = variant.get("changes").fields(); it.hasNext(); ) {
            var e = it.next();
            root.set(e.getKey(), e.getValue());
        }
        Path file = tmp.resolve("tokenizer.json");
        JSON.writeValue(file.toFile(), root);
        assertMatchesHf(HfTokenizer.load(file), variant.get("cases"), "llama2 with Metaspace");
    }

    /** GPT-2's tokenizer.json goes through the same loader (Tokenizers.load uses it) and gives HF's ids. */
    @Test
    void gpt2TokenizerJsonGivesHfIds() {
        HfTokenizer tok = HfTokenizer.fromModelDir(Fixtures.gpt2Dir());
        assertEquals(50256, tok.eosToken());
        for (JsonNode c : Fixtures.json("fixtures.json").get("cases")) {
            String text = c.get("text").asText();
            int[] want = Fixtures.ints(c.get("ids"));
            assertArrayEquals(want, tok.encode(text), () -> "gpt2: " + Gpt2BpeTokenizerTest.escape(text));
            assertEquals(text, tok.decode(want));
        }
    }

    /** Streaming decode never splits a character, and the SentencePiece leading space is dropped once. */
    @ParameterizedTest
    @ValueSource(strings = {"llama3", "llama2", "qwen3"})
    void streamingDecodeIsUtf8Safe(String name) {
        HfTokenizer tok = RealTokenizers.tokenizer(name);
        for (JsonNode c : RealTokenizers.expected(name).get("cases")) {
            int[] ids = Fixtures.ints(c.get("ids"));
            StreamDecoder d = tok.streamDecoder();
            StringBuilder sb = new StringBuilder();
            for (int id : ids) {
                String piece = d.push(id);
                if (!piece.isEmpty()) assertFalse(Character.isHighSurrogate(piece.charAt(piece.length() - 1)), "split surrogate pair");
                sb.append(piece);
            }
            sb.append(d.flush());
            assertEquals(c.get("decoded").asText(), sb.toString());
        }
    }

    @Test
    void onigurumaClassesAreTranslated() {
        String llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
        assertEquals("(?iu:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\p{IsWhite_Space}\\p{L}\\p{N}]+[\\r\\n]*"
                + "|\\p{IsWhite_Space}*[\\r\\n]+|\\p{IsWhite_Space}+(?!\\P{IsWhite_Space})|\\p{IsWhite_Space}+", OnigurumaRegex.toJava(llama3));
        Pattern p = OnigurumaRegex.compile(llama3);
        // U+3000 is White_Space (Oniguruma's \s), not in Java's plain \s; U+017F folds to s.
        assertTrue(p.matcher("\u3000").matches());
        assertTrue(OnigurumaRegex.compile("(?i:'s)").matcher("'\u017F").matches());
        assertTrue(OnigurumaRegex.compile("[\\h]+").matcher("09afAF").matches());
        assertEquals("\\[\\s]", OnigurumaRegex.toJava("\\[\\\\s]").replace("\\\\", "\\"), "escaped bracket and backslash stay literal");
    }

    @Test
    void unsupportedComponentsAreOneLineErrorsNamingTheField(@TempDir Path tmp) throws IOException {
        String base = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}";
        Path f = tmp.resolve("tokenizer.json");
        assertArrayEquals(new int[] {2, 0}, load(f, base + "}").encode("aba"));
        assertEquals(f + ": model.type \"WordPiece\" is not supported (only BPE)",
                message(f, "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}"));
        assertEquals(f + ": normalizer.normalizers[1].type \"Precompiled\" is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip)",
                message(f, base + ",\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Precompiled\"}]}}"));
        assertEquals(f + ": pre_tokenizer.type \"Whitespace\" is not supported (supported: Sequence, Split, ByteLevel, Metaspace)",
                message(f, base + ",\"pre_tokenizer\":{\"type\":\"Whitespace\"}}"));
        assertEquals(f + ": pre_tokenizer.pretokenizers[0].behavior \"Contiguous\" is not supported (supported: Isolated, Removed, MergedWithPrevious, MergedWithNext)",
                message(f, base + ",\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Contiguous\"}]}}"));
        assertTrue(message(f, base + ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a\"},\"behavior\":\"Isolated\"}}")
                .startsWith(f + ": pre_tokenizer.pattern.Regex does not compile: "));
        assertEquals(f + ": decoder.type \"WordPiece\" is not supported (supported: ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, Sequence)",
                message(f, base + ",\"decoder\":{\"type\":\"WordPiece\"}}"));
        assertEquals(f + ": post_processor.type \"Weird\" is not supported (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)",
                message(f, base + ",\"post_processor\":{\"type\":\"Weird\"}}"));
        assertEquals(f + ": model.unk_token '<unk>' is not in the vocabulary",
                message(f, "{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"a\":0},\"merges\":[]}}"));
        assertEquals(f + ": merge 'a c' (rank 0): token 'c' is not in the vocabulary",
                message(f, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\",\"c\"]]}}"));
    }

    /** Added tokens: longest match wins, lstrip/rstrip swallow whitespace, single_word needs word boundaries. */
    @Test
    void addedTokenFlags(@TempDir Path tmp) throws IOException {
        String json = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\" \":2},\"merges\":[]},\"added_tokens\":["
                + "{\"id\":10,\"content\":\"<x>\",\"special\":true,\"lstrip\":true,\"rstrip\":true},"
                + "{\"id\":11,\"content\":\"<x>>\",\"special\":true},"
                + "{\"id\":12,\"content\":\"ab\",\"special\":false,\"single_word\":true}]}";
        Tokenizer t = load(tmp.resolve("tokenizer.json"), json);
        assertArrayEquals(new int[] {0, 10, 1}, t.encode("a  <x>  b"));
        assertArrayEquals(new int[] {0, 11, 1}, t.encode("a<x>>b"));
        assertArrayEquals(new int[] {12, 2, 0, 0, 1}, t.encode("ab aab"));
    }

    private static Tokenizer load(Path f, String json) throws IOException {
        Files.writeString(f, json);
        return HfTokenizer.load(f);
    }

    private static String message(Path f, String json) throws IOException {
        Files.writeString(f, json);
        return assertThrows(TokenizerException.class, () -> HfTokenizer.load(f)).getMessage();
    }
}
