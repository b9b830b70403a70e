package dev.kvdecode.runtime.cli;

/** A user mistake: printed as one line on stderr, exit code 2, no stack trace. */
public class UsageException extends RuntimeException {
    public UsageException(String message) { super(message); }
}
