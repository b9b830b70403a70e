package dev.kvdecode.runtime.sample;

/**
 * How the next token is chosen from the logits.
 *
 * @param greedy      argmax (the other fields are then ignored); temperature 0 also means argmax
 * @param temperature logits are divided by it before the softmax; >= 0
 * @param topK        keep only the k most probable tokens; 0 = off
 * @param topP        keep the smallest set of most probable tokens whose probability reaches p
 *                    (nucleus sampling, Holtzman et al. 2019); in (0, 1], 1 = off
 * @param seed        seeds the random generator, so a run is reproducible
 */
public record SamplingParams(boolean greedy, float temperature, int topK, float topP, long seed) {
    public SamplingParams {
        if (!(temperature >= 0) || Float.isInfinite(temperature))
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
    }

    public static SamplingParams greedyDecoding() { return new SamplingParams(true, 0f, 0, 1f, 0L); }

    public static SamplingParams of(float temperature, int topK, float topP, long seed) {
        return new SamplingParams(false, temperature, topK, topP, seed);
    }

    /** True when the choice is the argmax. */
    /**
     * Greedy, temperature 0, or a temperature so small that 1/T overflows a float (below ~2.9e-39):
     * the limit T -> 0 of softmax(logits / T) is the argmax, and dividing by it would give NaN.
     */
    public boolean isArgmax() { return greedy || temperature == 0f || Float.isInfinite(1f / temperature); }
}
