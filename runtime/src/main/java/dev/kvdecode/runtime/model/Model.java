package dev.kvdecode.runtime.model;

import dev.kvdecode.runtime.tokenizer.Tokenizer;

/** A loaded model: its name (directory or preset), config, fp32 weights and tokenizer. */
public record Model(String name, ModelConfig config, Gpt2Weights weights, Tokenizer tokenizer) {
}
