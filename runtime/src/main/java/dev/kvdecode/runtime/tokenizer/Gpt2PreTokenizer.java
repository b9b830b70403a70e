package dev.kvdecode.runtime.tokenizer;

/**
 * GPT-2's pre-tokenizer: splits text into the words that BPE runs on, exactly as the regex
 * <pre>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</pre>
 * (OpenAI gpt-2 encoder.py; HF tokenizers' ByteLevel pre-tokenizer, run by Oniguruma) does with
 * leftmost-first alternation. It is a hand-written scanner rather than java.util.regex because
 * Java's {@code \s} is ASCII-only unless UNICODE_CHARACTER_CLASS is set, which also changes
 * other classes, and a scanner is several times faster on big texts. Character classes:
 * {@code \s} is Unicode White_Space (what Oniguruma uses, checked against HF for every code point
 * in the tests), {@code \p{L}}/{@code \p{N}} are the general categories L* and N*.
 */
final class Gpt2PreTokenizer {
    static final int WHITESPACE = 0, LETTER = 1, NUMBER = 2, OTHER = 3;

    private static final byte[] ASCII_KIND = new byte[128];

    static {
        for (int c = 0; c < 128; c++) ASCII_KIND[c] = (byte) classifySlow(c);
    }

    /** Receives one piece as the half-open char range [start, end) of the text. */
    interface PieceSink { void piece(int start, int end); }

    private Gpt2PreTokenizer() {}

    static int kind(int cp) { return cp < 128 ? ASCII_KIND[cp] : classifySlow(cp); }

    private static int classifySlow(int cp) {
        if (isWhiteSpace(cp)) return WHITESPACE;
        return switch (Character.getType(cp)) {
            case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                 Character.MODIFIER_LETTER, Character.OTHER_LETTER -> LETTER;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            default -> OTHER;
        };
    }

    /** The Unicode White_Space property (PropList.txt); all of it lies in the BMP. */
    static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
                || cp == 0x205F || cp == 0x3000;
    }

    /** Splits text[from, to) into pieces, in order; the pieces cover the range exactly. */
    static void split(String text, int from, int to, PieceSink sink) {
        int i = from;
        while (i < to) {
            char c = text.charAt(i);
            // 's|'t|'re|'ve|'m|'ll|'d: only ASCII apostrophe and lower case, as in the regex.
            if (c == '\'' && i + 1 < to) {
                char c1 = text.charAt(i + 1);
                if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') { sink.piece(i, i + 2); i += 2; continue; }
                if (i + 2 < to) {
                    char c2 = text.charAt(i + 2);
                    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
                        sink.piece(i, i + 3); i += 3; continue;
                    }
                }
            }
            int cp = text.codePointAt(i);
            int k = kind(cp);
            int p = i + Character.charCount(cp);
            // " ?X+": one optional ASCII space joins the run of letters, digits or others after it.
            if (cp == ' ' && p < to) {
                int next = text.codePointAt(p);
                int nk = kind(next);
                if (nk != WHITESPACE) { k = nk; p += Character.charCount(next); }
            }
            if (k != WHITESPACE) {
                while (p < to) {
                    int q = text.codePointAt(p);
                    if (kind(q) != k) break;
                    p += Character.charCount(q);
                }
                sink.piece(i, p);
                i = p;
                continue;
            }
            // \s+(?!\S) | \s+ : a whitespace run, minus its last character when a non-space
            // follows (that one joins the next word as its " ?" prefix, or stands alone).
            int j = p; // White_Space is all BMP, so one char per code point here
            while (j < to && kind(text.charAt(j)) == WHITESPACE) j++;
            int end = (j == to || j - 1 == i) ? j : j - 1;
            sink.piece(i, end);
            i = end;
        }
    }
}
