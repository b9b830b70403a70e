package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.HalfFormat;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.ContextFullException;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.sample.Sampler;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Continuous batching on the CPU ({@link CpuSession#prefillSlot}, {@link CpuSession#stepSlots}):
 * sequences admitted into slots of a running batch at different steps, stepped together with
 * whichever others are active, and retired at different steps, must produce exactly the logits
 * (bit for bit) and greedy tokens of the same sequence decoded alone in a batch of one. That is
 * the batch invariance kvdecode serve promises: a request's greedy output does not depend on what
 * else is in the batch.
 */
class CpuSessionSlotsTest {

    /** One sequence of the schedule: its prompt, when it is admitted, how many tokens it decodes. */
    record Job(int[] prompt, int admitStep, int tokens) {}

    /** Greedy tokens and each step's logits of a job decoded alone (B = 1) with the plain prefill/step API. */
    static List<float[]> alone(Gpt2Weights w, CpuSession solo, Job j, int V, int[] tokensOut) {
        List<float[]> rows = new ArrayList<>();
        float[] lg = solo.prefill(new int[][] {j.prompt()});
        for (int i = 0; i < j.tokens(); i++) {
            rows.add(Arrays.copyOfRange(lg, 0, V));
            tokensOut[i] = Sampler.argmax(lg, 0, V);
            if (i + 1 < j.tokens()) lg = solo.step(new int[] {tokensOut[i]});
        }
        return rows;
    }

    static void batchInvariant(ModelConfig cfg, MatmulWeightsFactory reduced, int slots, int jobs, long seed) {
        Gpt2Weights w = RandomWeights.create(cfg, seed);
        int V = cfg.vocabSize();
        int ctx = cfg.nPositions();
        SplittableRandom rnd = new SplittableRandom(seed + 1);
        Job[] js = new Job[jobs];
        for (int i = 0; i < jobs; i++) {
            int[] p = new int[1 + rnd.nextInt(Math.min(20, ctx / 2))];
            for (int k = 0; k < p.length; k++) p[k] = rnd.nextInt(V);
            js[i] = new Job(p, rnd.nextInt(12), 1 + rnd.nextInt(Math.min(16, ctx - p.length)));
        }
        MatmulWeights mw = reduced == null ? null : reduced.make(w);
        var batch = new CpuSession(w, new SessionOptions(slots, ctx, OverflowPolicy.STOP, true), CpuSessionTest.POOL, mw);
        var solo = new CpuSession(w, new SessionOptions(1, ctx, OverflowPolicy.STOP, true), CpuSessionTest.POOL, mw);

        // Run the schedule: at each step boundary admit jobs whose time has come into free slots,
        // then step every active slot once.
        int[] slotJob = new int[slots];
        Arrays.fill(slotJob, -1);
        int[] produced = new int[jobs], last = new int[jobs];
        List<List<float[]>> got = new ArrayList<>();
        for (int i = 0; i < jobs; i++) got.add(new ArrayList<>());
        int nextJob = 0, done = 0, maxActive = 0;
        for (int step = 0; done < jobs; step++) {
            for (int s = 0; s < slots && nextJob < jobs && js[nextJob].admitStep() <= step; s++) {
                if (slotJob[s] >= 0) continue;
                float[] lg = batch.prefillSlot(s, js[nextJob].prompt());
                slotJob[s] = nextJob;
                done += take(lg, s, nextJob, V, got, produced, last, js, slotJob);
                nextJob++;
            }
            int[] active = new int[slots], toks = new int[slots];
            int n = 0;
            for (int s = 0; s < slots; s++) if (slotJob[s] >= 0) { active[n] = s; toks[n++] = last[slotJob[s]]; }
            maxActive = Math.max(maxActive, n);
            if (n == 0) continue;
            float[] lg = batch.stepSlots(active, toks, n);
            for (int r = 0; r < n; r++) done += take(lg, active[r], slotJob[active[r]], V, got, produced, last, js, slotJob);
        }
        assertTrue(maxActive > 1, "test setup: the schedule must overlap sequences");
        for (int i = 0; i < jobs; i++) {
            int[] want = new int[js[i].tokens()];
            List<float[]> ref = alone(w, solo, js[i], V, want);
            assertEquals(ref.size(), got.get(i).size(), "job " + i);
            for (int t = 0; t < ref.size(); t++)
                assertArrayEquals(ref.get(t), got.get(i).get(t), "seed " + seed + " job " + i + " token " + t
                        + ": logits differ from the same sequence decoded alone");
        }
    }

    /** Records slot s's logits row for job j and its greedy token; retires it when done (returns 1). */
    private static int take(float[] lg, int s, int j, int V, List<List<float[]>> got, int[] produced, int[] last,
                            Job[] js, int[] slotJob) {
        got.get(j).add(Arrays.copyOfRange(lg, s * V, (s + 1) * V));
        last[j] = Sampler.argmax(lg, s * V, V);
        if (++produced[j] == js[j].tokens()) {
            slotJob[s] = -1;
            return 1;
        }
        return 0;
    }

    @FunctionalInterface
    interface MatmulWeightsFactory {
        MatmulWeights make(Gpt2Weights w);
    }

    @Test
    void gpt2ShapeFp32() { batchInvariant(CpuSessionTest.gpt2Shape(64), null, 4, 10, 101); }

    @Test
    void charShapeFp32() { batchInvariant(CpuSessionTest.charShape(64), null, 3, 8, 102); }

    /** More slots than a row tile of the matmul (8), so a step mixes full and partial tiles. */
    @Test
    void elevenSlotsCrossRowTiles() { batchInvariant(CpuSessionTest.gpt2Shape(48), null, 11, 24, 103); }

    @Test
    void bf16Weights() {
        batchInvariant(CpuSessionTest.gpt2Shape(48), w -> PackedHalfWeights.of(w, HalfFormat.BF16), 9, 16, 104);
    }

    @Test
    void int8Weights() { batchInvariant(CpuSessionTest.charShape(48), Q8Weights::of, 9, 16, 105); }

    /**
     * Chunked prefill is chunk-invariant bit for bit: a prompt fed in chunks of 1, 4, 7 tokens (a
     * slot in the middle of a running batch, its neighbours stepped between the chunks) gives the
     * one-pass prefill's logits, and the same logits for the steps after it.
     */
    static void chunkInvariant(ModelConfig cfg, MatmulWeightsFactory reduced, boolean kvBf16, long seed) {
        Gpt2Weights w = RandomWeights.create(cfg, seed);
        int V = cfg.vocabSize(), ctx = cfg.nPositions();
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] prompt = new int[23], other = {3, 1, 4};
        for (int i = 0; i < prompt.length; i++) prompt[i] = rnd.nextInt(V);
        MatmulWeights mw = reduced == null ? null : reduced.make(w);
        var solo = new CpuSession(w, new SessionOptions(1, ctx, OverflowPolicy.STOP, true), CpuSessionTest.POOL, mw, kvBf16);
        List<float[]> want = new ArrayList<>();
        float[] lg = solo.prefill(new int[][] {prompt});
        for (int i = 0; i < 4; i++) {
            want.add(Arrays.copyOf(lg, V));
            lg = solo.step(new int[] {Sampler.argmax(lg, 0, V)});
        }
        for (int chunk : new int[] {1, 4, 7, prompt.length}) {
            var batch = new CpuSession(w, new SessionOptions(3, ctx, OverflowPolicy.STOP, true), CpuSessionTest.POOL, mw, kvBf16);
            batch.prefillSlot(0, other);
            batch.prefillSlot(2, other);
            for (int from = 0; from < prompt.length; from += chunk) {
                lg = batch.prefillSlotChunk(1, prompt, from, Math.min(prompt.length, from + chunk));
                batch.stepSlots(new int[] {2, 0}, new int[] {5, 6}, 2);   // the neighbours decode between chunks
            }
            assertEquals(prompt.length, batch.tokensSeen(1));
            for (int i = 0; i < 4; i++) {
                assertArrayEquals(want.get(i), Arrays.copyOfRange(lg, V, 2 * V),
                        "seed " + seed + " chunk " + chunk + " token " + i + ": logits differ from the one-pass prefill's");
                lg = batch.stepSlots(new int[] {0, 1}, new int[] {7, Sampler.argmax(lg, V, V)}, 2);
            }
        }
    }

    @Test
    void chunkedPrefillFp32() { chunkInvariant(CpuSessionTest.gpt2Shape(48), null, false, 111); }

    @Test
    void chunkedPrefillBf16WeightsAndCache() {
        chunkInvariant(CpuSessionTest.gpt2Shape(48), w -> PackedHalfWeights.of(w, HalfFormat.BF16), true, 112);
    }

    @Test
    void chunkedPrefillInt8() { chunkInvariant(CpuSessionTest.charShape(48), Q8Weights::of, false, 113); }

    @Test
    void chunkedPrefillRefusesAGap() {
        ModelConfig cfg = CpuSessionTest.gpt2Shape(16);
        var s = new CpuSession(RandomWeights.create(cfg, 9), new SessionOptions(1, 16, OverflowPolicy.STOP, true), CpuSessionTest.POOL);
        int[] p = {1, 2, 3, 4, 5};
        s.prefillSlotChunk(0, p, 0, 2);
        assertThrows(IllegalStateException.class, () -> s.prefillSlotChunk(0, p, 3, 5));
        assertThrows(IllegalArgumentException.class, () -> s.prefillSlotChunk(0, p, 2, 2));
        s.prefillSlotChunk(0, p, 2, 5);
        assertEquals(5, s.tokensSeen(0));
    }

    @Test
    void prefillSlotLeavesOtherSlotsAlone() {
        ModelConfig cfg = CpuSessionTest.gpt2Shape(32);
        Gpt2Weights w = RandomWeights.create(cfg, 7);
        var s = new CpuSession(w, new SessionOptions(2, 32, OverflowPolicy.STOP, true), CpuSessionTest.POOL);
        s.prefillSlot(0, new int[] {1, 2, 3});
        s.stepSlots(new int[] {0}, new int[] {4}, 1);
        s.prefillSlot(1, new int[] {5, 6});
        assertEquals(4, s.tokensSeen(0));
        assertEquals(2, s.tokensSeen(1));
        s.prefillSlot(0, new int[] {9});   // a reused slot starts afresh
        assertEquals(1, s.tokensSeen(0));
        assertEquals(2, s.tokensSeen(1));
    }

    @Test
    void refusesBadArguments() {
        ModelConfig cfg = CpuSessionTest.gpt2Shape(8);
        Gpt2Weights w = RandomWeights.create(cfg, 8);
        var s = new CpuSession(w, new SessionOptions(2, 8, OverflowPolicy.STOP, true), CpuSessionTest.POOL);
        assertThrows(IllegalArgumentException.class, () -> s.prefillSlot(2, new int[] {1}));
        assertThrows(IllegalArgumentException.class, () -> s.prefillSlot(0, new int[0]));
        assertThrows(ContextFullException.class, () -> s.prefillSlot(0, new int[9]));
        s.prefillSlot(0, new int[8]);
        s.prefillSlot(1, new int[] {1});
        assertThrows(IllegalArgumentException.class, () -> s.stepSlots(new int[] {1, 1}, new int[] {1, 1}, 2));
        assertThrows(ContextFullException.class, () -> s.stepSlots(new int[] {1, 0}, new int[] {1, 1}, 2));
        assertEquals(1, s.tokensSeen(1), "a refused step changes nothing");
        var recompute = new CpuSession(w, new SessionOptions(1, 8, OverflowPolicy.STOP, false), CpuSessionTest.POOL);
        assertThrows(UnsupportedOperationException.class, () -> recompute.prefillSlot(0, new int[] {1}));
    }
}
