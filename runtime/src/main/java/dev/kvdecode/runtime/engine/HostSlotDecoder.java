package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.sample.Sampler;
import dev.kvdecode.runtime.sample.SamplingParams;

import java.util.SplittableRandom;

/**
 * The host loop's {@link SlotDecoder}: {@link InferenceSession#prefillSlotChunk} and
 * {@link InferenceSession#stepSlots} return logits, and each slot's {@link Sampler} draws from its
 * row with the slot's own {@code SplittableRandom(seed)}.
 */
public final class HostSlotDecoder implements SlotDecoder {
    private final InferenceSession session;
    private final int vocab;
    private final Sampler[] samplers;
    private final SplittableRandom[] rngs;
    private final int[] last;
    private int[] tokens = new int[0];

    public HostSlotDecoder(InferenceSession session, int slots) {
        this.session = session;
        this.vocab = session.vocabSize();
        this.samplers = new Sampler[slots];
        this.rngs = new SplittableRandom[slots];
        this.last = new int[slots];
    }

    @Override
    public void start(int slot, SamplingParams sampling) {
        samplers[slot] = new Sampler(sampling, vocab);
        rngs[slot] = new SplittableRandom(sampling.seed());
    }

    @Override
    public int prefill(int slot, int[] prompt, int from, int to) {
        if (samplers[slot] == null) throw new IllegalStateException("slot " + slot + " was not started");
        float[] logits = session.prefillSlotChunk(slot, prompt, from, to);
        if (to < prompt.length) return -1;
        return last[slot] = samplers[slot].sample(logits, slot * vocab, rngs[slot]);
    }

    @Override
    public void step(int[] slots, int count, int[] ids) {
        if (tokens.length < count) tokens = new int[slots.length];
        for (int r = 0; r < count; r++) tokens[r] = last[slots[r]];
        float[] logits = session.stepSlots(slots, tokens, count);
        for (int r = 0; r < count; r++) {
            int b = slots[r];
            ids[r] = last[b] = samplers[b].sample(logits, b * vocab, rngs[b]);
        }
    }
}
