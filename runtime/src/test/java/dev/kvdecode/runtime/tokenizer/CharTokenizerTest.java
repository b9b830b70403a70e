package dev.kvdecode.runtime.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class CharTokenizerTest {
    /** The tutorial's vocabulary: the 65 sorted distinct characters of Tiny Shakespeare. */
    static final String SHAKESPEARE_CHARS = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    static Path writeChars(Path dir, String json) throws IOException {
        Path f = dir.resolve("chars.json");
        Files.writeString(f, json, StandardCharsets.UTF_8);
        return f;
    }

    static String jsonArrayOf(String chars) {
        StringBuilder sb = new StringBuilder("[");
        chars.codePoints().forEach(cp -> {
            if (sb.length() > 1) sb.append(',');
            String c = Character.toString(cp);
            sb.append('"').append(c.equals("\n") ? "\\n" : c.equals("\"") ? "\\\"" : c.equals("\\") ? "\\\\" : c).append('"');
        });
        return sb.append(']').toString();
    }

    @Test
    void idsAreIndicesAndRoundTrip(@TempDir Path tmp) throws IOException {
        assertEquals(65, SHAKESPEARE_CHARS.length());
        CharTokenizer tok = CharTokenizer.fromFile(writeChars(tmp, jsonArrayOf(SHAKESPEARE_CHARS)));
        assertEquals(65, tok.vocabSize());
        assertEquals(-1, tok.eosToken());
        // Expected ids written out by hand from the sorted alphabet: '\n'=0 ' '=1 'A'=13 'a'=39 'z'=64.
        assertArrayEquals(new int[] {13, 39, 64, 1, 0}, tok.encode("Aaz \n"));
        String text = "First Citizen:\nBefore we proceed any further, hear me speak.\n";
        int[] ids = tok.encode(text);
        assertEquals(text.length(), ids.length);
        for (int i = 0; i < ids.length; i++) assertEquals(text.charAt(i), SHAKESPEARE_CHARS.charAt(ids[i]));
        assertEquals(text, tok.decode(ids));
        StringBuilder streamed = new StringBuilder();
        StreamDecoder d = tok.streamDecoder();
        for (int id : ids) streamed.append(d.push(id));
        assertEquals(text, streamed.append(d.flush()).toString());
    }

    @Test
    void charactersOutsideTheBmpAreOneToken(@TempDir Path tmp) throws IOException {
        CharTokenizer tok = CharTokenizer.fromFile(writeChars(tmp, jsonArrayOf("ab😀é𝐀")));
        assertArrayEquals(new int[] {2, 0, 4, 3, 1}, tok.encode("😀a𝐀éb"));
        assertEquals("😀a𝐀éb", tok.decode(tok.encode("😀a𝐀éb")));
        assertArrayEquals("😀".getBytes(StandardCharsets.UTF_8), tok.tokenBytes(2));
    }

    @Test
    void unknownCharacterIsAOneLineError(@TempDir Path tmp) throws IOException {
        CharTokenizer tok = CharTokenizer.fromFile(writeChars(tmp, jsonArrayOf(SHAKESPEARE_CHARS)));
        TokenizerException e = assertThrows(TokenizerException.class, () -> tok.encode("café"));
        assertEquals("prompt: character 'é' (U+00E9) is not in the model's vocabulary (chars.json)", e.getMessage());
        e = assertThrows(TokenizerException.class, () -> tok.encode("a\tb", "input.txt"));
        assertEquals("input.txt: character U+0009 is not in the model's vocabulary (chars.json)", e.getMessage());
        e = assertThrows(TokenizerException.class, () -> tok.encode("hi 😀"));
        assertEquals("prompt: character '😀' (U+1F600) is not in the model's vocabulary (chars.json)", e.getMessage());
        e = assertThrows(TokenizerException.class, () -> tok.encode("a\uD800b"));
        assertEquals("prompt: character U+D800 is not in the model's vocabulary (chars.json)", e.getMessage());
        e = assertThrows(TokenizerException.class, () -> tok.tokenBytes(65));
        assertEquals("token id 65 is not in the vocabulary of chars.json (ids 0..64)", e.getMessage());
    }

    @Test
    void badVocabularyFilesAreOneLineErrors(@TempDir Path tmp) throws IOException {
        assertBadFile(tmp, "[\"a\", \"bc\"]", "chars.json: entry 1 is \"bc\", expected a string of exactly one character");
        assertBadFile(tmp, "[\"a\", 7]", "chars.json: entry 1 is 7, expected a string of exactly one character");
        assertBadFile(tmp, "[\"a\", \"\"]", "chars.json: entry 1 is \"\", expected a string of exactly one character");
        assertBadFile(tmp, "[\"a\", \"b\", \"a\"]", "chars.json: character 'a' (U+0061) appears twice (ids 0 and 2)");
        assertBadFile(tmp, "[]", "chars.json: expected a non-empty JSON array of one-character strings");
        assertBadFile(tmp, "{\"a\": 0}", "chars.json: expected a non-empty JSON array of one-character strings");
        assertBadFile(tmp, "[\"a\", ", "chars.json: not valid JSON at line 1, column 7: Unexpected end-of-input");
        TokenizerException e = assertThrows(TokenizerException.class, () -> CharTokenizer.fromFile(tmp.resolve("nope.json")));
        assertEquals(tmp.resolve("nope.json") + ": cannot read: no such file", e.getMessage());
    }

    private static void assertBadFile(Path tmp, String json, String messageAfterDir) throws IOException {
        Path f = writeChars(tmp, json);
        TokenizerException e = assertThrows(TokenizerException.class, () -> CharTokenizer.fromFile(f));
        String msg = e.getMessage();
        assertFalse(msg.contains("\n"), () -> "multi-line message: " + msg);
        assertTrue(msg.startsWith(tmp + "/"), msg);
        String rest = msg.substring(tmp.toString().length() + 1);
        if (messageAfterDir.contains("not valid JSON")) assertTrue(rest.startsWith(messageAfterDir), rest);
        else assertEquals(messageAfterDir, rest);
    }
}
