package dev.kvdecode.server;

import dev.kvdecode.runtime.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Stop strings across tokens and the held-back tail, on a byte tokenizer (one token per byte). */
class TextStreamTest {
    /** Token id = byte value: a multi-byte character spans several tokens. */
    static final Tokenizer BYTES = new Tokenizer() {
        public int[] encode(String text) {
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            int[] ids = new int[b.length];
            for (int i = 0; i < b.length; i++) ids[i] = b[i] & 0xFF;
            return ids;
        }
        public byte[] tokenBytes(int id) { return new byte[] {(byte) id}; }
        public int vocabSize() { return 256; }
        public int eosToken() { return -1; }
    };

    /** Pushes the text's tokens; returns what was sent, with '|' between sends, and whether it stopped. */
    static String run(String text, List<String> stops) {
        TextStream ts = new TextStream(BYTES, stops);
        StringBuilder sb = new StringBuilder();
        for (int id : BYTES.encode(text)) {
            String s = ts.push(id);
            if (!s.isEmpty()) sb.append(s).append('|');
            if (ts.stopFound()) return sb + "STOP";
        }
        return sb + ts.finish();
    }

    @Test
    void stopSpanningTokensIsNeverSent() {
        assertEquals("a|b|STOP", run("abEND more", List.of("END")));
        // "E" and "EN" are held back while they may still become "END", then released together
        assertEquals("a|ENx|y|", run("aENxy", List.of("END")));
        // only the tail that may still start the stop string is held: the first E goes out
        assertEquals("x|E|STOP", run("xEEEND", List.of("EEND")));
        // the end of the sequence releases the held-back tail
        assertEquals("x|EN", run("xEN", List.of("END")));
    }

    @Test
    void earliestStopWins() {
        assertEquals("a|STOP", run("abcd", List.of("cd", "bcd")));
    }

    @Test
    void utf8CharactersAreNeverSplit() {
        String text = "h\u00e9\u20ac\uD83D\uDE00!";   // 1, 2, 3 and 4 bytes
        TextStream ts = new TextStream(BYTES, List.of());
        StringBuilder sb = new StringBuilder();
        for (int id : BYTES.encode(text)) {
            String s = ts.push(id);
            assertFalse(s.contains("\uFFFD"), "a character was split");
            if (!s.isEmpty()) assertFalse(Character.isHighSurrogate(s.charAt(s.length() - 1)), "a surrogate pair was split");
            sb.append(s);
        }
        assertEquals(text, sb + ts.finish());
    }
}
