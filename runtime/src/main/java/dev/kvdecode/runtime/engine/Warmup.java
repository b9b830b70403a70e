package dev.kvdecode.runtime.engine;

/**
 * A backend warming its code up in the background ({@link Backend#warmUp}); {@link #close} stops
 * it and returns once it has stopped, so nothing of it runs beside the work it made room for.
 */
public interface Warmup extends AutoCloseable {
    /** Nothing to warm. */
    Warmup NONE = () -> {};

    @Override
    void close();
}
