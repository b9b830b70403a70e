package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.sample.Sampler;
import dev.kvdecode.runtime.sample.SamplingParams;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * The host-side decode loop over any {@link InferenceSession}: prefill the prompts, then sample,
 * report and feed one token per sequence per step until every sequence stops (max tokens, its
 * end-of-text token, or a full window under STOP, which ends generation cleanly).
 *
 * <p>Sequences of a batch stop independently; a stopped sequence keeps being fed its last token
 * (the session has static shapes) but its output is ignored. Sequence b draws from its own
 * generator seeded from (seed, b), so its tokens do not depend on the other sequences.
 */
public final class Generator {

    /** Called once per generated token, in order, sequence by sequence within a step. */
    @FunctionalInterface
    public interface TokenListener {
        void onToken(int sequence, int token);
    }

    private Generator() {}

    public static GenerationResult generate(InferenceSession session, int[][] prompts, GenerationOptions options,
                                            TokenListener listener) {
        int B = prompts.length;
        int V = session.vocabSize();
        SamplingParams sp = options.sampling();
        Sampler sampler = new Sampler(sp, V);
        RandomGenerator[] rngs = new RandomGenerator[B];
        for (int b = 0; b < B; b++) rngs[b] = new SplittableRandom(sequenceSeed(sp.seed(), b));
        int max = options.maxNewTokens();
        int[][] out = newOutputs(B, max);
        int[] produced = new int[B];
        StopReason[] reasons = new StopReason[B];
        int[] next = new int[B];
        int[] eos = options.stopsAtEos() ? options.eosTokens() : new int[0];

        // slide: each sequence's most recent tokens (prompt + generated), to re-encode a full window
        int keep = options.slideKeep();
        int[][] recent = keep > 0 ? new int[B][] : null;
        int[] recentLen = keep > 0 ? new int[B] : null;
        if (keep > 0) {
            for (int b = 0; b < B; b++) {
                recent[b] = new int[Math.max(2 * keep, prompts[b].length)];
                System.arraycopy(prompts[b], 0, recent[b], 0, prompts[b].length);
                recentLen[b] = prompts[b].length;
            }
        }

        long t0 = System.nanoTime();
        float[] logits = session.prefill(prompts);
        for (int b = 0; b < B; b++) next[b] = sampler.sample(logits, b * V, rngs[b]);
        double prefillMs = (System.nanoTime() - t0) / 1e6;
        int active = accept(next, out, produced, reasons, max, eos, listener);

        long decodeNanos = 0;
        int steps = 0;
        while (active > 0) {
            long t1 = System.nanoTime();
            if (keep > 0) for (int b = 0; b < B; b++) recentLen[b] = remember(recent, b, recentLen[b], next[b], keep);
            try {
                logits = session.step(next);
            } catch (ContextFullException e) {
                if (keep == 0) {
                    for (int b = 0; b < B; b++) if (reasons[b] == null) reasons[b] = StopReason.CONTEXT_FULL;
                    decodeNanos += System.nanoTime() - t1;
                    break;
                }
                // The window is full: start a new one from each sequence's last `keep` tokens (the
                // refused token included) at positions 0..keep-1, one causal pass, then go on.
                int[][] windows = new int[B][];
                for (int b = 0; b < B; b++) {
                    int n = Math.min(keep, recentLen[b]);
                    windows[b] = Arrays.copyOfRange(recent[b], recentLen[b] - n, recentLen[b]);
                }
                logits = session.prefill(windows);
            }
            steps++;
            for (int b = 0; b < B; b++) if (reasons[b] == null) next[b] = sampler.sample(logits, b * V, rngs[b]);
            decodeNanos += System.nanoTime() - t1;
            active = accept(next, out, produced, reasons, max, eos, listener);
        }
        int[][] tokens = new int[B][];
        for (int b = 0; b < B; b++) tokens[b] = Arrays.copyOf(out[b], produced[b]);
        return new GenerationResult(tokens, reasons, prefillMs, decodeNanos / 1e6, steps);
    }

    /** Tokens a sequence's output buffer starts with; it doubles as tokens arrive. */
    static final int INITIAL_OUTPUT_TOKENS = 64;

    /**
     * Per-sequence output buffers for {@link #accept}: sized by what is generated, not by
     * {@code maxNewTokens} (a user's --max-new-tokens 2000000000 must not allocate 8 GB up front);
     * accept grows them.
     */
    public static int[][] newOutputs(int batch, int maxNewTokens) {
        return new int[batch][Math.min(maxNewTokens, INITIAL_OUTPUT_TOKENS)];
    }

    /** Sequence b's own seed, so its draws do not depend on the other sequences of the batch. */
    public static long sequenceSeed(long seed, int b) {
        return seed ^ (0x9E3779B97F4A7C15L * (b + 1));
    }

    /** Appends a token to sequence b's recent tokens, keeping at least the last `keep`; returns the new length. */
    private static int remember(int[][] recent, int b, int len, int token, int keep) {
        int[] r = recent[b];
        if (len == r.length) {
            System.arraycopy(r, len - keep, r, 0, keep);
            len = keep;
        }
        r[len] = token;
        return len + 1;
    }

    /**
     * The stop rules every decode loop shares (this host loop and the CUDA device loop): records
     * the sampled tokens of running sequences, ends a sequence at any of the end-of-text ids
     * {@code eos} (not recorded; empty: never) or at max tokens; returns how many still run.
     * {@code out[b]} is replaced by a larger copy when it is full (start with {@link #newOutputs}).
     */
    public static int accept(int[] next, int[][] out, int[] produced, StopReason[] reasons, int max,
                              int[] eos, TokenListener listener) {
        int active = 0;
        for (int b = 0; b < next.length; b++) {
            if (reasons[b] != null) continue;
            if (contains(eos, next[b])) {
                reasons[b] = StopReason.EOS;
                continue;
            }
            if (produced[b] == out[b].length)   // grows with what was generated (newOutputs)
                out[b] = Arrays.copyOf(out[b], (int) Math.min(max, Math.max(1, 2L * out[b].length)));
            out[b][produced[b]++] = next[b];
            if (listener != null) listener.onToken(b, next[b]);
            if (produced[b] == max) reasons[b] = StopReason.MAX_TOKENS;
            else active++;
        }
        return active;
    }

    /** {@link #accept} with one end-of-text id, active when {@code eosActive} and {@code eos >= 0}. */
    public static int accept(int[] next, int[][] out, int[] produced, StopReason[] reasons, int max,
                              boolean eosActive, int eos, TokenListener listener) {
        return accept(next, out, produced, reasons, max, eosActive && eos >= 0 ? new int[] {eos} : new int[0], listener);
    }

    /** A linear scan: a model has a handful of eos ids at most. */
    private static boolean contains(int[] ids, int token) {
        for (int id : ids) if (id == token) return true;
        return false;
    }
}
