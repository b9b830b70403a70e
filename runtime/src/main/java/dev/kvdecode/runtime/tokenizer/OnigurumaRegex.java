package dev.kvdecode.runtime.tokenizer;

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
}
