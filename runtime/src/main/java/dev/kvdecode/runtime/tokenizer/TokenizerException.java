package dev.kvdecode.runtime.tokenizer;

import dev.kvdecode.runtime.model.ModelFormatException;

/** Bad tokenizer input or files; the message is one line fit for a user (control characters escaped). */
public class TokenizerException extends RuntimeException {
    public TokenizerException(String message) { super(ModelFormatException.oneLine(message)); }
    public TokenizerException(String message, Throwable cause) { super(ModelFormatException.oneLine(message), cause); }
}
