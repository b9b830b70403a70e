package dev.kvdecode.runtime.tokenizer;

/** Bad tokenizer input or files; the message is one line fit for a user. */
public class TokenizerException extends RuntimeException {
    public TokenizerException(String message) { super(message); }
    public TokenizerException(String message, Throwable cause) { super(message, cause); }
}
