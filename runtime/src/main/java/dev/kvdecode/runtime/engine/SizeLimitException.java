package dev.kvdecode.runtime.engine;

/**
 * A size the user asked for (a flag such as {@code --batch}, {@code --context} or
 * {@code --threads}, a request field) is beyond a hard limit: a Java array's length, the
 * device's free memory, the machine's processors. One line naming the flag, what it implies and
 * the limit; the CLI prints it and exits 2.
 */
public class SizeLimitException extends RuntimeException {
    public SizeLimitException(String message) { super(message); }
}
