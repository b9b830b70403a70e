package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.runtime.cache.KvCache;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.ContextFullException;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.sample.Sampler;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The CPU session against itself in the other mode (cached vs recomputed, ring vs shift, batch vs
 * single) and against an independent fp64 decoder ({@link ReferenceDecoder}).
 *
 * <p>Relative error of a logits vector: max_v |a_v - b_v| / max_v |b_v| (b the reference).
 */
class CpuSessionTest {
    static final CpuThreads POOL = new CpuThreads(2);

    @AfterAll
    static void closePool() { POOL.close(); }

    /** GPT-2 flavour: gelu_new, qkv bias, tied head; odd sizes. */
    static ModelConfig gpt2Shape(int maxT) { return ModelConfig.gpt2(2, 3, 48, maxT, 101); }

    /** The tutorial's char flavour: relu, no qkv bias, untied head with bias. */
    static ModelConfig charShape(int maxT) { return ModelConfig.charGpt(2, 4, 32, maxT, 65); }

    static double relErr(float[] a, int aOff, float[] b, int bOff, int n) {
        double num = 0, den = 0;
        for (int i = 0; i < n; i++) {
            num = Math.max(num, Math.abs((double) a[aOff + i] - b[bOff + i]));
            den = Math.max(den, Math.abs((double) b[bOff + i]));
        }
        return num / den;
    }

    static double relErr(float[] a, int aOff, double[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < b.length; i++) {
            num = Math.max(num, Math.abs(a[aOff + i] - b[i]));
            den = Math.max(den, Math.abs(b[i]));
        }
        return num / den;
    }

    static int[][] prompts(long seed, int V, int... lengths) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][] p = new int[lengths.length][];
        for (int b = 0; b < lengths.length; b++) {
            p[b] = new int[lengths[b]];
            for (int i = 0; i < lengths[b]; i++) p[b][i] = rnd.nextInt(V);
        }
        return p;
    }

    /**
     * Greedy-decodes {@code steps} tokens with the cache and feeds the same tokens to a recompute
     * session: every step's logits must agree (rel err <= 1e-5; the two paths do the same fp32
     * operations in the same order, so in fact they agree exactly) and so must the greedy tokens.
     */
    static void cachedEqualsRecomputed(ModelConfig cfg, long seed, int steps, int... promptLengths) {
        Gpt2Weights w = RandomWeights.create(cfg, seed);
        int B = promptLengths.length, V = cfg.vocabSize();
        int ctx = Arrays.stream(promptLengths).max().orElseThrow() + steps;
        assertTrue(ctx <= cfg.nPositions(), "test setup: context must fit n_positions");
        int[][] prompts = prompts(seed + 1, V, promptLengths);
        var cached = new CpuSession(w, new SessionOptions(B, ctx, OverflowPolicy.STOP, true), POOL);
        var recompute = new CpuSession(w, new SessionOptions(B, ctx, OverflowPolicy.STOP, false), POOL);
        float[] a = cached.prefill(prompts);
        float[] b = recompute.prefill(prompts);
        int[] next = new int[B];
        double worst = 0;
        for (int step = 0; step <= steps - 1; step++) {
            for (int s = 0; s < B; s++) {
                double e = relErr(a, s * V, b, s * V, V);
                worst = Math.max(worst, e);
                assertTrue(e <= 1e-5, "seed " + seed + " step " + step + " sequence " + s + ": rel err " + e);
                next[s] = Sampler.argmax(a, s * V, V);
                assertEquals(Sampler.argmax(b, s * V, V), next[s], "greedy token differs at step " + step + " seq " + s);
            }
            if (step == steps - 1) break;
            a = cached.step(next);
            b = recompute.step(next);
        }
        for (int s = 0; s < B; s++) {
            assertEquals(promptLengths[s] + steps - 1, cached.tokensSeen(s));
            assertEquals(promptLengths[s] + steps - 1, recompute.tokensSeen(s));
        }
        System.out.printf("cached vs recomputed %s B=%d: worst rel err %.3g over %d steps%n", cfg.activation(), B, worst, steps);
    }

    @Test
    void cachedEqualsRecomputedGpt2Batch1() { cachedEqualsRecomputed(gpt2Shape(320), 11, 300, 9); }

    @Test
    void cachedEqualsRecomputedCharBatch1() { cachedEqualsRecomputed(charShape(320), 12, 300, 1); }

    @Test
    void cachedEqualsRecomputedGpt2Batch3() { cachedEqualsRecomputed(gpt2Shape(128), 13, 100, 5, 1, 17); }

    @Test
    void cachedEqualsRecomputedCharBatch3() { cachedEqualsRecomputed(charShape(128), 14, 100, 12, 3, 7); }

    @Test
    void cachedEqualsRecomputedWiderOddShape() {
        cachedEqualsRecomputed(new ModelConfig(1, 5, 85, 64, 257, 1e-5f, dev.kvdecode.kernels.Activation.GELU_NEW,
                true, false, true, dev.kvdecode.runtime.model.TokenizerKind.GPT2_BPE), 15, 40, 20, 2);
    }

    /**
     * Against the independent fp64 decoder, through overflow (context 16) and past n_positions
     * (24, so positions clamp), for both overflow policies and both flavours. Bound 1e-5: fp32
     * rounding through two blocks of width <= 48 stays near 1e-6 relative to the largest logit.
     */
    @Test
    void cachedMatchesFp64ReferenceThroughOverflow() {
        for (ModelConfig cfg : new ModelConfig[] {gpt2Shape(24), charShape(24)}) {
            for (OverflowPolicy policy : new OverflowPolicy[] {OverflowPolicy.SHIFT, OverflowPolicy.RING}) {
                long seed = 21;
                Gpt2Weights w = RandomWeights.create(cfg, seed);
                int V = cfg.vocabSize(), ctx = 16;
                int[][] prompt = prompts(seed, V, 5);
                var session = new CpuSession(w, new SessionOptions(1, ctx, policy, true), POOL);
                var ref = new ReferenceDecoder(w, ctx);
                double[] want = null;
                for (int t : prompt[0]) want = ref.feed(t);
                float[] got = session.prefill(prompt);
                double worst = 0;
                for (int step = 0; step < 45; step++) {
                    double e = relErr(got, 0, want);
                    worst = Math.max(worst, e);
                    assertTrue(e <= 1e-5, cfg.activation() + " " + policy + " step " + step + ": rel err " + e);
                    int next = Sampler.argmax(got, 0, V);
                    got = session.step(new int[] {next});
                    want = ref.feed(next);
                }
                assertEquals(5 + 45, session.tokensSeen(0));
                System.out.printf("cached vs fp64 %s %s: worst rel err %.3g%n", cfg.activation(), policy, worst);
            }
        }
    }

    /** Recompute mode within the window against the fp64 decoder (no overflow: the reference's window is the whole sequence). */
    @Test
    void recomputeMatchesFp64Reference() {
        ModelConfig cfg = charShape(64);
        Gpt2Weights w = RandomWeights.create(cfg, 31);
        var session = new CpuSession(w, new SessionOptions(1, 40, OverflowPolicy.STOP, false), POOL);
        var ref = new ReferenceDecoder(w, 40);
        int[][] prompt = prompts(32, cfg.vocabSize(), 6);
        double[] want = null;
        for (int t : prompt[0]) want = ref.feed(t);
        float[] got = session.prefill(prompt);
        for (int step = 0; step < 30; step++) {
            assertTrue(relErr(got, 0, want) <= 1e-5, "step " + step + ": rel err " + relErr(got, 0, want));
            int next = Sampler.argmax(got, 0, cfg.vocabSize());
            got = session.step(new int[] {next});
            want = ref.feed(next);
        }
    }

    /**
     * Ring and shift present the same entries in the same order: identical logits bits, hence
     * tokens; with the fp32 and the bf16 KV cache (whose shift moves bf16 rows).
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void ringAndShiftAreIdenticalAfterOverflow(boolean kvBf16) {
        for (ModelConfig cfg : new ModelConfig[] {gpt2Shape(32), charShape(32)}) {
            Gpt2Weights w = RandomWeights.create(cfg, 41);
            int V = cfg.vocabSize(), B = 2;
            int[][] prompts = prompts(42, V, 3, 9);
            var shift = new CpuSession(w, new SessionOptions(B, 16, OverflowPolicy.SHIFT, true), POOL, null, kvBf16);
            var ring = new CpuSession(w, new SessionOptions(B, 16, OverflowPolicy.RING, true), POOL, null, kvBf16);
            assertEquals(kvBf16, shift.kvCache().bf16());
            float[] a = shift.prefill(prompts), b = ring.prefill(prompts);
            int[] next = new int[B];
            for (int step = 0; step < 100; step++) {
                assertArrayEquals(a, b, 0f, "step " + step);
                for (int s = 0; s < B; s++) next[s] = Sampler.argmax(a, s * V, V);
                a = shift.step(next);
                b = ring.step(next);
            }
            // the ring did wrap (its oldest entry is not in slot 0)
            assertNotEquals(0, ring.kvCache().start(0));
            // the shift window slid through its 2 x 16 slots and moved back to slot 0 several times
            KvCache sc = shift.kvCache();
            assertTrue(sc.tokens(0) - 16 > 3 * 17, "shift window moves: " + sc.tokens(0));
            assertTrue(sc.start(0) + sc.length(0) <= sc.slots());
        }
    }

    /** Sequence b of a batch gets the same bits as when decoded alone. */
    @Test
    void batchRowsEqualSingleSequences() {
        ModelConfig cfg = gpt2Shape(64);
        Gpt2Weights w = RandomWeights.create(cfg, 51);
        int V = cfg.vocabSize();
        int[][] prompts = prompts(52, V, 4, 11, 1);
        var batch = new CpuSession(w, new SessionOptions(3, 20, OverflowPolicy.SHIFT, true), POOL);
        var singles = new CpuSession[3];
        float[][] single = new float[3][];
        for (int s = 0; s < 3; s++) {
            singles[s] = new CpuSession(w, new SessionOptions(1, 20, OverflowPolicy.SHIFT, true), POOL);
            single[s] = singles[s].prefill(new int[][] {prompts[s]});
        }
        float[] all = batch.prefill(prompts);
        int[] next = new int[3];
        for (int step = 0; step < 30; step++) {
            for (int s = 0; s < 3; s++) {
                for (int v = 0; v < V; v++) assertEquals(single[s][v], all[s * V + v], 0f, "step " + step + " seq " + s);
                next[s] = Sampler.argmax(all, s * V, V);
            }
            all = batch.step(next);
            for (int s = 0; s < 3; s++) single[s] = singles[s].step(new int[] {next[s]});
        }
    }

    /** A prompt longer than the context with SHIFT/RING equals prefilling its head and stepping the rest. */
    @Test
    void longPromptIsPrefilledThenStepped() {
        ModelConfig cfg = charShape(48);
        Gpt2Weights w = RandomWeights.create(cfg, 61);
        int V = cfg.vocabSize();
        int[] prompt = prompts(62, V, 40)[0];
        for (OverflowPolicy policy : new OverflowPolicy[] {OverflowPolicy.SHIFT, OverflowPolicy.RING}) {
            var whole = new CpuSession(w, new SessionOptions(1, 16, policy, true), POOL);
            float[] a = whole.prefill(new int[][] {prompt}).clone();
            var manual = new CpuSession(w, new SessionOptions(1, 16, policy, true), POOL);
            float[] b = manual.prefill(new int[][] {Arrays.copyOf(prompt, 1)});
            for (int i = 1; i < prompt.length; i++) b = manual.step(new int[] {prompt[i]});
            assertArrayEquals(b, a, 0f, policy.toString());
            assertEquals(40, whole.tokensSeen(0));
            var ref = new ReferenceDecoder(w, 16);
            double[] want = null;
            for (int t : prompt) want = ref.feed(t);
            assertTrue(relErr(a, 0, want) <= 1e-5, "long prompt vs fp64: " + relErr(a, 0, want));
        }
    }

    @Test
    void stopPolicyThrowsAndLeavesTheSessionUsable() {
        ModelConfig cfg = charShape(32);
        Gpt2Weights w = RandomWeights.create(cfg, 71);
        for (boolean kv : new boolean[] {true, false}) {
            var s = new CpuSession(w, new SessionOptions(1, 8, OverflowPolicy.STOP, kv), POOL);
            var tooLong = assertThrows(ContextFullException.class, () -> s.prefill(new int[][] {new int[9]}));
            assertEquals("context full: 8 tokens (--context); use --overflow shift or ring", tooLong.getMessage());
            s.prefill(new int[][] {new int[7]});
            s.step(new int[] {1}); // 8 tokens: full but fits
            assertThrows(ContextFullException.class, () -> s.step(new int[] {1}));
            assertEquals(8, s.tokensSeen(0), "a refused step must not change the state");
        }
    }

    @Test
    void rejectsBadArguments() {
        ModelConfig cfg = charShape(32);
        Gpt2Weights w = RandomWeights.create(cfg, 81);
        var ex = assertThrows(IllegalArgumentException.class,
                () -> new CpuSession(w, new SessionOptions(1, 33, OverflowPolicy.SHIFT, true), POOL));
        assertEquals("context 33 exceeds the model's n_positions 32", ex.getMessage());
        var s = new CpuSession(w, new SessionOptions(2, 8, OverflowPolicy.SHIFT, true), POOL);
        assertThrows(IllegalArgumentException.class, () -> s.prefill(new int[][] {{1}}));
        assertThrows(IllegalArgumentException.class, () -> s.prefill(new int[][] {{1}, {}}));
        assertThrows(IllegalArgumentException.class, () -> s.prefill(new int[][] {{1}, {65}}));
        assertThrows(IllegalArgumentException.class, () -> s.step(new int[] {1}));
    }

    /** Results do not depend on the thread count (static split, fixed accumulation order). */
    @Test
    void threadCountDoesNotChangeBits() {
        ModelConfig cfg = gpt2Shape(64);
        Gpt2Weights w = RandomWeights.create(cfg, 91);
        int[][] prompts = prompts(92, cfg.vocabSize(), 13);
        float[] one = new CpuSession(w, new SessionOptions(1, 32, OverflowPolicy.SHIFT, true), null).prefill(prompts).clone();
        try (CpuThreads three = new CpuThreads(3)) {
            float[] many = new CpuSession(w, new SessionOptions(1, 32, OverflowPolicy.SHIFT, true), three).prefill(prompts);
            assertArrayEquals(one, many, 0f);
        }
    }

    /**
     * Backend.warmUp runs on the backend's own pool while the caller loads a model: closing it must
     * stop its thread, and a session opened afterwards must give the bits of a backend that never
     * warmed up (the warm-up's session shares nothing but compiled code and the pool).
     */
    @ParameterizedTest
    @ValueSource(strings = {"fp32", "bf16", "int8"})
    void warmUpStopsOnCloseAndLeavesNoTrace(String dtype) throws Exception {
        CpuWeightFormat fmt = CpuWeightFormat.ofFlag(dtype);
        Gpt2Weights w = RandomWeights.create(gpt2Shape(32), 11);
        dev.kvdecode.runtime.model.Model model = new dev.kvdecode.runtime.model.Model("t", w.config(), w, null);
        int[][] prompt = prompts(12, w.config().vocabSize(), 5);
        SessionOptions opt = new SessionOptions(1, 16, OverflowPolicy.SHIFT, true);
        float[] want, got;
        try (CpuBackend cold = new CpuBackend(2, fmt, true); CpuSession s = cold.open(model, opt)) {
            s.prefill(prompt);
            want = s.step(new int[] {7}).clone();
        }
        try (CpuBackend warm = new CpuBackend(2, fmt, true)) {
            try (dev.kvdecode.runtime.engine.Warmup wu = warm.warmUp()) {
                Thread.sleep(300);   // let it get into its steps
            }
            for (Thread t : Thread.getAllStackTraces().keySet())
                assertFalse(t.getName().equals("kvdecode-warmup") && t.isAlive(), "warm-up thread still running after close");
            try (CpuSession s = warm.open(model, opt)) {
                s.prefill(prompt);
                got = s.step(new int[] {7});
            }
        }
        assertArrayEquals(want, got, 0f, dtype);
    }
}
