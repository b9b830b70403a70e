package dev.kvdecode.runtime.model;

import dev.kvdecode.runtime.tokenizer.Tokenizer;

/**
 * A loaded model: its name (directory or preset), config, fp32 weights and tokenizer.
 *
 * @param stored null, or the matmul weights kept in the formats of a GGUF file with quantized
 *               tensors (issue 20); {@code weights} then holds null in their places, and
 *               {@link #fp32Weights()} gives them dequantized
 */
public record Model(String name, ModelConfig config, Gpt2Weights weights, Tokenizer tokenizer, StoredWeights stored) {
    public Model(String name, ModelConfig config, Gpt2Weights weights, Tokenizer tokenizer) {
        this(name, config, weights, tokenizer, null);
    }

    /** All weights in fp32: {@link #weights()}, with {@link #stored()} dequantized into it when there is one (a new copy). */
    public Gpt2Weights fp32Weights() { return stored == null ? weights : stored.dequantized(weights); }
}
