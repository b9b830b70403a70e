package dev.kvdecode.kernels.cuda;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * sample_argmax and sample_top_kp. Argmax is exact (lowest index on ties, as the CPU Sampler).
 * For top-k/top-p the reference below is written from the definitions in double precision with
 * the same uniform draw (splitmix64, reproduced here): the kept set is every token whose logit is
 * >= the k-th largest, then the smallest most-probable head reaching topP of the kept mass (ties
 * at each boundary kept), drawn by inverse CDF in index order. The device sums in fp32, so a draw
 * within 1e-5 of a CDF step may land on the neighbour: such a case is accepted only if it is
 * that close; any other difference fails.
 */
class CudaSamplingTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    static Stream<Arguments> sizes() {
        return Stream.of(Arguments.of(1, 1), Arguments.of(3, 3), Arguments.of(2, 31), Arguments.of(1, 33),
                Arguments.of(2, 127), Arguments.of(1, 769), Arguments.of(1, 50257));
    }

    @ParameterizedTest(name = "B={0} V={1}")
    @MethodSource("sizes")
    void argmaxPicksLowestIndexOfTheMaximumAndFillsTheRing(int B, int V) {
        long seed = 5L * V + B;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] logits = Dev.random(rnd, B * V, -3, 3);
        int[] expect = new int[B];
        for (int b = 0; b < B; b++) {
            // plant ties of the maximum: the lowest of them must win
            int i1 = rnd.nextInt(V), i2 = rnd.nextInt(V);
            logits[b * V + i1] = 5f;
            logits[b * V + i2] = 5f;
            expect[b] = Math.min(i1, i2);
        }
        int ringCap = 4;
        int[] seen = new int[B];
        for (int b = 0; b < B; b++) seen[b] = 5 + b;
        var dl = dev.floats("logits", logits, DType.F32);
        var tokens = dev.poisoned("tokens", B, 4);
        var ring = dev.ints("ring", new int[B * ringCap]);
        var dseen = dev.ints("seen", seen);
        CudaSampling.argmax(dev.kernels, dev.stream, dl.view, tokens.view, ring.view, dseen.view, B, V, ringCap);
        dev.checkGuards("sample_argmax");
        assertArrayEquals(expect, tokens.ints(), "sample_argmax B=" + B + " V=" + V + " seed=" + seed + " [" + Dev.where() + "]");
        int[] expectRing = new int[B * ringCap];
        for (int b = 0; b < B; b++) expectRing[b * ringCap + seen[b] % ringCap] = expect[b];
        assertArrayEquals(expectRing, ring.ints(), "sample_argmax ring slots seen[b] % ringCap");
    }

    record Params(float temperature, int topK, float topP) {}

    static Stream<Arguments> samplingCases() {
        List<Arguments> out = new ArrayList<>();
        Params[] ps = {new Params(1f, 0, 1f), new Params(0.7f, 5, 1f), new Params(1.3f, 0, 0.9f),
                new Params(1f, 40, 0.5f), new Params(0.5f, 1, 1f)};
        for (Params p : ps) for (int V : new int[] {1, 3, 33, 127, 769}) out.add(Arguments.of(p, V));
        // GPT-2's vocabulary once, with every filter on (each draw costs 64 sweeps over V on the emulator)
        out.add(Arguments.of(new Params(0.8f, 50, 0.9f), 50257));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} V={1}")
    @MethodSource("samplingCases")
    void topKTopPDrawMatchesReference(Params p, int V) {
        int B = 2, draws = V > 1000 ? 2 : 6;
        long seed = 11L * V + p.topK();
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] logits = Dev.random(rnd, B * V, -4, 4);
        long[] rng = {rnd.nextLong(), rnd.nextLong()};
        var dl = dev.floats("logits", logits, DType.F32);
        var drng = dev.longs("rng", rng);
        var dseen = dev.ints("seen", new int[B]);
        long[] state = rng.clone();
        for (int d = 0; d < draws; d++) {
            var tokens = dev.poisoned("tokens", B, 4);
            CudaSampling.topKP(dev.kernels, dev.stream, dl.view, drng.view, tokens.view, null, dseen.view, B, V, 0,
                    p.temperature(), p.topK(), p.topP());
            dev.checkGuards("sample_top_kp");
            int[] got = tokens.ints();
            for (int b = 0; b < B; b++) {
                state[b] += 0x9E3779B97F4A7C15L;
                float u = (float) (mix(state[b]) >>> 40) * (1.0f / 16777216.0f);
                check(logits, b * V, V, p, u, got[b], "sample_top_kp " + p + " V=" + V + " b=" + b + " draw " + d + " seed=" + seed);
            }
        }
        assertArrayEquals(state, drng.longs(), "sample_top_kp must advance each sequence's splitmix64 state once per draw");
    }

    @Test
    void zeroTemperatureIsArgmax() {
        int V = 100;
        float[] logits = Dev.random(new SplittableRandom(3), V, -1, 1);
        logits[42] = 9f;
        var dl = dev.floats("logits", logits, DType.F32);
        var tokens = dev.poisoned("tokens", 1, 4);
        var drng = dev.longs("rng", new long[] {1});
        var dseen = dev.ints("seen", new int[1]);
        CudaSampling.topKP(dev.kernels, dev.stream, dl.view, drng.view, tokens.view, null, dseen.view, 1, V, 0, 0f, 0, 1f);
        assertEquals(42, tokens.ints()[0]);
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** The reference draw for one row, with the tolerance for fp32 sums described in the class comment. */
    static void check(float[] x, int off, int V, Params p, float u, int got, String what) {
        if (got < 0 || got >= V) fail(what + ": token " + got + " outside [0, " + V + ") [" + Dev.where() + "]");
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < V; i++) max = Math.max(max, x[off + i]);
        double[] w = new double[V];
        for (int i = 0; i < V; i++) w[i] = Math.exp((x[off + i] - max) / (double) p.temperature());
        boolean[] keep = new boolean[V];
        java.util.Arrays.fill(keep, true);
        if (p.topK() > 0 && p.topK() < V) {
            float[] sorted = new float[V];
            System.arraycopy(x, off, sorted, 0, V);
            java.util.Arrays.sort(sorted);
            float kth = sorted[V - p.topK()];
            for (int i = 0; i < V; i++) keep[i] = x[off + i] >= kth;
        }
        if (p.topP() < 1f) {
            double kept = 0;
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < V; i++) if (keep[i]) { kept += w[i]; order.add(i); }
            order.sort((a, b) -> Float.compare(x[off + b], x[off + a]));
            double cum = 0;
            float cut = Float.NaN;
            for (int i : order) {
                cum += w[i];
                if (cum >= p.topP() * kept) { cut = x[off + i]; break; }
            }
            for (int i = 0; i < V; i++) keep[i] = keep[i] && x[off + i] >= cut;
        }
        double total = 0;
        for (int i = 0; i < V; i++) if (keep[i]) total += w[i];
        double target = u * total, cum = 0;
        int expect = -1;
        for (int i = 0; i < V; i++) {
            if (!keep[i]) continue;
            if (target < cum + w[i]) { expect = i; break; }
            cum += w[i];
        }
        if (expect < 0) for (int i = V - 1; i >= 0; i--) if (keep[i]) { expect = i; break; }
        if (got == expect) return;
        if (!keep[got]) fail(what + ": token " + got + " is outside the kept set (expected " + expect + ") [" + Dev.where() + "]");
        // accept only a draw that sits within 1e-5 (relative) of the CDF step between got and expect
        double before = 0;
        for (int i = 0; i < Math.max(got, expect); i++) if (keep[i]) before += w[i];
        if (Math.abs(before - target) > 1e-5 * total)
            fail(what + ": token " + got + ", expected " + expect + " (u=" + u + ") [" + Dev.where() + "]");
    }
}
