package dev.kvdecode.runtime.tokenizer;

/**
 * GPT-2's reversible byte -> printable character map ("bytes_to_unicode" in OpenAI's gpt-2
 * encoder.py): BPE vocabularies store every token as a string of these characters, one per byte,
 * so that no token contains whitespace or control characters. Printable Latin-1 bytes map to
 * themselves; the other 68 bytes map, in byte order, to U+0100, U+0101, ...
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    /** Indexed by char (all mapped chars are below U+0144); -1 where a char is not in the map. */
    private static final int[] CHAR_TO_BYTE = new int[0x200];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = (char) (printable ? b : next++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {}

    static char charOf(int unsignedByte) { return BYTE_TO_CHAR[unsignedByte]; }

    /** The byte a vocabulary character stands for, or -1 if it is not one of the 256. */
    static int byteOf(char c) { return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1; }

    /**
     * The raw bytes of a vocabulary token. A token with a character outside the map (an added
     * token in a tokenizer.json) stands for its own UTF-8 bytes, as HF's ByteLevel decoder does.
     */
    static byte[] tokenBytes(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            int b = byteOf(token.charAt(i));
            if (b < 0) return token.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            out[i] = (byte) b;
        }
        return out;
    }
}
