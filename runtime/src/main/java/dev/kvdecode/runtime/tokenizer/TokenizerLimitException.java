package dev.kvdecode.runtime.tokenizer;

/**
 * Code from the model's files passed its budget: a chat template its render budget
 * ({@link ChatTemplate#render}, {@link RenderBudget}), or a tokenizer.json regex its character
 * reads ({@link OnigurumaRegex}). Each budget grows with the input, so that the real files stay far
 * below it on any input: passing it is a fault of the model's files, not of the prompt or chat
 * (the server answers 500, not 400). The message is one line naming the file and the limit.
 */
public final class TokenizerLimitException extends TokenizerException {
    public TokenizerLimitException(String message) { super(message); }
}
