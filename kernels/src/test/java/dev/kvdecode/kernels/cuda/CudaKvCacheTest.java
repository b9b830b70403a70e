package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.KvCache;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * kv_append_T (with SHIFT / RING / STOP past capacity), kv_shift_T, kv_prefill_append_T and
 * counters_advance against the CPU KvCache ops. Everything here is data movement plus one fp32
 * add (the bias) and one rounding to T, done in the same order as on the CPU: bit-exact.
 * The shapes include rows of several shift tiles ((cap-1)*HS > 1024 elements) so that the
 * staged in-place shift is exercised across tile boundaries, where a missing barrier shows.
 */
class CudaKvCacheTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    // B, NH, HS, cap
    static final int[][] SHAPES = {{1, 1, 1, 1}, {2, 3, 31, 5}, {1, 2, 33, 3}, {3, 1, 127, 2}, {1, 2, 64, 40},
            {2, 1, 769, 3}, {1, 1, 3, 33}};

    static Stream<Arguments> appendCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values())
            for (int policy : new int[] {CudaKvCache.SHIFT, CudaKvCache.RING, CudaKvCache.STOP})
                for (int[] s : SHAPES) b.add(Arguments.of(dt, policy, s[0], s[1], s[2], s[3]));
        return b.build();
    }

    static Stream<Arguments> shapes() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values()) for (int[] s : SHAPES) b.add(Arguments.of(dt, s[0], s[1], s[2], s[3]));
        return b.build();
    }

    static String policyName(int p) { return new String[] {"SHIFT", "RING", "STOP"}[p]; }

    @ParameterizedTest(name = "{0} policy={1} B={2} NH={3} HS={4} cap={5}")
    @MethodSource("appendCases")
    void appendStepsPastCapacityMatchCpu(DType dt, int policy, int B, int NH, int HS, int cap) {
        int C = NH * HS;
        long seed = 101L * HS + 7L * cap + NH + 1000L * policy;
        SplittableRandom rnd = new SplittableRandom(seed);
        // sequences start at different lengths; the cache starts with random (old) entries
        int[] seen = new int[B];
        for (int b = 0; b < B; b++) seen[b] = b % (cap + 1);
        float[] refK = Num.round(dt, Dev.random(rnd, B * NH * cap * HS, -1, 1));
        float[] refV = Num.round(dt, Dev.random(rnd, B * NH * cap * HS, -1, 1));
        boolean withBias = (HS % 2) == 1;  // odd head sizes run with a bias, even ones with none
        float[] bias = withBias ? Num.round(dt, Dev.random(rnd, 3 * C, -1, 1)) : new float[3 * C];
        var kc = dev.floats("kc", refK, dt);
        var vc = dev.floats("vc", refV, dt);
        var dseen = dev.ints("seen", seen);
        var dbias = withBias ? dev.floats("bias", bias, dt) : null;
        String k = dt.kernel("kv_append");
        String what = k + " " + policyName(policy) + " B=" + B + " NH=" + NH + " HS=" + HS + " cap=" + cap + " seed=" + seed;

        for (int step = 0; step < cap + 3; step++) {
            float[] qkv = Dev.random(rnd, B * 3 * C, -2, 2);
            var dqkv = dev.floats("qkv", qkv, DType.F32);
            var dq = dev.poisoned("q", B * C, 4);
            CudaKvCache.append(dev.kernels, dev.stream, dt, dqkv.view, dbias == null ? null : dbias.view, dq.view,
                    kc.view, vc.view, dseen.view, B, NH, HS, cap, policy);
            CudaKvCache.advance(dev.kernels, dev.stream, dseen.view, B, 1);
            dev.checkGuards(k);

            float[] refQ = new float[B * C];
            for (int b = 0; b < B; b++) {
                float[] kr = new float[C], vr = new float[C];
                for (int c = 0; c < C; c++) {
                    refQ[b * C + c] = qkv[b * 3 * C + c] + bias[c];
                    kr[c] = Num.round(dt, qkv[b * 3 * C + C + c] + bias[C + c]);
                    vr[c] = Num.round(dt, qkv[b * 3 * C + 2 * C + c] + bias[2 * C + c]);
                }
                int n = seen[b], slot;
                if (n < cap) slot = n;
                else if (policy == CudaKvCache.SHIFT) {
                    KvCache.kvShift(refK, b, NH, cap, HS);
                    KvCache.kvShift(refV, b, NH, cap, HS);
                    slot = cap - 1;
                } else if (policy == CudaKvCache.RING) slot = n % cap;
                else slot = -1;
                if (slot >= 0) {
                    KvCache.kvAppend(refK, b, slot, kr, 0, NH, cap, HS);
                    KvCache.kvAppend(refV, b, slot, vr, 0, NH, cap, HS);
                }
                seen[b]++;
            }
            Num.assertSame(what + " q at step " + step, refQ, dq.floats(DType.F32));
            Num.assertSame(what + " K at step " + step, refK, kc.floats(dt));
            Num.assertSame(what + " V at step " + step, refV, vc.floats(dt));
            assertArrayEquals(seen, dseen.ints(), what + " seen after step " + step);
        }
    }

    @ParameterizedTest(name = "{0} B={1} NH={2} HS={3} cap={4}")
    @MethodSource("shapes")
    void shiftMovesFullRowsLeftInPlace(DType dt, int B, int NH, int HS, int cap) {
        long seed = 977L * HS + cap + B;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] refK = Num.round(dt, Dev.random(rnd, B * NH * cap * HS, -1, 1));
        float[] refV = Num.round(dt, Dev.random(rnd, B * NH * cap * HS, -1, 1));
        int[] seen = new int[B];
        for (int b = 0; b < B; b++) seen[b] = b % 2 == 0 ? cap + b : cap - 1;  // even b full, odd b not
        var kc = dev.floats("kc", refK, dt);
        var vc = dev.floats("vc", refV, dt);
        var dseen = dev.ints("seen", seen);
        // several shifts in a row: each reads what the previous one wrote
        for (int rep = 0; rep < 3; rep++) {
            CudaKvCache.shift(dev.kernels, dev.stream, dt, kc.view, vc.view, dseen.view, B, NH, HS, cap);
            for (int b = 0; b < B; b++) {
                if (seen[b] < cap) continue;
                KvCache.kvShift(refK, b, NH, cap, HS);
                KvCache.kvShift(refV, b, NH, cap, HS);
            }
        }
        dev.checkGuards(dt.kernel("kv_shift"));
        String what = dt.kernel("kv_shift") + " B=" + B + " NH=" + NH + " HS=" + HS + " cap=" + cap + " seed=" + seed;
        Num.assertSame(what + " K", refK, kc.floats(dt));
        Num.assertSame(what + " V", refV, vc.floats(dt));
    }

    @ParameterizedTest(name = "{0} B={1} NH={2} HS={3} cap={4}")
    @MethodSource("shapes")
    void prefillAppendFillsSlotsFromZero(DType dt, int B, int NH, int HS, int cap) {
        int C = NH * HS;
        for (int T : new int[] {1, cap, cap + 2}) {
            long seed = 313L * HS + 5L * T + B;
            SplittableRandom rnd = new SplittableRandom(seed);
            float[] qkv = Dev.random(rnd, B * T * 3 * C, -2, 2);
            float[] bias = Num.round(dt, Dev.random(rnd, 3 * C, -1, 1));
            var dqkv = dev.floats("qkv", qkv, DType.F32);
            var dbias = dev.floats("bias", bias, dt);
            var dq = dev.poisoned("q", B * T * C, 4);
            var kc = dev.poisoned("kc", B * NH * cap * HS, dt.sizeBytes());
            var vc = dev.poisoned("vc", B * NH * cap * HS, dt.sizeBytes());
            CudaKvCache.prefillAppend(dev.kernels, dev.stream, dt, dqkv.view, dbias.view, dq.view, kc.view, vc.view, B, T, NH, HS, cap);
            dev.checkGuards(dt.kernel("kv_prefill_append"));

            float[] refQ = new float[B * T * C];
            float[] refK = new float[B * NH * cap * HS], refV = new float[B * NH * cap * HS];
            Arrays.fill(refK, Float.NaN);  // slots a prompt of T < cap does not reach stay unwritten
            Arrays.fill(refV, Float.NaN);
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                    int row = (b * T + t) * 3 * C;
                    float[] kr = new float[C], vr = new float[C];
                    for (int c = 0; c < C; c++) {
                        refQ[(b * T + t) * C + c] = qkv[row + c] + bias[c];
                        kr[c] = Num.round(dt, qkv[row + C + c] + bias[C + c]);
                        vr[c] = Num.round(dt, qkv[row + 2 * C + c] + bias[2 * C + c]);
                    }
                    if (t < cap) {
                        KvCache.kvAppend(refK, b, t, kr, 0, NH, cap, HS);
                        KvCache.kvAppend(refV, b, t, vr, 0, NH, cap, HS);
                    }
                }
            String what = dt.kernel("kv_prefill_append") + " B=" + B + " T=" + T + " NH=" + NH + " HS=" + HS + " cap=" + cap + " seed=" + seed;
            Num.assertSame(what + " q", refQ, dq.floats(DType.F32));
            Num.assertSame(what + " K", refK, kc.floats(dt));
            Num.assertSame(what + " V", refV, vc.floats(dt));
            dev.freeBuffers();
        }
    }
}
