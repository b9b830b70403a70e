package dev.kvdecode.kernels;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static dev.kvdecode.kernels.Check.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The packed weight formats: fp32 panels (the CPU's fp32 weights), int8 (--dtype int8): quantization against its definition, and the matmul
 * against an fp64 reference over the dequantized weights and, bit for bit, against the plain
 * sequential loop the kernel promises (for every row count, thread count and, via the kernels'
 * scalar-simd test run, with and without the Vector API).
 */
class PackedMatrixTest {
    static final long SEED = 20261126L;
    static final double U = Math.ulp(1f) / 2;
    static final CpuThreads POOL = new CpuThreads(3);

    @AfterAll
    static void closePool() { POOL.close(); }

    @Test
    void eachBlockIsRoundedToItsOwnScale() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        int in = 75, out = 5;   // 3 blocks per column, the last one 11 rows
        float[] w = random(rnd, in * out, 0.2);
        for (int i = 32; i < 64; i++) w[i * out + 1] = 0f;             // an all-zero block
        w[7 * out + 2] = 40f;                                          // an outlier owns its block only
        w[70 * out + 3] = -3f;                                         // negative maximum in the short block
        Q8Matrix m = Q8Matrix.quantize(w, in, out);
        assertEquals(3, m.blocks());
        for (int j = 0; j < 3; j++) for (int c = 0; c < out; c++) {
            float amax = 0;
            for (int i = 32 * j; i < Math.min(in, 32 * j + 32); i++) amax = Math.max(amax, Math.abs(w[i * out + c]));
            float scale = m.scale(j, c);
            assertEquals(amax / 127f, scale, 0f, "scale of block " + j + " column " + c);
            for (int i = 32 * j; i < Math.min(in, 32 * j + 32); i++) {
                float v = w[i * out + c], got = m.get(i, c);
                assertTrue(m.q(i, c) >= -127, "q = -128 at " + i + "," + c);
                assertTrue(Math.abs(v - got) <= scale * 0.5f * (1 + 1e-6f) + Float.MIN_VALUE,
                        "W[" + i + "," + c + "] = " + v + " stored as " + got);
            }
        }
        assertEquals(0f, m.scale(1, 1));
        for (int i = 32; i < 64; i++) assertEquals(0, m.q(i, 1));
        assertEquals(40f, m.get(7, 2), 0f);
        assertTrue(m.scale(0, 2) > 0.3f && m.scale(1, 2) < 0.01f, "the outlier's scale stays in its block");
        assertEquals(-3f, m.get(70, 3), 1e-6f);
        assertEquals(127, Math.abs(m.q(70, 3)));
        assertEquals(in * out + 4L * 3 * out, m.bytes());
        float[] d = m.dequantize();
        for (int i = 0; i < in; i++) for (int c = 0; c < out; c++) assertEquals(m.get(i, c), d[i * out + c], 0f);
    }

    @Test
    void badInputsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> Q8Matrix.quantize(new float[6], 4, 2));
        assertThrows(IllegalArgumentException.class, () -> Q8Matrix.quantize(new float[0], 0, 0));
        float[] w = new float[64];
        w[40] = Float.NaN;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Q8Matrix.quantize(w, 2, 32));
        assertTrue(e.getMessage().contains("W[1, 8]"), e.getMessage());
        Q8Matrix m = Q8Matrix.quantize(new float[64], 2, 32);
        assertThrows(IllegalArgumentException.class, () -> Matmul.matmul(null, new float[31], 0, new float[2], 0, m, null, 1));
        assertThrows(IllegalArgumentException.class, () -> Matmul.matmul(null, new float[64], 0, new float[3], 0, m, null, 2));
    }

    @Test
    void matmulMatchesFp64OverTheDequantizedWeights() {
        SplittableRandom rnd = new SplittableRandom(SEED + 1);
        for (int T : new int[] {1, 3, 9, 33}) for (int in : new int[] {1, 3, 31, 64, 257})
            for (int out : new int[] {1, 31, 33, 64, 100, 769}) for (boolean bias : new boolean[] {true, false}) {
                if ((long) T * in * out > 2_000_000) continue;
                float[] x = random(rnd, T * in, 1), w = random(rnd, in * out, 0.5);
                float[] b = bias ? random(rnd, out, 1) : null;
                Q8Matrix m = Q8Matrix.quantize(w, in, out);
                float[] y = output(T * out);
                Matmul.matmul(POOL, y, GUARD, guarded(x), GUARD, m, b, T);
                double[] want = new double[T * out], tol = new double[T * out];
                for (int t = 0; t < T; t++) for (int o = 0; o < out; o++) {
                    double s = bias ? b[o] : 0, abs = Math.abs(s);
                    for (int i = 0; i < in; i++) {
                        double term = (double) x[t * in + i] * m.get(i, o);
                        s += term;
                        abs += Math.abs(term);
                    }
                    want[t * out + o] = s;
                    // fp32 block sums, each rounded once more when scaled
                    tol[t * out + o] = (in + 3) * U * abs + 1e-30;
                }
                String what = "int8 matmul T=" + T + " in=" + in + " out=" + out + " bias=" + bias;
                close(y, GUARD, want, tol, what);
                guardsIntact(y, T * out, what);
            }
    }

    @Test
    void matmulGivesTheSequentialLoopsBitsForAnyRowsAndThreads() {
        SplittableRandom rnd = new SplittableRandom(SEED + 2);
        // a short last panel, a short last block of rows; T past WIDEN_ONCE_MIN_ROWS: the panels widened once
        int T = Matmul.WIDEN_ONCE_MIN_ROWS + 3, in = 258, out = 2 * 2048 + 77;
        float[] x = random(rnd, T * in, 1), w = random(rnd, in * out, 0.3), b = random(rnd, out, 1);
        Q8Matrix m = Q8Matrix.quantize(w, in, out);
        float[] want = new float[T * out];
        for (int t = 0; t < T; t++) for (int c = 0; c < out; c++) {
            float a = b[c];
            for (int i0 = 0; i0 < in; i0 += 32) {
                float p = 0f;
                for (int i = i0; i < Math.min(in, i0 + 32); i++) p = Math.fma(x[t * in + i], m.q(i, c), p);
                a += m.scale(i0 / 32, c) * p;
            }
            want[t * out + c] = a;
        }
        try (CpuThreads two = new CpuThreads(2)) {
            for (CpuThreads pool : new CpuThreads[] {null, two, POOL}) {
                float[] all = new float[T * out];
                Matmul.matmul(pool, all, 0, x, 0, m, b, T);
                float[] one = new float[out];
                for (int t = 0; t < T; t++) {
                    Matmul.matmul(pool, one, 0, x, t * in, m, b, 1);
                    for (int c = 0; c < out; c++) {
                        int bits = Float.floatToIntBits(want[t * out + c]);
                        assertEquals(bits, Float.floatToIntBits(all[t * out + c]), "T=" + T + " row " + t + " col " + c + " pool " + pool);
                        assertEquals(bits, Float.floatToIntBits(one[c]), "T=1 row " + t + " col " + c + " pool " + pool);
                    }
                }
            }
        }
    }

    /**
     * The packed bf16 matmul gives the bits of the plain loop it promises (sum from 0 in input
     * order, then the bias) for any shape, rows and threads, and stays within fp32 rounding of the
     * flat bf16 matmul (an independent path that adds the bias first).
     */
    @Test
    void packedHalfGivesItsSequentialLoopsBits() {
        SplittableRandom rnd = new SplittableRandom(SEED + 3);
        for (HalfFormat fmt : HalfFormat.values()) try (CpuThreads two = new CpuThreads(2)) {
            for (int[] shape : new int[][] {{1, 1}, {3, 63}, {33, 64}, {64, 65}, {257, 200}, {96, 2 * 2048 + 77}})
                for (int T : new int[] {1, 2, 9, Matmul.WIDEN_ONCE_MIN_ROWS + 1}) {   // the last: panels widened once
                    int in = shape[0], out = shape[1];
                    float[] x = random(rnd, T * in, 1), w = random(rnd, in * out, 0.3), b = random(rnd, out, 1);
                    short[] flat = fmt.narrow(w);
                    HalfMatrix m = HalfMatrix.of(w, in, out, fmt), fromPanels = HalfMatrix.of(F32Matrix.of(w, in, out), fmt);
                    for (int i = 0; i < in; i++) for (int c = 0; c < out; c++) {
                        assertEquals(fmt.widen(flat[i * out + c]), m.get(i, c), 0f);
                        assertEquals(fmt.widen(flat[i * out + c]), fromPanels.get(i, c), 0f, "from fp32 panels");
                    }
                    if (fmt == HalfFormat.BF16) assertArrayEquals(m.pairs(), fromPanels.pairs(), "bf16 pairs from fp32 panels");
                    else assertArrayEquals(m.packed(), fromPanels.packed(), "fp16 from fp32 panels");
                    for (float[] bias : new float[][] {b, null}) {
                        float[] want = new float[T * out], other = new float[T * out];
                        for (int t = 0; t < T; t++) for (int c = 0; c < out; c++) {
                            float a = 0f;
                            for (int i = 0; i < in; i++) a = Math.fma(x[t * in + i], fmt.widen(flat[i * out + c]), a);   // one fused multiply-add per term
                            want[t * out + c] = a + (bias == null ? 0f : bias[c]);   // no bias: plus zeros (Matmul.panels)
                        }
                        Matmul.matmul(null, other, 0, x, 0, flat, fmt, bias, T, in, out);
                        for (int k = 0; k < T * out; k++)
                            assertEquals(want[k], other[k], (in + 2) * U * (Math.abs(want[k]) + in * 0.3 + 1), "flat " + fmt + " at " + k);
                        for (CpuThreads pool : new CpuThreads[] {null, two, POOL}) {
                            float[] got = output(T * out);
                            Matmul.matmul(pool, got, GUARD, guarded(x), GUARD, m, bias, T);
                            String what = fmt + " panels " + in + "x" + out + " T=" + T + " pool " + pool;
                            for (int k = 0; k < T * out; k++)
                                assertEquals(Float.floatToIntBits(want[k]), Float.floatToIntBits(got[GUARD + k]), what + " at " + k);
                            guardsIntact(got, T * out, what);
                        }
                    }
                }
        }
        assertThrows(IllegalArgumentException.class, () -> HalfMatrix.of(new float[5], 2, 3, HalfFormat.BF16));
    }

    @Test
    void packedF32KeepsEveryValueAndGivesItsSequentialLoopsBits() {
        SplittableRandom rnd = new SplittableRandom(SEED + 4);
        try (CpuThreads two = new CpuThreads(2); java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            for (int[] shape : new int[][] {{1, 1}, {3, 63}, {33, 64}, {64, 65}, {257, 200}, {96, 2 * 2048 + 77}})
                for (int T : new int[] {1, 2, 9, 40}) {
                    int in = shape[0], out = shape[1];
                    float[] x = random(rnd, T * in, 1), w = random(rnd, in * out, 0.3), b = random(rnd, out, 1);
                    w[rnd.nextInt(w.length)] = -0f;
                    F32Matrix m = F32Matrix.of(w, in, out);
                    // the same matrix packed from a little-endian, unaligned segment (a mapped checkpoint's tensor)
                    java.lang.foreign.MemorySegment seg = arena.allocate(4L * w.length + 3).asSlice(3, 4L * w.length);
                    for (int k = 0; k < w.length; k++)
                        seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), k, w[k]);
                    F32Matrix fromSeg = F32Matrix.of(seg, in, out);
                    float[] flat = m.flat(), flatSeg = fromSeg.flat();
                    for (int k = 0; k < w.length; k++) {
                        assertEquals(Float.floatToRawIntBits(w[k]), Float.floatToRawIntBits(flat[k]), "flat() at " + k);
                        assertEquals(Float.floatToRawIntBits(w[k]), Float.floatToRawIntBits(flatSeg[k]), "segment at " + k);
                    }
                    for (int i = 0; i < in; i++) for (int c = 0; c < out; c++) assertEquals(w[i * out + c], m.get(i, c), 0f);
                    for (float[] bias : new float[][] {b, null}) {
                        float[] want = new float[T * out];
                        double[] exact = new double[T * out];
                        for (int t = 0; t < T; t++) for (int c = 0; c < out; c++) {
                            float a = 0f;
                            double e = 0;
                            for (int i = 0; i < in; i++) {
                                a = Math.fma(x[t * in + i], w[i * out + c], a);   // one fused multiply-add per term
                                e += (double) x[t * in + i] * w[i * out + c];
                            }
                            want[t * out + c] = a + (bias == null ? 0f : bias[c]);   // no bias: plus zeros (Matmul.panels)
                            exact[t * out + c] = e + (bias == null ? 0 : bias[c]);
                        }
                        for (int k = 0; k < T * out; k++)   // the promised loop is an honest fp32 sum (the reference is not wrong too)
                            assertEquals(exact[k], want[k], (in + 2) * U * (Math.abs(exact[k]) + in * 0.3 + 1), "fp64 at " + k);
                        for (CpuThreads pool : new CpuThreads[] {null, two, POOL})
                            for (F32Matrix mm : new F32Matrix[] {m, fromSeg}) {
                                float[] got = output(T * out);
                                Matmul.matmul(pool, got, GUARD, guarded(x), GUARD, mm, bias, T);
                                String what = "fp32 panels " + in + "x" + out + " T=" + T + " pool " + pool;
                                for (int k = 0; k < T * out; k++)
                                    assertEquals(Float.floatToIntBits(want[k]), Float.floatToIntBits(got[GUARD + k]), what + " at " + k);
                                guardsIntact(got, T * out, what);
                            }
                    }
                }
        }
        assertThrows(IllegalArgumentException.class, () -> F32Matrix.of(new float[5], 2, 3));
        assertThrows(IllegalArgumentException.class, () -> F32Matrix.of(java.lang.foreign.MemorySegment.ofArray(new byte[20]), 2, 3));
        assertThrows(IndexOutOfBoundsException.class, () -> F32Matrix.of(new float[6], 2, 3).get(2, 0));
        float[] y = new float[3];
        assertThrows(IllegalArgumentException.class, () -> Matmul.matmul(null, y, 0, new float[2], 0, F32Matrix.of(new float[6], 2, 3), null, 2));
    }

    @Test
    void transposedSourcesGiveTheSameMatrices() {
        SplittableRandom rnd = new SplittableRandom(SEED + 5);
        for (int[] shape : new int[][] {{1, 1}, {3, 63}, {33, 64}, {65, 130}, {64, 2 * 2048 + 77}}) {
            int in = shape[0], out = shape[1];
            float[] w = random(rnd, in * out, 0.3), wt = new float[in * out];
            for (int i = 0; i < in; i++) for (int c = 0; c < out; c++) wt[c * in + i] = w[i * out + c];
            for (HalfFormat fmt : HalfFormat.values()) {
                HalfMatrix a = HalfMatrix.of(w, in, out, fmt), b = HalfMatrix.ofTransposed(wt, in, out, fmt);
                if (fmt == HalfFormat.BF16) assertArrayEquals(a.pairs(), b.pairs(), fmt + " " + in + "x" + out);
                else assertArrayEquals(a.packed(), b.packed(), fmt + " " + in + "x" + out);
            }
            Q8Matrix a = Q8Matrix.quantize(w, in, out), b = Q8Matrix.quantizeTransposed(wt, in, out);
            assertArrayEquals(a.packed(), b.packed(), "int8 " + in + "x" + out);
            assertArrayEquals(a.scaleArray(), b.scaleArray(), "int8 scales " + in + "x" + out);
        }
        float[] bad = new float[6];
        bad[1] = Float.NaN;   // W^T (3, 2) row 0, column 1: W[1, 0]
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Q8Matrix.quantizeTransposed(bad, 2, 3));
        assertTrue(e.getMessage().startsWith("W[1, 0] = NaN"), e.getMessage());
    }
}
