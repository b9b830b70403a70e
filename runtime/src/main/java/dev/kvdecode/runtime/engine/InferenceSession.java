package dev.kvdecode.runtime.engine;

/**
 * The forward pass of one model over B sequences, with or without a KV cache. Logits are
 * returned as (B, V) row-major in a buffer the session owns and reuses: read before the next call.
 *
 * <p>Positions: token t of a sequence (0-based, counting prompt and generated tokens) gets
 * position min(t, maxT - 1) while cached (see docs/ARCHITECTURE.md, "Overflow"); the recompute
 * mode feeds the last {@code contextTokens} tokens at positions 0.. each step.
 */
public interface InferenceSession extends AutoCloseable {
    /**
     * Runs the prompts (one per sequence, lengths may differ, each >= 1) through the model,
     * filling the cache, and returns the logits after each prompt's last token.
     */
    float[] prefill(int[][] prompts);

    /** Feeds one token per sequence and returns the next-token logits (B, V). */
    float[] step(int[] tokens);

    /**
     * Cache-free teacher forcing for sequence 0: one causal pass over {@code tokens} (at most
     * the context) at positions 0..T-1, returning the logits of every position (T, V). Leaves the
     * session's cache and history untouched.
     */
    default float[] forwardAll(int[] tokens) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not implement forwardAll");
    }

    /**
     * Runs the whole decode loop: prefill, then sample and feed one token per sequence until each
     * stops. The default is the host loop of {@link Generator}; a backend with a device-resident
     * loop (CUDA) overrides it.
     */
    default GenerationResult generate(int[][] prompts, GenerationOptions options, Generator.TokenListener listener) {
        return Generator.generate(this, prompts, options, listener);
    }

    /**
     * Continuous batching (kvdecode serve): starts sequence {@code slot} afresh with {@code prompt}
     * while the other sequences keep their caches, and returns the logits buffer (B, V) whose row
     * {@code slot} holds the next-token logits after the prompt (other rows are unspecified). The
     * prompt must fit the window. A backend that cannot do this throws UnsupportedOperationException.
     */
    default float[] prefillSlot(int slot, int[] prompt) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not implement per-slot prefill");
    }

    /**
     * Continuous batching: one decode step of the sequences {@code slots[0..count)} only (distinct),
     * feeding tokens[i] to slots[i]; the other sequences are left as they are. Returns the logits
     * buffer (B, V) where row slots[i] holds that sequence's next-token logits. A sequence with a
     * full window must not be stepped (ContextFullException under STOP).
     */
    default float[] stepSlots(int[] slots, int[] tokens, int count) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not implement per-slot steps");
    }

    /**
     * Chunked prefill (continuous batching): feeds prompt tokens [from, to) of sequence
     * {@code slot} in one causal pass; from = 0 starts the slot afresh as {@link #prefillSlot}
     * does, a later chunk continues it (from must equal {@link #tokensSeen}(slot)). Returns the
     * logits buffer (B, V) whose row {@code slot} holds the next-token logits after token to - 1.
     * The default serves only the whole prompt at once.
     */
    default float[] prefillSlotChunk(int slot, int[] prompt, int from, int to) {
        if (from == 0 && to == prompt.length) return prefillSlot(slot, prompt);
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not implement chunked prefill");
    }

    /**
     * Continuous batching with the sampling inside the session: the host loop over
     * {@link #prefillSlotChunk} and {@link #stepSlots} by default; a backend that samples on the
     * device (CUDA) returns its own. One per session: it keeps the slots' sampling state.
     */
    default SlotDecoder slotDecoder(int slots) {
        return new HostSlotDecoder(this, slots);
    }

    /** Tokens seen so far by sequence b (prompt + fed tokens), not capped by the window. */
    int tokensSeen(int b);

    int vocabSize();

    @Override
    void close();
}
