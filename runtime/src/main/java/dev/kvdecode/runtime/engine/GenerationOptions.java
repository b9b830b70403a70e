package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.sample.SamplingParams;

/**
 * @param maxNewTokens tokens to generate per sequence, >= 1
 * @param sampling     how each token is chosen
 * @param eosToken     the end-of-text id (Tokenizer.eosToken()), or -1 if the vocabulary has none
 * @param ignoreEos    keep generating past the end-of-text token (benchmarks want fixed lengths)
 * @param slideKeep    0, or the "slide" overflow: when the window is full (the session refuses a
 *                     step with ContextFullException, i.e. it was opened with STOP), re-encode the
 *                     last slideKeep tokens of each sequence from position 0 and go on
 */
public record GenerationOptions(int maxNewTokens, SamplingParams sampling, int eosToken, boolean ignoreEos,
                                int slideKeep) {
    public GenerationOptions {
        if (maxNewTokens < 1) throw new IllegalArgumentException("max new tokens must be >= 1, got " + maxNewTokens);
        if (sampling == null) throw new IllegalArgumentException("sampling parameters are required");
        if (slideKeep < 0) throw new IllegalArgumentException("slideKeep must be >= 0, got " + slideKeep);
    }

    public GenerationOptions(int maxNewTokens, SamplingParams sampling, int eosToken, boolean ignoreEos) {
        this(maxNewTokens, sampling, eosToken, ignoreEos, 0);
    }
}
