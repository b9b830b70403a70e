package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.model.Model;

/** A place where a model runs: the pure-Java CPU, a CUDA device, or the CUDA emulator. */
public interface Backend extends AutoCloseable {
    /** "cpu", "cuda" or "cuda-emu". */
    String name();

    InferenceSession open(Model model, SessionOptions options);

    @Override
    default void close() {}
}
