package dev.kvdecode.server;

import dev.kvdecode.runtime.tokenizer.StreamDecoder;
import dev.kvdecode.runtime.tokenizer.Tokenizer;

import java.util.List;

/**
 * One sequence's text as its tokens arrive: decoded with {@link StreamDecoder} (never split inside
 * a UTF-8 character), and cut at the first stop string, which may span tokens. Text that could
 * still become the start of a stop string is held back until the next token decides it, so
 * nothing of a stop string is ever sent. Not thread-safe.
 */
final class TextStream {
    private final StreamDecoder decoder;
    private final List<String> stops;
    private final int holdBack;                 // longest stop string - 1
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    TextStream(Tokenizer tokenizer, List<String> stops) {
        this.decoder = tokenizer.streamDecoder();
        this.stops = List.copyOf(stops);
        int longest = 0;
        for (String s : stops) longest = Math.max(longest, s.length());
        this.holdBack = Math.max(0, longest - 1);
    }

    /** Adds a token; returns the text that may be sent now (possibly empty). */
    String push(int token) {
        if (stopped) return "";
        pending.append(decoder.push(token));
        int cut = firstStop();
        if (cut >= 0) {
            stopped = true;
            String out = pending.substring(0, cut);
            pending.setLength(0);
            return out;
        }
        // Keep the longest tail that is a prefix of some stop string; send the rest.
        int keep = 0;
        for (int k = Math.min(holdBack, pending.length()); k > 0; k--) {
            if (isStopPrefix(pending.length() - k)) { keep = k; break; }
        }
        // never end the sent part between the two halves of a surrogate pair
        int end = pending.length() - keep;
        if (end > 0 && Character.isHighSurrogate(pending.charAt(end - 1))) end--;
        String out = pending.substring(0, end);
        pending.delete(0, end);
        return out;
    }

    /** The end of the sequence: the held-back text (and an incomplete character as U+FFFD). */
    String finish() {
        if (stopped) return "";
        pending.append(decoder.flush());
        int cut = firstStop();
        if (cut >= 0) pending.setLength(cut);
        String out = pending.toString();
        pending.setLength(0);
        stopped = true;
        return out;
    }

    /** True once a stop string was found. */
    boolean stopFound() { return stopFound; }

    private boolean stopFound;

    private int firstStop() {
        int best = -1;
        for (String s : stops) {
            int i = pending.indexOf(s);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        if (best >= 0) stopFound = true;
        return best;
    }

    private boolean isStopPrefix(int from) {
        int n = pending.length() - from;
        for (String s : stops) {
            if (s.length() <= n) continue;
            boolean match = true;
            for (int i = 0; i < n && match; i++) match = s.charAt(i) == pending.charAt(from + i);
            if (match) return true;
        }
        return false;
    }
}
