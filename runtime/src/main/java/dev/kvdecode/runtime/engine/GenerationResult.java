package dev.kvdecode.runtime.engine;

/**
 * What {@link Generator#generate} produced.
 *
 * @param tokens       per sequence, the generated ids (prompt and end-of-text token excluded)
 * @param stopReasons  per sequence, why it stopped
 * @param prefillMs    wall time of prefill plus sampling the first token
 * @param decodeMs     wall time of all step() calls plus sampling their tokens (listener time excluded)
 * @param decodeSteps  number of step() calls (each feeds B tokens)
 */
public record GenerationResult(int[][] tokens, StopReason[] stopReasons, double prefillMs, double decodeMs,
                               int decodeSteps) {

    /** Tokens generated over all sequences. */
    public int generatedTokens() {
        int n = 0;
        for (int[] t : tokens) n += t.length;
        return n;
    }

    /** Decode throughput: tokens fed through step() over all sequences per second of decodeMs (0 if none). */
    public double tokensPerSecond() {
        return decodeMs > 0 ? (double) decodeSteps * tokens.length * 1000.0 / decodeMs : 0.0;
    }
}
