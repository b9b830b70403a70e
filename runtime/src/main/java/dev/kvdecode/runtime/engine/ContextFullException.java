package dev.kvdecode.runtime.engine;

/** Thrown by a session with {@code --overflow stop} when a token would not fit in the window. */
public class ContextFullException extends RuntimeException {
    public ContextFullException(String message) { super(message); }
}
