package dev.kvdecode.runtime.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Added tokens (special or not) are cut out of the text before anything else runs on it, so they
 * are never split: at each position the longest token wins, the leftmost position first (HF
 * matches them with a leftmost-longest Aho-Corasick automaton). lstrip/rstrip make a match also
 * swallow the whitespace before/after it; single_word accepts a match only where no word
 * character touches it.
 */
final class AddedTokens {
    record Token(String content, int id, boolean lstrip, boolean rstrip, boolean singleWord) {}

    /** Receives the text between matches ([from, to) of the searched text) and the matches, in order. */
    interface Sink {
        void text(int from, int to);
        void token(int id);
    }

    private final Map<Character, List<Token>> byFirstChar = new HashMap<>(); // longest first

    AddedTokens(List<Token> tokens) {
        for (Token t : tokens) byFirstChar.computeIfAbsent(t.content().charAt(0), k -> new ArrayList<>()).add(t);
        for (List<Token> l : byFirstChar.values()) l.sort((a, b) -> b.content().length() - a.content().length());
    }

    boolean isEmpty() { return byFirstChar.isEmpty(); }

    void split(String text, Sink sink) {
        int textFrom = 0;
        for (int i = 0; i < text.length(); ) {
            List<Token> candidates = byFirstChar.get(text.charAt(i));
            Token hit = null;
            if (candidates != null) {
                for (Token t : candidates) {
                    if (text.startsWith(t.content(), i) && (!t.singleWord() || isWordBoundary(text, i, i + t.content().length()))) {
                        hit = t;
                        break;
                    }
                }
            }
            if (hit == null) { i++; continue; }
            int start = i, end = i + hit.content().length();
            if (hit.lstrip()) while (start > textFrom && Character.isWhitespace(text.charAt(start - 1))) start--;
            if (hit.rstrip()) while (end < text.length() && Character.isWhitespace(text.charAt(end))) end++;
            sink.text(textFrom, start);
            sink.token(hit.id());
            textFrom = end;
            i = end;
        }
        sink.text(textFrom, text.length());
    }

    private static boolean isWordBoundary(String text, int start, int end) {
        return (start == 0 || !isWordChar(text.codePointBefore(start)))
                && (end == text.length() || !isWordChar(text.codePointAt(end)));
    }

    private static boolean isWordChar(int cp) { return Character.isLetterOrDigit(cp) || cp == '_'; }
}
