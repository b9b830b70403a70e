package dev.kvdecode.runtime.tokenizer;

import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Compiles a pre-tokenizer regex from a tokenizer.json, written for Oniguruma (the engine Hugging
 * Face tokenizers runs), with java.util.regex. Both are backtracking engines with leftmost-first
 * alternation and the same syntax for what these files use ({@code \p{L}}, {@code \p{N}},
 * {@code (?!...)}, {@code (?i:...)}, possessive {@code ?+ *+ ++}, counted repeats), so only
 * the classes whose meaning differs are rewritten:
 * <ul>
 *   <li>{@code \s} / {@code \S}: Oniguruma matches Unicode White_Space, Java only ASCII space
 *       characters -> {@code \p{IsWhite_Space}} / {@code \P{IsWhite_Space}} (also inside [...]);</li>
 *   <li>{@code (?i)}: Oniguruma folds case over all of Unicode (the long s, U+017F, matches
 *       {@code s}), Java only ASCII -> {@code (?iu)};</li>
 *   <li>{@code \h} / {@code \H}: a hex digit in Oniguruma, horizontal space in Java -> {@code [0-9a-fA-F]}.</li>
 * </ul>
 * UNICODE_CHARACTER_CLASS is not used because it also changes {@code \b}, {@code \w} and
 * {@code \d} in ways that need their own checks against HF.
 * <p>
 * The pattern is the file's, and a backtracking engine can take exponential time on a pattern
 * like {@code ((a+)+)+b} (or recurse past the thread's stack on {@code (?:a|b)+}), on every prompt:
 * {@link #matcher} and {@link #bounded} bound the work of one text to
 * {@link #READS_PER_CHAR} character reads per character (a budget proportional to the text,
 * counted by a CharSequence wrapper: java.util.regex reads its input only through charAt), and
 * turn either runaway into a one-line {@link TokenizerException} naming the file and field.
 */
final class OnigurumaRegex {
    private OnigurumaRegex() {}

    /** The Java form of an Oniguruma pattern (see the class comment). */
    static String toJava(String onig) {
        StringBuilder sb = new StringBuilder(onig.length() + 32);
        int classDepth = 0;
        for (int i = 0; i < onig.length(); i++) {
            char c = onig.charAt(i);
            if (c == '\\' && i + 1 < onig.length()) {
                char e = onig.charAt(++i);
                switch (e) {
                    case 's' -> sb.append("\\p{IsWhite_Space}");
                    case 'S' -> sb.append("\\P{IsWhite_Space}");
                    case 'h' -> sb.append(classDepth > 0 ? "0-9a-fA-F" : "[0-9a-fA-F]");
                    case 'H' -> {
                        if (classDepth > 0) throw new PatternSyntaxException("\\H inside a character class is not supported", onig, i);
                        sb.append("[^0-9a-fA-F]");
                    }
                    default -> sb.append('\\').append(e);
                }
                continue;
            }
            if (c == '[') classDepth++;
            else if (c == ']' && classDepth > 0) classDepth--;
            else if (c == '(' && classDepth == 0 && onig.startsWith("(?", i)) {
                // (?i: (?i) (?mi- ...: add u wherever i is switched on
                int j = i + 2;
                while (j < onig.length() && Character.isLetter(onig.charAt(j))) j++;
                String flags = onig.substring(i + 2, j);
                if (flags.indexOf('i') >= 0 && flags.indexOf('u') < 0) {
                    sb.append("(?").append(flags).append('u');
                    i = j - 1;
                    continue;
                }
            }
            sb.append(c);
        }
        return sb.toString();
    }

    static Pattern compile(String onig) { return Pattern.compile(toJava(onig)); }

    /**
     * Character reads a match may spend per character of its text (plus one character's worth).
     * The Llama 3 and Qwen3 Split patterns spend at most 10, on long runs of each character
     * class and on mixed text (RegexBudgetTest); ((a+)+)+b on 24 a's and a '!' spends 151 M.
     */
    static final long READS_PER_CHAR = 1_000;

    /** A matcher of p on text whose reads are bounded; where names the regex ("file: field") in the error. */
    static Matcher matcher(Pattern p, String text, String where) {
        return p.matcher(new Budgeted(text, READS_PER_CHAR * (text.length() + 1L), where));
    }

    /** The character reads of finding every match of p in text (tests size {@link #READS_PER_CHAR} by it). */
    static long readsToFindAll(Pattern p, String text) {
        Budgeted t = new Budgeted(text, Long.MAX_VALUE, "unbounded");
        Matcher m = p.matcher(t);
        while (m.find()) { /* count only */ }
        return Long.MAX_VALUE - t.left;
    }

    /** Runs a match of a {@link #matcher}, with a stack overflow (deep recursion in java.util.regex) a one-line error. */
    static <T> T bounded(String where, String text, Supplier<T> match) {
        try {
            return match.get();
        } catch (StackOverflowError e) {
            throw new TokenizerLimitException(where + ": the regex recursed past the thread's stack on a text of "
                    + String.format("%,d", text.length()) + " characters (a repeated group; java.util.regex recurses once per repetition)");
        }
    }

    /** The text, read by the matcher through charAt; reads past the budget throw. */
    private static final class Budgeted implements CharSequence {
        private final String text, where;
        private final long budget;
        private long left;

        Budgeted(String text, long budget, String where) {
            this.text = text;
            this.where = where;
            this.budget = budget;
            this.left = budget;
        }

        @Override
        public char charAt(int index) {
            if (--left < 0) {
                throw new TokenizerLimitException(where + ": the regex gave up after " + String.format("%,d", budget)
                        + " character reads on a text of " + String.format("%,d", text.length())
                        + " characters (catastrophic backtracking)");
            }
            return text.charAt(index);
        }

        @Override public int length() { return text.length(); }
        @Override public CharSequence subSequence(int start, int end) { return text.substring(start, end); }
        @Override public String toString() { return text; }
    }
}
