package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.*;

/** GPT-2 BPE against Hugging Face tokenizers' ids for the real GPT-2 vocabulary. */
class Gpt2BpeTokenizerTest {
    private static final Path DIR = Fixtures.gpt2Dir();
    private static final JsonNode FIXTURES = Fixtures.json("fixtures.json");
    private static final Gpt2BpeTokenizer FROM_FILES =
            Gpt2BpeTokenizer.fromVocabAndMerges(DIR.resolve("vocab.json"), DIR.resolve("merges.txt"));
    private static final Gpt2BpeTokenizer FROM_JSON = Gpt2BpeTokenizer.fromTokenizerJson(DIR.resolve("tokenizer.json"));

    private static void assertMatchesHf(Tokenizer tok, String loader) {
        JsonNode cases = FIXTURES.get("cases");
        assertTrue(cases.size() >= 300, "fixture has " + cases.size() + " cases");
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            int[] want = Fixtures.ints(c.get("ids"));
            assertArrayEquals(want, tok.encode(text), () -> loader + ": ids differ from HF for " + escape(text));
            assertEquals(text, tok.decode(want), () -> loader + ": decode(HF ids) for " + escape(text));
        }
    }

    @Test
    void vocabAndMergesGiveHfIds() { assertMatchesHf(FROM_FILES, "vocab.json+merges.txt"); }

    @Test
    void tokenizerJsonGivesHfIds() { assertMatchesHf(FROM_JSON, "tokenizer.json"); }

    @Test
    void preTokenizerSplitsLikeHf() {
        int checked = 0;
        for (JsonNode c : FIXTURES.get("cases")) {
            if (!c.has("pieces")) continue;
            String text = c.get("text").asText();
            List<String> want = new ArrayList<>();
            c.get("pieces").forEach(p -> want.add(p.asText()));
            List<String> got = new ArrayList<>();
            Gpt2PreTokenizer.split(text, 0, text.length(), (s, e) -> got.add(text.substring(s, e)));
            assertEquals(want, got, () -> "pieces of " + escape(text));
            checked++;
        }
        assertTrue(checked > 250);
    }

    /** Every code point's regex class (\s, \p{L}, \p{N}, other) as HF's Oniguruma sees it. */
    @Test
    void characterClassesMatchHfForEveryCodePoint() {
        JsonNode ranges = Fixtures.json("unicode-classes.json").get("ranges");
        List<String> mismatches = new ArrayList<>();
        for (JsonNode r : ranges) {
            String cls = r.get(2).asText();
            if (cls.equals("S")) continue; // surrogates are not characters in UTF-8 text
            int want = switch (cls) {
                case "W" -> Gpt2PreTokenizer.WHITESPACE;
                case "L" -> Gpt2PreTokenizer.LETTER;
                case "N" -> Gpt2PreTokenizer.NUMBER;
                default -> Gpt2PreTokenizer.OTHER;
            };
            for (int cp = r.get(0).asInt(); cp <= r.get(1).asInt(); cp++) {
                if (Gpt2PreTokenizer.kind(cp) != want) mismatches.add(String.format("U+%04X:%s", cp, cls));
            }
        }
        assertTrue(mismatches.isEmpty(), () -> mismatches.size() + " code points classified unlike HF, e.g. "
                + mismatches.subList(0, Math.min(20, mismatches.size())));
    }

    @Test
    void roundTripsEveryFixtureText() {
        for (JsonNode c : FIXTURES.get("cases")) {
            String text = c.get("text").asText();
            assertEquals(text, FROM_JSON.decode(FROM_JSON.encode(text)), () -> "round trip of " + escape(text));
        }
    }

    @Test
    void endOfTextIsOneSpecialToken() {
        assertEquals(50256, FROM_FILES.eosToken());
        assertEquals(50256, FROM_JSON.eosToken());
        assertEquals(50257, FROM_JSON.vocabSize());
        assertArrayEquals(new int[] {64, 50256, 65}, FROM_FILES.encode("a<|endoftext|>b"));
        assertArrayEquals("<|endoftext|>".getBytes(StandardCharsets.UTF_8), FROM_FILES.tokenBytes(50256));
    }

    /** A long word skips the cache (HF ids for it are in the fixture); repeated encodes agree. */
    @Test
    void longWordEncodesTheSameTwice() {
        String word = "ab".repeat(200);
        int[] first = FROM_FILES.encode(word), second = FROM_FILES.encode(word);
        assertArrayEquals(first, second);
        assertEquals(word, FROM_FILES.decode(first));
    }

    @Test
    void concurrentEncodingAgreesWithSequential() throws Exception {
        Gpt2BpeTokenizer fresh = Gpt2BpeTokenizer.fromVocabAndMerges(DIR.resolve("vocab.json"), DIR.resolve("merges.txt"));
        List<String> texts = new ArrayList<>();
        List<int[]> want = new ArrayList<>();
        for (JsonNode c : FIXTURES.get("cases")) { texts.add(c.get("text").asText()); want.add(Fixtures.ints(c.get("ids"))); }
        try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                final int offset = t;
                results.add(pool.submit(() -> {
                    for (int k = 0; k < texts.size(); k++) {
                        int i = (k + offset * 97) % texts.size();
                        if (!Arrays.equals(want.get(i), fresh.encode(texts.get(i)))) return false;
                    }
                    return true;
                }));
            }
            for (Future<Boolean> f : results) assertTrue(f.get());
        }
    }

    /** tokenizer.json written by older HF versions stores merges as "a b" strings, not pairs. */
    @Test
    void mergesAsStringsLoadTheSame(@TempDir Path tmp) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = (ObjectNode) om.readTree(DIR.resolve("tokenizer.json").toFile());
        ArrayNode merges = (ArrayNode) root.get("model").get("merges");
        assertTrue(merges.get(0).isArray(), "fixture should use the pair form");
        ArrayNode asStrings = om.createArrayNode();
        merges.forEach(m -> asStrings.add(m.get(0).asText() + " " + m.get(1).asText()));
        ((ObjectNode) root.get("model")).set("merges", asStrings);
        Path file = tmp.resolve("tokenizer.json");
        om.writeValue(file.toFile(), root);
        Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.fromTokenizerJson(file);
        for (JsonNode c : FIXTURES.get("cases")) {
            assertArrayEquals(Fixtures.ints(c.get("ids")), tok.encode(c.get("text").asText()));
        }
    }

    /** A merge listed twice keeps its last rank in HF; the fixture's ids differ from the plain ones. */
    @Test
    void repeatedMergeKeepsItsLastRank(@TempDir Path tmp) throws IOException {
        JsonNode c = FIXTURES.get("duplicate_merge_case");
        Path merges = tmp.resolve("merges.txt");
        Files.copy(DIR.resolve("merges.txt"), merges);
        Files.writeString(merges, c.get("appended_line").asText() + "\n", StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.APPEND);
        Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.fromVocabAndMerges(DIR.resolve("vocab.json"), merges);
        String text = c.get("text").asText();
        assertArrayEquals(Fixtures.ints(c.get("ids")), tok.encode(text));
        assertFalse(Arrays.equals(Fixtures.ints(c.get("ids")), FROM_FILES.encode(text)));
    }

    /** HF cannot take unpaired surrogates (Rust strings are UTF-8); we encode them as U+FFFD. */
    @Test
    void unpairedSurrogateEncodesAsReplacementCharacter() {
        assertArrayEquals(FROM_FILES.encode("a\uFFFDb \uFFFD"), FROM_FILES.encode("a\uD800b \uDC00"));
    }

    @Test
    void badIdIsAnError() {
        TokenizerException e = assertThrows(TokenizerException.class, () -> FROM_FILES.tokenBytes(50257));
        assertEquals("token id 50257 is not in the vocabulary (ids 0..50256)", e.getMessage());
        assertThrows(TokenizerException.class, () -> FROM_FILES.tokenBytes(-1));
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder("\"");
        s.codePoints().limit(80).forEach(cp -> {
            if (cp < 0x20 || cp > 0x7E) sb.append(String.format("\\u{%X}", cp)); else sb.appendCodePoint(cp);
        });
        return sb.append('"').toString();
    }
}
