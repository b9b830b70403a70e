package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.sample.SamplingParams;

/**
 * Continuous batching (kvdecode serve) with the sampling inside the session: each slot of the
 * batch holds one sequence with its own sampling parameters and its own generator, and the
 * session hands back only the sampled token ids. The CPU samples on the host from the logits
 * ({@link HostSlotDecoder}); CUDA samples on the device and copies back B ids instead of the
 * (B, V) logits (CudaSession's device slot loop).
 *
 * <p>A sequence's tokens do not depend on which other slots run: its generator is seeded from its
 * own seed only, and the forward of its row does not read the other rows (bitwise on the CPU; on
 * CUDA with the batch-invariant GEMV, which the slot loop always uses for decode steps).
 *
 * <p>Used by one thread; obtain it with {@link InferenceSession#slotDecoder()}.
 */
public interface SlotDecoder {
    /** A new sequence in {@code slot}: how its tokens are chosen; its generator starts from {@code sampling.seed()}. */
    void start(int slot, SamplingParams sampling);

    /**
     * Feeds prompt tokens [from, to) of the slot's sequence in one causal pass (chunked prefill:
     * from = 0 starts the slot's KV region afresh, later chunks continue it; from must equal the
     * tokens fed so far). Once {@code to == prompt.length} it samples the first generated token
     * and returns it; before that it returns -1. The prompt must fit the window.
     */
    int prefill(int slot, int[] prompt, int from, int to);

    /**
     * One decode step of {@code slots[0..count)} (distinct, each with its prompt fed): feeds each
     * slot the last token sampled for it and writes the next sampled ids to {@code ids[0..count)}.
     * The other slots are left as they are. A slot whose window is full must not be stepped.
     */
    void step(int[] slots, int count, int[] ids);
}
