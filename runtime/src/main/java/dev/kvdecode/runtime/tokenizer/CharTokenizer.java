package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * One token per character (the tutorial's char model): chars.json is a JSON array of
 * one-character strings and a character's id is its index. A "character" is one Unicode code
 * point, so the vocabulary may hold characters outside the BMP. There is no end-of-text token.
 */
public final class CharTokenizer implements Tokenizer {
    private final String source;          // file name for messages, e.g. "chars.json"
    private final int[] chars;            // id -> code point
    private final byte[][] utf8;          // id -> UTF-8 bytes
    private final int[] bmpIds = new int[0x10000];          // code point -> id, -1 if absent
    private final Map<Integer, Integer> supplementaryIds = new HashMap<>();

    private CharTokenizer(Path file, int[] chars) {
        this.source = file.getFileName() == null ? file.toString() : file.getFileName().toString();
        this.chars = chars;
        this.utf8 = new byte[chars.length][];
        Arrays.fill(bmpIds, -1);
        for (int id = 0; id < chars.length; id++) {
            int cp = chars[id];
            int prior = idOf(cp);
            if (prior >= 0) {
                throw new TokenizerException(file + ": character " + describe(cp) + " appears twice (ids " + prior + " and " + id + ")");
            }
            if (cp < 0x10000) bmpIds[cp] = id;
            else supplementaryIds.put(cp, id);
            utf8[id] = Character.toString(cp).getBytes(StandardCharsets.UTF_8);
        }
    }

    /** Reads chars.json: a non-empty JSON array of distinct one-character strings. */
    public static CharTokenizer fromFile(Path charsJson) {
        JsonNode root = Gpt2BpeTokenizer.readJson(charsJson);
        if (!root.isArray() || root.isEmpty()) {
            throw new TokenizerException(charsJson + ": expected a non-empty JSON array of one-character strings");
        }
        int[] chars = new int[root.size()];
        for (int i = 0; i < root.size(); i++) {
            JsonNode e = root.get(i);
            String s = e.isTextual() ? e.asText() : null;
            if (s == null || s.isEmpty() || s.codePointCount(0, s.length()) != 1 || Character.isSurrogate(s.charAt(0)) && s.length() == 1) {
                throw new TokenizerException(charsJson + ": entry " + i + " is " + Gpt2BpeTokenizer.printable(e.toString(), 40)
                        + ", expected a string of exactly one character");
            }
            chars[i] = s.codePointAt(0);
        }
        return new CharTokenizer(charsJson, chars);
    }

    private int idOf(int cp) {
        if (cp < 0x10000) return bmpIds[cp];
        Integer id = supplementaryIds.get(cp);
        return id == null ? -1 : id;
    }

    /**
     * Ids of a text; a character outside the vocabulary is an error naming it, e.g.
     * {@code prompt: character 'é' (U+00E9) is not in the model's vocabulary (chars.json)}.
     */
    @Override
    public int[] encode(String text) { return encode(text, "prompt"); }

    /** As {@link #encode(String)}, with {@code what} (e.g. a file name) leading the error message. */
    public int[] encode(String text, String what) {
        int[] out = new int[text.length()];
        int n = 0;
        for (int i = 0; i < text.length(); ) {
            char c = text.charAt(i);
            int cp = c, id;
            if (!Character.isSurrogate(c)) {
                id = bmpIds[c];
                i++;
            } else {
                cp = text.codePointAt(i); // an unpaired surrogate stays itself and is not found
                id = Character.isSupplementaryCodePoint(cp) ? idOf(cp) : -1;
                i += Character.charCount(cp);
            }
            if (id < 0) throw unknown(what, cp);
            out[n++] = id;
        }
        return Arrays.copyOf(out, n);
    }

    private TokenizerException unknown(String what, int cp) {
        return new TokenizerException(what + ": character " + describe(cp) + " is not in the model's vocabulary (" + source + ")");
    }

    /** 'é' (U+00E9), or just U+000A for characters that would break the line or be invisible. */
    static String describe(int cp) {
        String code = String.format("U+%04X", cp);
        boolean visible = !Character.isISOControl(cp) && !Character.isWhitespace(cp) && !Character.isSpaceChar(cp)
                && Character.getType(cp) != Character.FORMAT && Character.getType(cp) != Character.SURROGATE
                && Character.getType(cp) != Character.UNASSIGNED;
        return visible ? "'" + Character.toString(cp) + "' (" + code + ")" : code;
    }

    @Override
    public byte[] tokenBytes(int id) {
        if (id < 0 || id >= utf8.length) {
            throw new TokenizerException("token id " + id + " is not in the vocabulary of " + source + " (ids 0.." + (utf8.length - 1) + ")");
        }
        return utf8[id].clone();
    }

    /** Decodes without the UTF-8 round trip: every id is one whole character. */
    @Override
    public String decode(int[] ids) {
        StringBuilder sb = new StringBuilder(ids.length);
        for (int id : ids) {
            if (id < 0 || id >= chars.length) tokenBytes(id); // throws the message
            sb.appendCodePoint(chars[id]);
        }
        return sb.toString();
    }

    @Override public int vocabSize() { return chars.length; }

    @Override public int eosToken() { return -1; }
}
