package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.sample.SamplingParams;

/**
 * @param maxNewTokens tokens to generate per sequence, >= 1
 * @param sampling     how each token is chosen
 * @param eosToken     the end-of-text id (Tokenizer.eosToken()), or -1 if the vocabulary has none
 * @param ignoreEos    keep generating past the end-of-text token (benchmarks want fixed lengths)
 */
public record GenerationOptions(int maxNewTokens, SamplingParams sampling, int eosToken, boolean ignoreEos) {
    public GenerationOptions {
        if (maxNewTokens < 1) throw new IllegalArgumentException("max new tokens must be >= 1, got " + maxNewTokens);
        if (sampling == null) throw new IllegalArgumentException("sampling parameters are required");
    }
}
