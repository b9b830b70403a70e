package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.Attention;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * decode_attention_T, its flash-decoding split + reduce, and prefill_attention_T against
 * Attention.decodeAttention / causalSelfAttention. Tolerances: Num.tolerance (fp32 1e-5 relative,
 * floor 1: outputs are convex combinations of values in [-1, 1], so an absolute 1e-5 bound near
 * zero); the GPU sums the dot products in a different order (warp tree) and divides by the sum
 * once at the end instead of normalizing the probabilities first.
 */
class CudaAttentionTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    // B, NH, HS, cap
    static final int[][] SHAPES = {{1, 1, 1, 1}, {2, 3, 31, 5}, {1, 2, 33, 3}, {3, 1, 127, 33}, {1, 2, 64, 40},
            {1, 1, 769, 3}, {2, 4, 16, 70}};

    static Stream<Arguments> decodeCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values())
            for (int policy : new int[] {CudaKvCache.SHIFT, CudaKvCache.RING})
                for (int[] s : SHAPES) b.add(Arguments.of(dt, policy, s[0], s[1], s[2], s[3]));
        return b.build();
    }

    static Stream<Arguments> prefillCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values()) for (int[] s : SHAPES) b.add(Arguments.of(dt, s[0], s[1], s[2], s[3]));
        return b.build();
    }

    @ParameterizedTest(name = "{0} policy={1} B={2} NH={3} HS={4} cap={5}")
    @MethodSource("decodeCases")
    void decodeAttentionMatchesCpu(DType dt, int policy, int B, int NH, int HS, int cap) {
        int C = NH * HS;
        long seed = 4099L * HS + 31L * cap + B + 7L * policy;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] q = Dev.random(rnd, B * C, -1, 1);
        float[] k = Num.round(dt, Dev.random(rnd, B * NH * cap * HS, -1, 1));
        float[] v = Num.round(dt, Dev.random(rnd, B * NH * cap * HS, -1, 1));
        // counters before this step's advance: a partly filled cache, exactly full, and wrapped
        int[] seen = new int[B];
        for (int b = 0; b < B; b++) seen[b] = switch (b % 3) {
            case 0 -> rnd.nextInt(cap);          // n = seen+1 <= cap
            case 1 -> cap + rnd.nextInt(2 * cap); // past capacity (RING: wrapped at a random point)
            default -> cap - 1;                   // exactly full
        };
        float[] ref = new float[B * C];
        float[] scratch = new float[NH * cap];
        for (int b = 0; b < B; b++) {
            int total = seen[b] + 1;
            int count = Math.min(total, cap);
            int start = policy == CudaKvCache.RING && total > cap ? total % cap : 0;
            Attention.decodeAttention(null, ref, b * C, q, b * C, k, v, b, start, count, cap, NH, HS, scratch);
        }
        var dq = dev.floats("q", q, DType.F32);
        var dk = dev.floats("kc", k, dt);
        var dv = dev.floats("vc", v, dt);
        var dseen = dev.ints("seen", seen);
        String what = " " + CudaKvCacheTest.policyName(policy) + " B=" + B + " NH=" + NH + " HS=" + HS + " cap=" + cap + " seed=" + seed;

        var out = dev.poisoned("out", B * C, dt.sizeBytes());
        CudaDecodeAttention.attend(dev.kernels, dev.stream, dt, dq.view, dk.view, dv.view, dseen.view, out.view, B, NH, HS, cap, policy);
        dev.checkGuards(dt.kernel("decode_attention"));
        float[] single = out.floats(dt);
        Num.assertClose(dt.kernel("decode_attention") + what, ref, single, Num.tolerance(dt), 1.0);

        // flash-decoding with chunks that split the valid range unevenly, and one chunk >= cap
        for (int chunk : new int[] {1, 7, 32, cap}) {
            var part = dev.poisoned("part", (int) (CudaDecodeAttention.partialBytes(B, NH, HS, cap, chunk) / 4), 4);
            var outS = dev.poisoned("outS", B * C, dt.sizeBytes());
            CudaDecodeAttention.attendSplit(dev.kernels, dev.stream, dt, dq.view, dk.view, dv.view, dseen.view, part.view, outS.view,
                    B, NH, HS, cap, policy, chunk);
            dev.checkGuards(dt.kernel("decode_attention_split") + " + reduce");
            Num.assertClose(dt.kernel("decode_attention_split") + what + " chunk=" + chunk, ref, outS.floats(dt), Num.tolerance(dt), 1.0);
        }
    }

    /**
     * RING and SHIFT must give the same bits for the same logical cache (the CPU KvCache promises
     * the same): rotate a shifted cache into ring order and compare the device results bitwise.
     */
    @ParameterizedTest(name = "{0} policy={1} B={2} NH={3} HS={4} cap={5}")
    @MethodSource("decodeCases")
    void ringAndShiftGiveIdenticalBits(DType dt, int policyUnused, int B, int NH, int HS, int cap) {
        if (policyUnused != CudaKvCache.RING) return;
        int C = NH * HS;
        SplittableRandom rnd = new SplittableRandom(17L * HS + cap);
        float[] q = Dev.random(rnd, B * C, -1, 1);
        float[] shifted = Num.round(dt, Dev.random(rnd, B * NH * cap * HS, -1, 1));
        int[] seen = new int[B];
        for (int b = 0; b < B; b++) seen[b] = cap + rnd.nextInt(3 * cap);  // full: the ring has wrapped
        float[] ring = new float[shifted.length];
        for (int b = 0; b < B; b++) {
            int start = (seen[b] + 1) % cap;
            for (int h = 0; h < NH; h++)
                for (int j = 0; j < cap; j++) {
                    int base = (b * NH + h) * cap;
                    System.arraycopy(shifted, (base + j) * HS, ring, (base + (start + j) % cap) * HS, HS);
                }
        }
        var dq = dev.floats("q", q, DType.F32);
        var dseen = dev.ints("seen", seen);
        var ks = dev.floats("kShift", shifted, dt);
        var kr = dev.floats("kRing", ring, dt);
        var outShift = dev.poisoned("outShift", B * C, dt.sizeBytes());
        var outRing = dev.poisoned("outRing", B * C, dt.sizeBytes());
        // the same buffer as K and V keeps the case small; it does not weaken the ordering check
        CudaDecodeAttention.attend(dev.kernels, dev.stream, dt, dq.view, ks.view, ks.view, dseen.view, outShift.view, B, NH, HS, cap, CudaKvCache.SHIFT);
        CudaDecodeAttention.attend(dev.kernels, dev.stream, dt, dq.view, kr.view, kr.view, dseen.view, outRing.view, B, NH, HS, cap, CudaKvCache.RING);
        dev.checkGuards(dt.kernel("decode_attention"));
        Num.assertSame(dt.kernel("decode_attention") + " RING vs SHIFT", outShift.floats(dt), outRing.floats(dt));
    }

    @ParameterizedTest(name = "{0} B={1} NH={2} HS={3} cap={4}")
    @MethodSource("prefillCases")
    void prefillAttentionMatchesCpu(DType dt, int B, int NH, int HS, int cap) {
        int C = NH * HS;
        for (int T : new int[] {1, Math.min(3, cap), cap}) {  // T = 1 and T = maxT (the whole window)
            long seed = 8191L * HS + 13L * T + B;
            SplittableRandom rnd = new SplittableRandom(seed);
            float[] qkv = Dev.random(rnd, B * T * 3 * C, -1, 1);
            float[] bias = Num.round(dt, Dev.random(rnd, 3 * C, -0.5, 0.5));
            // CPU: the bias added, K and V rounded to the cache dtype, q kept in fp32 (as kv_prefill_append does)
            float[] cpuQkv = new float[qkv.length];
            for (int i = 0; i < qkv.length; i++) {
                int c = i % (3 * C);
                float x = qkv[i] + bias[c];
                cpuQkv[i] = c < C ? x : Num.round(dt, x);
            }
            float[] ref = new float[B * T * C];
            float[] scratch = new float[NH * T];
            for (int b = 0; b < B; b++)
                Attention.causalSelfAttention(null, ref, b * T * C, cpuQkv, b * T * 3 * C, scratch, T, C, NH);

            var dqkv = dev.floats("qkv", qkv, DType.F32);
            var dbias = dev.floats("bias", bias, dt);
            var dq = dev.poisoned("q", B * T * C, 4);
            var kc = dev.poisoned("kc", B * NH * cap * HS, dt.sizeBytes());
            var vc = dev.poisoned("vc", B * NH * cap * HS, dt.sizeBytes());
            var out = dev.poisoned("out", B * T * C, dt.sizeBytes());
            CudaKvCache.prefillAppend(dev.kernels, dev.stream, dt, dqkv.view, dbias.view, dq.view, kc.view, vc.view, B, T, NH, HS, cap);
            CudaPrefillAttention.attend(dev.kernels, dev.stream, dt, dq.view, kc.view, vc.view, out.view, B, T, NH, HS, cap);
            dev.checkGuards(dt.kernel("prefill_attention"));
            Num.assertClose(dt.kernel("prefill_attention") + " B=" + B + " T=" + T + " NH=" + NH + " HS=" + HS + " cap=" + cap + " seed=" + seed,
                    ref, out.floats(dt), Num.tolerance(dt), 1.0);
            dev.freeBuffers();
        }
    }

    /**
     * Chunked prefill: the prompt's first {@code past} tokens through kv_prefill_append +
     * prefill_attention, the rest through kv_prefill_append_at + prefill_attention_past, against
     * causalSelfAttention over the whole prompt (every row, both chunks).
     */
    @ParameterizedTest(name = "{0} B={1} NH={2} HS={3} cap={4}")
    @MethodSource("prefillCases")
    void prefillAttentionInTwoChunksMatchesCpu(DType dt, int B, int NH, int HS, int cap) {
        if (cap < 2) return;   // one token has no second chunk
        int C = NH * HS, T = cap;
        for (int past : new int[] {1, T / 2, T - 1}) {
            if (past < 1 || past >= T) continue;
            int T2 = T - past;
            long seed = 131071L * HS + 17L * past + B;
            SplittableRandom rnd = new SplittableRandom(seed);
            float[] qkv = Dev.random(rnd, B * T * 3 * C, -1, 1);
            float[] bias = Num.round(dt, Dev.random(rnd, 3 * C, -0.5, 0.5));
            float[] cpuQkv = new float[qkv.length];
            for (int i = 0; i < qkv.length; i++) {
                int c = i % (3 * C);
                float x = qkv[i] + bias[c];
                cpuQkv[i] = c < C ? x : Num.round(dt, x);
            }
            float[] ref = new float[B * T * C];
            float[] scratch = new float[NH * T];
            for (int b = 0; b < B; b++)
                Attention.causalSelfAttention(null, ref, b * T * C, cpuQkv, b * T * 3 * C, scratch, T, C, NH);
            // the chunks' (B, Tc, 3C) inputs and the reference's rows of each chunk
            float[] qkv1 = new float[B * past * 3 * C], qkv2 = new float[B * T2 * 3 * C];
            float[] ref1 = new float[B * past * C], ref2 = new float[B * T2 * C];
            for (int b = 0; b < B; b++) {
                System.arraycopy(qkv, b * T * 3 * C, qkv1, b * past * 3 * C, past * 3 * C);
                System.arraycopy(qkv, (b * T + past) * 3 * C, qkv2, b * T2 * 3 * C, T2 * 3 * C);
                System.arraycopy(ref, b * T * C, ref1, b * past * C, past * C);
                System.arraycopy(ref, (b * T + past) * C, ref2, b * T2 * C, T2 * C);
            }
            var d1 = dev.floats("qkv1", qkv1, DType.F32);
            var d2 = dev.floats("qkv2", qkv2, DType.F32);
            var dbias = dev.floats("bias", bias, dt);
            var q1 = dev.poisoned("q1", B * past * C, 4);
            var q2 = dev.poisoned("q2", B * T2 * C, 4);
            var kc = dev.poisoned("kc", B * NH * cap * HS, dt.sizeBytes());
            var vc = dev.poisoned("vc", B * NH * cap * HS, dt.sizeBytes());
            var out1 = dev.poisoned("out1", B * past * C, dt.sizeBytes());
            var out2 = dev.poisoned("out2", B * T2 * C, dt.sizeBytes());
            CudaKvCache.prefillAppend(dev.kernels, dev.stream, dt, d1.view, dbias.view, q1.view, kc.view, vc.view, B, past, NH, HS, cap);
            CudaPrefillAttention.attend(dev.kernels, dev.stream, dt, q1.view, kc.view, vc.view, out1.view, B, past, NH, HS, cap);
            CudaKvCache.prefillAppendAt(dev.kernels, dev.stream, dt, d2.view, dbias.view, q2.view, kc.view, vc.view, B, T2, NH, HS, cap, past);
            CudaPrefillAttention.attendAfter(dev.kernels, dev.stream, dt, q2.view, kc.view, vc.view, out2.view, B, T2, NH, HS, cap, past);
            dev.checkGuards(dt.kernel("prefill_attention_past"));
            String what = dt.kernel("prefill_attention_past") + " B=" + B + " T=" + T + " past=" + past + " NH=" + NH + " HS=" + HS
                    + " seed=" + seed;
            Num.assertClose(what + " (first chunk)", ref1, out1.floats(dt), Num.tolerance(dt), 1.0);
            Num.assertClose(what + " (second chunk)", ref2, out2.floats(dt), Num.tolerance(dt), 1.0);
            dev.freeBuffers();
        }
    }
}
