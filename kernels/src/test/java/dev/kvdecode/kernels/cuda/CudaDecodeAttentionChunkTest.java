package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.Attention;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * decode_attention_chunk_* (always-split flash-decoding shaped for grouped-query attention) + the
 * reduce against the CPU's Attention.decodeAttention with the GQA mapping (query head h reads KV
 * head h / (NH/NKV)), per head. Outputs start as NaN, every buffer has a guard band, and the kernel
 * tests run under emulator seeds 1, 2 and 3 (kernels/pom.xml). Tolerance: Num.tolerance (fp32
 * 1e-5 relative, floor 1: outputs are convex combinations of values in [-1, 1]); the device adds
 * the dot products in a lane tree and rescales running sums (online softmax) where the CPU
 * normalises the probabilities first.
 */
class CudaDecodeAttentionChunkTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    // B, NKV, G (query heads per KV head), HS, cap
    static final int[][] SHAPES = {{1, 1, 1, 1, 1}, {2, 3, 1, 31, 5}, {1, 2, 2, 33, 3}, {3, 1, 5, 127, 33},
            {1, 2, 1, 64, 40}, {2, 1, 2, 128, 70}, {1, 3, 5, 64, 31}, {2, 2, 1, 3, 127}, {1, 1, 2, 128, 1}};

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values())
            for (int policy : new int[] {CudaKvCache.SHIFT, CudaKvCache.RING})
                for (int[] s : SHAPES) b.add(Arguments.of(dt, policy, s[0], s[1], s[2], s[3], s[4]));
        return b.build();
    }

    /** The CPU twin: each query head against its KV head's (1, 1, cap, HS) block. */
    static float[] reference(float[] q, float[] k, float[] v, int[] seen, int policy, int B, int NKV, int G, int HS, int cap) {
        int NH = NKV * G, C = NH * HS;
        float[] ref = new float[B * C];
        float[] kb = new float[cap * HS], vb = new float[cap * HS], scratch = new float[cap];
        for (int b = 0; b < B; b++) {
            int total = seen[b] + 1;
            int count = Math.min(total, cap);
            int start = policy == CudaKvCache.RING && total > cap ? total % cap : 0;
            for (int h = 0; h < NH; h++) {
                int base = (b * NKV + h / G) * cap * HS;
                System.arraycopy(k, base, kb, 0, cap * HS);
                System.arraycopy(v, base, vb, 0, cap * HS);
                Attention.decodeAttention(null, ref, b * C + h * HS, q, b * C + h * HS, kb, vb, 0, start, count, cap, 1, HS, scratch);
            }
        }
        return ref;
    }

    @ParameterizedTest(name = "{0} policy={1} B={2} NKV={3} G={4} HS={5} cap={6}")
    @MethodSource("cases")
    void matchesCpuWithGqaMapping(DType dt, int policy, int B, int NKV, int G, int HS, int cap) {
        int NH = NKV * G, C = NH * HS;
        long seed = 4099L * HS + 31L * cap + B + 7L * policy + 101L * G;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] q = Dev.random(rnd, B * C, -1, 1);
        float[] k = Num.round(dt, Dev.random(rnd, B * NKV * cap * HS, -1, 1));
        float[] v = Num.round(dt, Dev.random(rnd, B * NKV * cap * HS, -1, 1));
        // counters before this step's advance: T = 1 (seen 0), exactly full (T = cap), wrapped, partial
        int[] seen = new int[B];
        for (int b = 0; b < B; b++) seen[b] = switch (b % 3) {
            case 0 -> b == 0 ? 0 : rnd.nextInt(cap);
            case 1 -> cap + rnd.nextInt(2 * cap);
            default -> cap - 1;
        };
        if (B == 1 && cap > 1) seen[0] = policy == CudaKvCache.RING ? cap + rnd.nextInt(cap) : cap - 1;
        float[] ref = reference(q, k, v, seen, policy, B, NKV, G, HS, cap);
        var dq = dev.floats("q", q, DType.F32);
        var dk = dev.floats("kc", k, dt);
        var dv = dev.floats("vc", v, dt);
        var dseen = dev.ints("seen", seen);
        String name = CudaDecodeAttention.chunkKernel(dt, HS, G);
        for (int chunk : new int[] {1, 7, 64, cap}) {
            String what = name + " " + CudaKvCacheTest.policyName(policy) + " B=" + B + " NKV=" + NKV + " G=" + G + " HS=" + HS
                    + " cap=" + cap + " chunk=" + chunk + " seed=" + seed + " [" + Dev.where() + "]";
            var part = dev.poisoned("part", (int) (CudaDecodeAttention.partialBytes(B, NH, HS, cap, chunk) / 4), 4);
            var out = dev.poisoned("out", B * C, dt.sizeBytes());
            CudaDecodeAttention.attendChunked(dev.kernels, dev.stream, dt, dq.view, dk.view, dv.view, dseen.view, part.view, out.view,
                    B, NH, NKV, HS, cap, policy, chunk);
            dev.checkGuards(name + " + reduce");
            Num.assertClose(what, ref, out.floats(dt), Num.tolerance(dt), 1.0);
        }
    }

    /** A sequence's output has the same bits whichever batch it is in (and RING equals SHIFT for the same logical cache). */
    @Test
    void batchInvariantAndRingEqualsShift() {
        DType dt = DType.F16;
        int NKV = 2, G = 2, HS = 64, cap = 50, NH = NKV * G, C = NH * HS, chunk = 16;
        SplittableRandom rnd = new SplittableRandom(5);
        int B = 3;
        float[] q = Dev.random(rnd, B * C, -1, 1);
        float[] k = Num.round(dt, Dev.random(rnd, B * NKV * cap * HS, -1, 1));
        float[] v = Num.round(dt, Dev.random(rnd, B * NKV * cap * HS, -1, 1));
        int[] seen = {cap + 7, 20, cap + 30};
        float[] batch = run(dt, q, k, v, seen, B, NH, NKV, HS, cap, CudaKvCache.SHIFT, chunk);
        int per = NKV * cap * HS;
        for (int b = 0; b < B; b++) {
            float[] one = run(dt, java.util.Arrays.copyOfRange(q, b * C, (b + 1) * C), java.util.Arrays.copyOfRange(k, b * per, (b + 1) * per),
                    java.util.Arrays.copyOfRange(v, b * per, (b + 1) * per), new int[] {seen[b]}, 1, NH, NKV, HS, cap, CudaKvCache.SHIFT, chunk);
            Num.assertSame("sequence " + b + " alone vs in a batch of 3", java.util.Arrays.copyOfRange(batch, b * C, (b + 1) * C), one);
        }
        // The same logical caches stored in ring order.
        float[] kr = new float[k.length], vr = new float[v.length];
        for (int b = 0; b < B; b++) {
            int total = seen[b] + 1;
            int start = total > cap ? total % cap : 0;
            for (int g = 0; g < NKV; g++)
                for (int j = 0; j < cap; j++) {
                    int base = (b * NKV + g) * cap;
                    System.arraycopy(k, (base + j) * HS, kr, (base + (start + j) % cap) * HS, HS);
                    System.arraycopy(v, (base + j) * HS, vr, (base + (start + j) % cap) * HS, HS);
                }
        }
        Num.assertSame("RING vs SHIFT", batch, run(dt, q, kr, vr, seen, B, NH, NKV, HS, cap, CudaKvCache.RING, chunk));
    }

    private static float[] run(DType dt, float[] q, float[] k, float[] v, int[] seen, int B, int NH, int NKV, int HS, int cap,
                               int policy, int chunk) {
        var dq = dev.floats("q", q, DType.F32);
        var dk = dev.floats("kc", k, dt);
        var dv = dev.floats("vc", v, dt);
        var dseen = dev.ints("seen", seen);
        var part = dev.poisoned("part", (int) (CudaDecodeAttention.partialBytes(B, NH, HS, cap, chunk) / 4), 4);
        var out = dev.poisoned("out", B * NH * HS, dt.sizeBytes());
        CudaDecodeAttention.attendChunked(dev.kernels, dev.stream, dt, dq.view, dk.view, dv.view, dseen.view, part.view, out.view,
                B, NH, NKV, HS, cap, policy, chunk);
        return out.floats(dt);
    }

    @Test
    void refusesShapesItCannotServe() {
        var buf = dev.poisoned("any", 1 << 16, 4);
        assertThrows(IllegalArgumentException.class, () -> CudaDecodeAttention.attendChunked(dev.kernels, dev.stream, DType.F32,
                buf.view, buf.view, buf.view, buf.view, buf.view, buf.view, 1, 3, 2, 8, 4, CudaKvCache.SHIFT, 2));  // 3 % 2 != 0
        assertThrows(IllegalArgumentException.class, () -> CudaDecodeAttention.attendChunked(dev.kernels, dev.stream, DType.F32,
                buf.view, buf.view, buf.view, buf.view, buf.view, buf.view, 1, 9, 1, 8, 4, CudaKvCache.SHIFT, 2));  // G = 9 > 8
        assertThrows(IllegalArgumentException.class, () -> CudaDecodeAttention.chunkKernel(DType.F16, 129, 1));  // odd HS > 128
    }
}
