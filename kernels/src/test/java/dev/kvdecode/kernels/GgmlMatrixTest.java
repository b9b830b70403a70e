package dev.kvdecode.kernels;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static dev.kvdecode.kernels.Check.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Q4_0, Q4_K and Q6_K kept quantized ({@link GgmlMatrix}) on random blocks (every bit of the
 * values and sub-scales random, the fp16 scales random finite): the panel repacking gives back
 * GgmlBlocks' dequantization bit for bit, and the matmul gives, bit for bit, the fp32 panel
 * matmul over that dequantized matrix (the reference the runtime's GGUF logits are held to),
 * for T = 1 (decode), a few rows and past the widen-once threshold, one thread and several,
 * odd and narrow outputs (a short last panel), with guard bands and NaN-filled outputs. Run
 * again by the kernels' scalar-simd execution (no Vector API) and, where the build has it, under
 * -XX:UseAVX=2. A loose fp64 check on top guards against the two paths sharing a mistake.
 */
class GgmlMatrixTest {
    static final long SEED = 20261208L;
    static final double U = Math.ulp(1f) / 2;
    static final CpuThreads POOL = new CpuThreads(3);

    @AfterAll
    static void closePool() { POOL.close(); }

    static final GgmlBlocks.Layout[] LAYOUTS = {GgmlBlocks.Layout.Q4_0, GgmlBlocks.Layout.Q4_K, GgmlBlocks.Layout.Q6_K};

    /** out rows of in / E random blocks of {@code l} (W^T row-major), finite fp16 scales in +-[2^-10, 2^-4). */
    static MemorySegment randomBlocks(SplittableRandom rnd, GgmlBlocks.Layout l, int in, int out) {
        int nb = in / l.elements;
        byte[] raw = new byte[out * nb * l.sizeBytes];
        for (int k = 0; k < raw.length; k++) raw[k] = (byte) rnd.nextInt(256);
        ByteBuffer bb = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        for (int blk = 0; blk < out * nb; blk++) {
            int o = blk * l.sizeBytes;
            switch (l) {
                case Q4_0 -> bb.putShort(o, scale(rnd));
                case Q4_K -> { bb.putShort(o, scale(rnd)); bb.putShort(o + 2, scale(rnd)); }
                case Q6_K -> bb.putShort(o + 208, scale(rnd));
                default -> throw new AssertionError(l);
            }
        }
        return MemorySegment.ofArray(raw);
    }

    static short scale(SplittableRandom rnd) {
        float v = (float) Math.scalb(1 + rnd.nextDouble(), -10 + rnd.nextInt(6));
        return Float.floatToFloat16(rnd.nextBoolean() ? v : -v);
    }

    /** W (in, out) row-major: GgmlBlocks' dequantization of the W^T rows, transposed. */
    static float[] reference(GgmlBlocks.Layout l, MemorySegment src, int in, int out) {
        float[] wt = new float[in * out];
        GgmlBlocks.dequantize(l, src, 0, in / l.elements * out, wt, 0);
        float[] w = new float[in * out];
        for (int c = 0; c < out; c++) for (int i = 0; i < in; i++) w[i * out + c] = wt[c * in + i];
        return w;
    }

    @Test
    void repackingKeepsEveryWeightsBits() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        for (GgmlBlocks.Layout l : LAYOUTS) for (int out : new int[] {1, 63, 65, 130}) {
            int in = 2 * l.elements;
            MemorySegment src = randomBlocks(rnd, l, in, out);
            GgmlMatrix m = GgmlMatrix.of(l, src, in, out);
            float[] want = reference(l, src, in, out), got = m.dequantize();
            for (int k = 0; k < want.length; k++)
                assertEquals(Float.floatToIntBits(want[k]), Float.floatToIntBits(got[k]),
                        l + " W[" + k / out + ", " + k % out + "] out=" + out + " seed " + SEED);
        }
    }

    @Test
    void matmulIsTheFp32MatmulOverTheDequantizedWeights() {
        SplittableRandom rnd = new SplittableRandom(SEED + 1);
        for (GgmlBlocks.Layout l : LAYOUTS)
            for (int in : l.elements == 32 ? new int[] {32, 96, 768} : new int[] {256, 768})
                for (int out : new int[] {1, 7, 64, 129, 200})
                    for (int T : new int[] {1, 3, 9, Matmul.WIDEN_ONCE_MIN_ROWS + 1}) {
                        // the experimental factored Q4_K kernel (-Dkvdecode.ggml.factored=true) is
                        // held to its own fp32 bound (GgmlFactoredTest), not to these bits
                        if (l == GgmlBlocks.Layout.Q4_K && Matmul.ggmlFactored()) continue;
                        if ((long) T * in * out > 3_000_000) continue;
                        boolean bias = (in + out + T) % 2 == 0;
                        MemorySegment src = randomBlocks(rnd, l, in, out);
                        GgmlMatrix m = GgmlMatrix.of(l, src, in, out);
                        float[] wRef = reference(l, src, in, out);
                        F32Matrix f = F32Matrix.of(wRef, in, out);
                        float[] x = random(rnd, T * in, 1), b = bias ? random(rnd, out, 1) : null;
                        float[] want = new float[T * out];
                        Matmul.matmul(null, want, 0, x, 0, f, b, T);
                        String what = l + " T=" + T + " in=" + in + " out=" + out + " bias=" + bias + " seed " + SEED;
                        for (CpuThreads pool : new CpuThreads[] {null, POOL}) {
                            float[] y = output(T * out);
                            Matmul.matmul(pool, y, GUARD, guarded(x), GUARD, m, b, T);
                            guardsIntact(y, T * out, what);
                            for (int k = 0; k < T * out; k++)
                                assertEquals(Float.floatToIntBits(want[k]), Float.floatToIntBits(y[GUARD + k]),
                                        what + " pool " + pool + ": row " + k / out + " col " + k % out
                                                + " got " + y[GUARD + k] + " want " + want[k]);
                        }
                        // and the fp64 sum: fp32 fma chain of `in` terms plus the bias add
                        double[] ref = new double[T * out], tol = new double[T * out];
                        for (int t = 0; t < T; t++) for (int c = 0; c < out; c++) {
                            double s = 0, abs = 0;
                            for (int i = 0; i < in; i++) {
                                double term = (double) x[t * in + i] * wRef[i * out + c];
                                s += term;
                                abs += Math.abs(term);
                            }
                            double bc = bias ? b[c] : 0;
                            ref[t * out + c] = s + bc;
                            tol[t * out + c] = (in + 2) * U * (abs + Math.abs(bc)) + 1e-30;
                        }
                        close(want, 0, ref, tol, what + " (fp64)");
                    }
    }

    /** T = 1 in every thread split equals the rows of one T-row call (decode and prefill agree). */
    @Test
    void oneRowAtATimeGivesTheBatchsBits() {
        SplittableRandom rnd = new SplittableRandom(SEED + 2);
        for (GgmlBlocks.Layout l : LAYOUTS) {
            int T = Matmul.WIDEN_ONCE_MIN_ROWS + 2, in = 512, out = 3 * 64 + 17;
            MemorySegment src = randomBlocks(rnd, l, in, out);
            GgmlMatrix m = GgmlMatrix.of(l, src, in, out);
            float[] x = random(rnd, T * in, 1), b = random(rnd, out, 1);
            float[] all = new float[T * out], one = new float[out];
            Matmul.matmul(POOL, all, 0, x, 0, m, b, T);
            for (int t = 0; t < T; t++) {
                Matmul.matmul(POOL, one, 0, x, t * in, m, b, 1);
                for (int c = 0; c < out; c++)
                    assertEquals(Float.floatToIntBits(all[t * out + c]), Float.floatToIntBits(one[c]), l + " row " + t + " col " + c);
            }
        }
    }

    @Test
    void badShapesAreRejected() {
        SplittableRandom rnd = new SplittableRandom(SEED + 3);
        MemorySegment src = randomBlocks(rnd, GgmlBlocks.Layout.Q4_K, 256, 2);
        assertThrows(IllegalArgumentException.class, () -> GgmlMatrix.of(GgmlBlocks.Layout.Q4_K, src, 128, 4));
        assertThrows(IllegalArgumentException.class, () -> GgmlMatrix.of(GgmlBlocks.Layout.Q4_K, src, 256, 3));
        assertThrows(IllegalArgumentException.class, () -> GgmlMatrix.of(GgmlBlocks.Layout.Q8_0, src, 256, 2));
        GgmlMatrix m = GgmlMatrix.of(GgmlBlocks.Layout.Q4_K, src, 256, 2);
        assertThrows(IllegalArgumentException.class, () -> Matmul.matmul(null, new float[1], 0, new float[256], 0, m, null, 1));
        assertThrows(IllegalArgumentException.class, () -> Matmul.matmul(null, new float[4], 0, new float[300], 0, m, null, 2));
        assertEquals(256 / 2 * 2 + 4 * 2 + 4 * 2 + 8 * 2 + 8 * 2, m.bytes());
    }
}
