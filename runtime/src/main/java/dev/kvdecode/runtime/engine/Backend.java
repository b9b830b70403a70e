package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.model.Model;

/** A place where a model runs: the pure-Java CPU, a CUDA device, or the CUDA emulator. */
public interface Backend extends AutoCloseable {
    /** "cpu", "cuda" or "cuda-emu". */
    String name();

    InferenceSession open(Model model, SessionOptions options);

    /**
     * Starts running this backend's code on a small model of its own in the background, so that
     * the JIT has compiled it by the time a real session starts; meant to overlap work that leaves
     * the cores idle, such as loading the model. Close the handle before opening a session: it
     * stops the warm-up and waits for it. The default warms nothing.
     */
    default Warmup warmUp() { return Warmup.NONE; }

    /**
     * Does now, once per model, the work {@link #open} would otherwise do on its first call for
     * this model (the CPU's reduced-precision copies of the weights), so that a caller can overlap
     * it with a warm-up. Optional: open works without it. The default does nothing.
     */
    default void prepare(Model model) {}

    @Override
    default void close() {}
}
