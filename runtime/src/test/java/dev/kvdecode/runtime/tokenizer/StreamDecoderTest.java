package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Streaming decode never emits part of a character, and agrees with HF's whole-sequence decode. */
class StreamDecoderTest {
    private static final Path DIR = Fixtures.gpt2Dir();
    private static final Gpt2BpeTokenizer TOK =
            Gpt2BpeTokenizer.fromVocabAndMerges(DIR.resolve("vocab.json"), DIR.resolve("merges.txt"));
    private static final JsonNode FIXTURES = Fixtures.json("fixtures.json");

    /** One byte-level token per byte: the finest split a byte-level BPE can produce. */
    private static int[] byteTokens(byte[] bytes) {
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) ids[i] = BYTE_IDS[bytes[i] & 0xFF];
        return ids;
    }

    private static final int[] BYTE_IDS = new int[256];

    static {
        // The byte tokens' ids, found independently of the tokenizer's own byte map: the token
        // whose bytes are exactly {b}.
        java.util.Arrays.fill(BYTE_IDS, -1);
        for (int id = 0; id < TOK.vocabSize(); id++) {
            byte[] bs = TOK.tokenBytes(id);
            if (bs.length == 1 && BYTE_IDS[bs[0] & 0xFF] < 0) BYTE_IDS[bs[0] & 0xFF] = id;
        }
    }

    private static List<String> stream(int[] ids) {
        StreamDecoder d = TOK.streamDecoder();
        List<String> chunks = new ArrayList<>();
        for (int id : ids) chunks.add(d.push(id));
        chunks.add(d.flush());
        return chunks;
    }

    private static void assertWholeCharacters(List<String> chunks, String context) {
        for (String c : chunks) {
            for (int i = 0; i < c.length(); i++) {
                char ch = c.charAt(i);
                boolean paired = Character.isHighSurrogate(ch) ? i + 1 < c.length() && Character.isLowSurrogate(c.charAt(++i))
                        : !Character.isLowSurrogate(ch);
                assertTrue(paired, () -> "chunk with half a surrogate pair while decoding " + context);
            }
        }
    }

    @Test
    void byteByByteStreamingNeverSplitsACharacter() {
        for (JsonNode c : FIXTURES.get("cases")) {
            String text = c.get("text").asText();
            List<String> chunks = stream(byteTokens(text.getBytes(StandardCharsets.UTF_8)));
            assertWholeCharacters(chunks, Gpt2BpeTokenizerTest.escape(text));
            String joined = String.join("", chunks);
            assertEquals(text, joined, () -> "streamed " + Gpt2BpeTokenizerTest.escape(text));
            assertFalse(joined.contains("\uFFFD") && !text.contains("\uFFFD"));
        }
    }

    @Test
    void realTokensThatSplitAnEmojiHoldItBack() {
        // HF splits 🫠 (F0 9F AB A0) and the ZWJ family into tokens that end inside a character.
        for (String text : new String[] {"🫠 new emoji", "👩‍👩‍👧‍👦", "👍🏽", "🏳️‍🌈", "a 😀 b"}) {
            int[] ids = TOK.encode(text);
            StreamDecoder d = TOK.streamDecoder();
            StringBuilder sb = new StringBuilder();
            int heldBack = 0;
            for (int id : ids) {
                String chunk = d.push(id);
                byte[] tb = TOK.tokenBytes(id);
                // A token whose bytes end mid-character must not produce that character yet.
                assertFalse(chunk.contains("\uFFFD"), "replacement char emitted mid-stream");
                if (chunk.isEmpty() && tb.length > 0) heldBack++;
                sb.append(chunk);
                assertTrue(text.startsWith(sb.toString()), "emitted text is always a prefix of the whole");
            }
            sb.append(d.flush());
            assertEquals(text, sb.toString());
            if (text.startsWith("👩")) assertTrue(heldBack > 0, "fixture should split a character across tokens");
        }
    }

    @Test
    void emojiSplitAcrossByteTokensAppearsOnlyWhenComplete() {
        int[] ids = byteTokens("😀".getBytes(StandardCharsets.UTF_8)); // F0 9F 98 80
        StreamDecoder d = TOK.streamDecoder();
        assertEquals("", d.push(ids[0]));
        assertEquals("", d.push(ids[1]));
        assertEquals("", d.push(ids[2]));
        assertEquals("😀", d.push(ids[3]));
        assertEquals("", d.flush());
    }

    @Test
    void flushTurnsADanglingPartialCharacterIntoReplacement() {
        int[] ids = byteTokens(new byte[] {'A', (byte) 0xF0, (byte) 0x9F, (byte) 0x98});
        StreamDecoder d = TOK.streamDecoder();
        assertEquals("A", d.push(ids[0]));
        assertEquals("", d.push(ids[1]));
        assertEquals("", d.push(ids[2]));
        assertEquals("", d.push(ids[3]));
        assertEquals("\uFFFD", d.flush());
        // The decoder is reusable after a flush.
        assertEquals("B", d.push(byteTokens(new byte[] {'B'})[0]));
        assertEquals("", d.flush());
    }

    /** Invalid UTF-8 becomes U+FFFD exactly where HF's decode puts it (maximal subparts). */
    @Test
    void invalidBytesDecodeLikeHf() {
        for (JsonNode c : FIXTURES.get("decode_cases")) {
            int[] ids = Fixtures.ints(c.get("ids"));
            String want = c.get("text").asText();
            String hex = c.get("bytes").asText();
            assertArrayEquals(byteTokens(java.util.HexFormat.of().parseHex(hex)), ids, "fixture ids are byte tokens");
            assertEquals(want, TOK.decode(ids), () -> "decode of bytes " + hex);
            List<String> chunks = stream(ids);
            assertEquals(want, String.join("", chunks), () -> "streamed decode of bytes " + hex);
            assertWholeCharacters(chunks, hex);
        }
    }
}
