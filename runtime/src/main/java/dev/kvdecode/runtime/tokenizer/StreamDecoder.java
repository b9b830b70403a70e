package dev.kvdecode.runtime.tokenizer;

import java.util.Arrays;

/**
 * Turns a stream of token ids into text without ever splitting a multi-byte UTF-8 character:
 * bytes of an incomplete character are held back until the tokens that complete it arrive.
 * Invalid bytes become U+FFFD exactly where Hugging Face's byte-level decoder (Rust's
 * String::from_utf8_lossy) puts them: one U+FFFD per maximal subpart of an ill-formed sequence
 * (The Unicode Standard, ch. 3, "U+FFFD Substitution of Maximal Subparts", table 3-7).
 * java.nio's UTF-8 decoder is not used because it replaces some sequences differently (e.g. the
 * encoded surrogate ED A0 80 becomes one U+FFFD instead of three). One decoder per sequence; not
 * thread-safe.
 */
public final class StreamDecoder {
    private final Tokenizer tokenizer;
    private byte[] pending = new byte[16];
    private int pendingBytes;
    private final int stripLeadingSpaces;
    private int spacesToStrip;

    public StreamDecoder(Tokenizer tokenizer) { this(tokenizer, 0); }

    /**
     * stripLeadingSpaces: up to this many spaces at the start of the sequence's text are dropped
     * (HF's Strip decoder after Fuse, and Metaspace's leading replacement, in SentencePiece
     * tokenizers: "Hello" encodes as "▁Hello").
     */
    public StreamDecoder(Tokenizer tokenizer, int stripLeadingSpaces) {
        this.tokenizer = tokenizer;
        this.stripLeadingSpaces = stripLeadingSpaces;
        this.spacesToStrip = stripLeadingSpaces;
    }

    /** Adds one token; returns the text that is now complete (possibly empty). */
    public String push(int id) {
        byte[] bytes = tokenizer.tokenBytes(id);
        int skip = 0;
        while (spacesToStrip > 0 && skip < bytes.length) {
            if (bytes[skip] == ' ') { skip++; spacesToStrip--; } else spacesToStrip = 0;
        }
        if (skip > 0) bytes = java.util.Arrays.copyOfRange(bytes, skip, bytes.length);
        if (pendingBytes + bytes.length > pending.length) {
            pending = Arrays.copyOf(pending, Math.max(pending.length * 2, pendingBytes + bytes.length));
        }
        System.arraycopy(bytes, 0, pending, pendingBytes, bytes.length);
        pendingBytes += bytes.length;
        return drain(false);
    }

    /** Ends the sequence: a held-back incomplete character becomes U+FFFD. The decoder can then be reused. */
    public String flush() {
        spacesToStrip = stripLeadingSpaces;
        return drain(true);
    }

    private String drain(boolean endOfInput) {
        StringBuilder out = new StringBuilder(pendingBytes);
        int i = decodeUtf8(pending, pendingBytes, endOfInput, out);
        System.arraycopy(pending, i, pending, 0, pendingBytes - i); // keep an incomplete trailing character
        pendingBytes -= i;
        return out.toString();
    }

    /**
     * Appends the text of buf[0, n) to out; returns how many bytes were consumed, which is less
     * than n only when the input is not ended and it ends inside a character that may still be
     * completed.
     */
    static int decodeUtf8(byte[] buf, int n, boolean endOfInput, StringBuilder out) {
        int i = 0;
        outer:
        while (i < n) {
            int b0 = buf[i] & 0xFF;
            if (b0 < 0x80) { out.append((char) b0); i++; continue; }
            int len, lo = 0x80, hi = 0xBF; // allowed range of the second byte (table 3-7)
            if (b0 >= 0xC2 && b0 <= 0xDF) len = 2;
            else if (b0 == 0xE0) { len = 3; lo = 0xA0; }
            else if (b0 == 0xED) { len = 3; hi = 0x9F; } // no encoded surrogates
            else if (b0 >= 0xE1 && b0 <= 0xEF) len = 3;
            else if (b0 == 0xF0) { len = 4; lo = 0x90; }
            else if (b0 == 0xF4) { len = 4; hi = 0x8F; } // nothing above U+10FFFF
            else if (b0 >= 0xF1 && b0 <= 0xF3) len = 4;
            else { out.append('\uFFFD'); i++; continue; } // 80..C1, F5..FF never start a character
            int cp = b0 & (0xFF >> (len + 1));
            for (int k = 1; k < len; k++) {
                if (i + k >= n) {
                    if (!endOfInput) return i; // wait for the rest of the character
                    out.append('\uFFFD');
                    return n;
                }
                int c = buf[i + k] & 0xFF;
                if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) {
                    out.append('\uFFFD'); // the valid prefix so far is one maximal subpart
                    i += k;
                    continue outer;
                }
                cp = (cp << 6) | (c & 0x3F);
            }
            out.appendCodePoint(cp);
            i += len;
        }
        return n;
    }
}
