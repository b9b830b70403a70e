package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.cache.OverflowPolicy;

/**
 * @param batch          B, the number of sequences decoded together
 * @param contextTokens  cache capacity / attention window, 1..n_positions
 * @param overflow       policy when the window is full
 * @param kvCache        false = recompute the whole window every step (the tutorial's baseline)
 */
public record SessionOptions(int batch, int contextTokens, OverflowPolicy overflow, boolean kvCache) {
    public SessionOptions {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        if (contextTokens < 1) throw new IllegalArgumentException("context must be >= 1, got " + contextTokens);
        if (overflow == null) throw new IllegalArgumentException("overflow policy is required");
    }
}
