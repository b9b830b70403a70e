package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.Attention;
import dev.kvdecode.kernels.RmsNorm;
import dev.kvdecode.kernels.Rope;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * rope_kv_append_T (a decode step, every overflow policy, step after step past the window) and
 * rope_kv_prefill_append_T followed by the grouped-query prefill_attention_T, against their CPU
 * twin: the qkv bias, RmsNorm.rmsNormHeads (Qwen3's q/k norm), Rope.cosSin + Rope.apply, and a
 * model of the cache that writes k, v rounded to the dtype at the policy's slot and, when the
 * window moves (SHIFT_FLAT: slots cap+1.. to 0.., turned back by cap+1 positions) or shifts in
 * place (SHIFT: every slot one to the left, turned back by one position), turns the kept keys
 * with Rope.apply and rounds them again, as the runtime's KvCache does with Rope.rotateKeys.
 * Shapes: GQA 1, 2, 3, 5, MQA, odd head sizes (34), HS = 2 and 128; outputs NaN-poisoned (the
 * whole cache is compared, so a stray or missing write shows), guards checked, seeds 1-3.
 * Tolerance: Num.tolerance(dt) with floor 1 for q and the cache (twice it in fp16/bf16, where a
 * key rounded again after a turn may land one ulp away when the fp32 products differ in their
 * last bit); the attention as CudaAttentionTest.
 */
class CudaRopeTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    // B, NH, NKV, HS, cap
    static final int[][] SHAPES = {{1, 1, 1, 2, 1}, {2, 4, 2, 16, 3}, {1, 10, 2, 8, 5}, {2, 3, 1, 34, 4}, {1, 2, 2, 128, 2}};
    static final float EPS = 1e-6f;

    static Stream<Arguments> decodeCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values())
            for (int policy : dt == DType.F32
                    ? new int[] {CudaKvCache.SHIFT, CudaKvCache.SHIFT_FLAT, CudaKvCache.RING, CudaKvCache.STOP}
                    : new int[] {CudaKvCache.SHIFT, CudaKvCache.SHIFT_FLAT})
                for (int[] s : SHAPES)
                    for (boolean qkNorm : new boolean[] {false, true}) b.add(Arguments.of(dt, policy, qkNorm, s));
        return b.build();
    }

    static Stream<Arguments> prefillCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values()) for (int[] s : SHAPES) for (boolean qkNorm : new boolean[] {false, true})
            b.add(Arguments.of(dt, qkNorm, s));
        return b.build();
    }

    static float[] invFreq(int HS, int shape) {
        float[] f = Rope.invFreq(HS, 10000);
        return shape % 2 == 0 ? f : Rope.llama3(f, 8, 1, 4, 8);   // llama3 scaling on every other shape
    }

    /** The CPU twin of one qkv row: bias, q/k norm, q and k turned to pos, in place. */
    static void cpuRow(float[] row, int off, float[] bias, float[] qn, float[] kn, float[] inv, int pos, int NH, int NKV, int HS) {
        int QD = NH * HS, QKV = QD + 2 * NKV * HS;
        if (bias != null) for (int c = 0; c < QKV; c++) row[off + c] += bias[c];
        if (qn != null) {
            RmsNorm.rmsNormHeads(row, off, QKV, 1, NH, HS, qn, EPS);
            RmsNorm.rmsNormHeads(row, off + QD, QKV, 1, NKV, HS, kn, EPS);
        }
        float[] cos = new float[HS / 2], sin = new float[HS / 2];
        Rope.cosSin(cos, sin, 0, inv, pos);
        Rope.apply(row, off, NH, HS, cos, sin, 0);
        Rope.apply(row, off + QD, NKV, HS, cos, sin, 0);
    }

    /** key (HS at off) turned by `by` positions and rounded to dt, in place. */
    static void turnKey(float[] k, int off, int HS, float[] inv, int by, DType dt) {
        float[] cos = new float[HS / 2], sin = new float[HS / 2];
        Rope.cosSin(cos, sin, 0, inv, by);
        Rope.apply(k, off, 1, HS, cos, sin, 0);
        for (int d = 0; d < HS; d++) k[off + d] = Num.round(dt, k[off + d]);
    }

    static int slotOf(int n, int cap, int policy) {
        if (policy == CudaKvCache.SHIFT_FLAT) return CudaKvCache.flatSlot(n, cap);
        if (n < cap) return n;
        return policy == CudaKvCache.SHIFT ? cap - 1 : policy == CudaKvCache.RING ? n % cap : -1;
    }

    @ParameterizedTest(name = "{0} policy={1} qkNorm={2} {3}")
    @MethodSource("decodeCases")
    void decodeStepsMatchCpuPastTheWindow(DType dt, int policy, boolean qkNorm, int[] s) {
        int B = s[0], NH = s[1], NKV = s[2], HS = s[3], cap = s[4];
        int QD = NH * HS, KVD = NKV * HS, QKV = QD + 2 * KVD, rs = CudaKvCache.rowSlots(cap, policy), maxT = 2 * cap + 1;
        long seed = 7919L * HS + 31L * policy + cap + (qkNorm ? 5 : 0);
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] inv = invFreq(HS, NH);
        float[] bias = qkNorm ? null : Num.round(dt, Dev.random(rnd, QKV, -0.5, 0.5));
        float[] qn = qkNorm ? Num.round(dt, Dev.random(rnd, HS, 0.5, 1.5)) : null;
        float[] kn = qkNorm ? Num.round(dt, Dev.random(rnd, HS, 0.5, 1.5)) : null;
        var dbias = bias == null ? null : dev.floats("bias", bias, dt);
        var dqn = qn == null ? null : dev.floats("qNorm", qn, dt);
        var dkn = kn == null ? null : dev.floats("kNorm", kn, dt);
        var dinv = dev.floats("invFreq", inv, DType.F32);
        var kc = dev.poisoned("kc", B * NKV * rs * HS, dt.sizeBytes());
        var vc = dev.poisoned("vc", B * NKV * rs * HS, dt.sizeBytes());
        float[] km = new float[B * NKV * rs * HS], vm = new float[B * NKV * rs * HS];   // the CPU's cache model
        Arrays.fill(km, Float.NaN);
        Arrays.fill(vm, Float.NaN);
        double tol = dt == DType.F32 ? Num.tolerance(dt) : 2 * Num.tolerance(dt);
        for (int t = 0; t < 4 * cap + 3; t++) {
            float[] qkv = Dev.random(rnd, B * QKV, -2, 2);
            var dqkv = dev.floats("qkv", qkv, DType.F32);
            var seen = dev.ints("seen", filled(B, t));
            var dq = dev.poisoned("q", B * QD, 4);
            CudaRope.append(dev.kernels, dev.stream, dt, dqkv.view, dbias == null ? null : dbias.view, dqn == null ? null : dqn.view,
                    dkn == null ? null : dkn.view, dinv.view, dq.view, kc.view, vc.view, seen.view, B, NH, NKV, HS, cap, policy, maxT, EPS);
            String what = dt.kernel("rope_kv_append") + " policy=" + policy + " qkNorm=" + qkNorm + " " + Arrays.toString(s)
                    + " t=" + t + " seed=" + seed;
            dev.checkGuards(what);

            int pos = CudaRope.position(t, cap, policy, maxT), slot = slotOf(t, cap, policy);
            float[] qRef = new float[B * QD];
            for (int b = 0; b < B; b++) {
                float[] row = Arrays.copyOfRange(qkv, b * QKV, (b + 1) * QKV);
                cpuRow(row, 0, bias, qn, kn, inv, pos, NH, NKV, HS);
                System.arraycopy(row, 0, qRef, b * QD, QD);
                for (int g = 0; g < NKV; g++) {
                    int base = (b * NKV + g) * rs * HS;
                    if (policy == CudaKvCache.SHIFT_FLAT && t >= 2 * cap && slot == cap - 1) {
                        for (int j = 0; j < cap - 1; j++) {
                            System.arraycopy(km, base + (cap + 1 + j) * HS, km, base + j * HS, HS);
                            turnKey(km, base + j * HS, HS, inv, -(cap + 1), dt);
                            System.arraycopy(vm, base + (cap + 1 + j) * HS, vm, base + j * HS, HS);
                        }
                    } else if (policy == CudaKvCache.SHIFT && t >= cap) {
                        for (int j = 0; j < cap - 1; j++) {
                            System.arraycopy(km, base + (j + 1) * HS, km, base + j * HS, HS);
                            turnKey(km, base + j * HS, HS, inv, -1, dt);
                            System.arraycopy(vm, base + (j + 1) * HS, vm, base + j * HS, HS);
                        }
                    }
                    if (slot >= 0)
                        for (int d = 0; d < HS; d++) {
                            km[base + slot * HS + d] = Num.round(dt, row[QD + g * HS + d]);
                            vm[base + slot * HS + d] = Num.round(dt, row[QD + KVD + g * HS + d]);
                        }
                }
            }
            Num.assertClose(what + " q", qRef, dq.floats(DType.F32), Num.tolerance(DType.F32), 1.0);
            Num.assertClose(what + " keys", km, kc.floats(dt), tol, 1.0);
            Num.assertClose(what + " values", vm, vc.floats(dt), tol, 1.0);
        }
    }

    @ParameterizedTest(name = "{0} qkNorm={1} {2}")
    @MethodSource("prefillCases")
    void prefillAndGroupedQueryAttentionMatchCpu(DType dt, boolean qkNorm, int[] s) {
        int B = s[0], NH = s[1], NKV = s[2], HS = s[3], cap = s[4] + 2;
        int QD = NH * HS, KVD = NKV * HS, QKV = QD + 2 * KVD;
        for (int T : new int[] {1, Math.min(3, cap), cap}) {
            long seed = 104729L * HS + 17L * T + NKV + (qkNorm ? 3 : 0);
            SplittableRandom rnd = new SplittableRandom(seed);
            float[] inv = invFreq(HS, NH);
            float[] qkv = Dev.random(rnd, B * T * QKV, -1, 1);
            float[] bias = qkNorm ? null : Num.round(dt, Dev.random(rnd, QKV, -0.5, 0.5));
            float[] qn = qkNorm ? Num.round(dt, Dev.random(rnd, HS, 0.5, 1.5)) : null;
            float[] kn = qkNorm ? Num.round(dt, Dev.random(rnd, HS, 0.5, 1.5)) : null;
            // CPU: each row biased, normed and turned to its position t; k and v rounded to the cache dtype
            float[] cpu = qkv.clone();
            float[] km = new float[B * NKV * cap * HS], vm = new float[B * NKV * cap * HS];
            Arrays.fill(km, Float.NaN);
            Arrays.fill(vm, Float.NaN);
            float[] qRef = new float[B * T * QD];
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                    int off = (b * T + t) * QKV;
                    cpuRow(cpu, off, bias, qn, kn, inv, t, NH, NKV, HS);
                    System.arraycopy(cpu, off, qRef, (b * T + t) * QD, QD);
                    for (int c = QD; c < QKV; c++) cpu[off + c] = Num.round(dt, cpu[off + c]);
                    for (int g = 0; g < NKV; g++)
                        for (int d = 0; d < HS; d++) {
                            km[((b * NKV + g) * cap + t) * HS + d] = cpu[off + QD + g * HS + d];
                            vm[((b * NKV + g) * cap + t) * HS + d] = cpu[off + QD + KVD + g * HS + d];
                        }
                }
            float[] ref = new float[B * T * QD];
            float[] scratch = new float[NH * T];
            for (int b = 0; b < B; b++)
                Attention.causalSelfAttention(null, ref, b * T * QD, cpu, b * T * QKV, scratch, T, NH, NKV, HS);

            var dqkv = dev.floats("qkv", qkv, DType.F32);
            var dbias = bias == null ? null : dev.floats("bias", bias, dt);
            var dqn = qn == null ? null : dev.floats("qNorm", qn, dt);
            var dkn = kn == null ? null : dev.floats("kNorm", kn, dt);
            var dinv = dev.floats("invFreq", inv, DType.F32);
            var dq = dev.poisoned("q", B * T * QD, 4);
            var kc = dev.poisoned("kc", B * NKV * cap * HS, dt.sizeBytes());
            var vc = dev.poisoned("vc", B * NKV * cap * HS, dt.sizeBytes());
            var out = dev.poisoned("out", B * T * QD, dt.sizeBytes());
            CudaRope.prefillAppend(dev.kernels, dev.stream, dt, dqkv.view, dbias == null ? null : dbias.view,
                    dqn == null ? null : dqn.view, dkn == null ? null : dkn.view, dinv.view, dq.view, kc.view, vc.view,
                    B, T, NH, NKV, HS, cap, EPS);
            String what = dt + " qkNorm=" + qkNorm + " " + Arrays.toString(s) + " T=" + T + " seed=" + seed;
            dev.checkGuards(dt.kernel("rope_kv_prefill_append") + " " + what);
            Num.assertClose(dt.kernel("rope_kv_prefill_append") + " q " + what, qRef, dq.floats(DType.F32), Num.tolerance(DType.F32), 1.0);
            Num.assertClose(dt.kernel("rope_kv_prefill_append") + " keys " + what, km, kc.floats(dt), Num.tolerance(dt), 1.0);
            Num.assertClose(dt.kernel("rope_kv_prefill_append") + " values " + what, vm, vc.floats(dt), Num.tolerance(dt), 1.0);
            CudaPrefillAttention.attend(dev.kernels, dev.stream, dt, dq.view, kc.view, vc.view, out.view, B, T, NH, NKV, HS, cap);
            dev.checkGuards(dt.kernel("prefill_attention") + " " + what);
            Num.assertClose(dt.kernel("prefill_attention") + " GQA " + what, ref, out.floats(dt), Num.tolerance(dt), 1.0);
        }
    }

    static int[] filled(int n, int v) {
        int[] a = new int[n];
        Arrays.fill(a, v);
        return a;
    }
}
