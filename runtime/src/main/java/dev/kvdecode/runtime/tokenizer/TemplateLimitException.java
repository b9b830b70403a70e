package dev.kvdecode.runtime.tokenizer;

/**
 * A chat template that passed its render budget ({@link ChatTemplate#render}): a fault of the
 * model's template, not of the chat, since the budget grows with the chat. The message is one line
 * naming the template's file and the limit.
 */
public final class TemplateLimitException extends TokenizerException {
    public TemplateLimitException(String message) { super(message); }
}
