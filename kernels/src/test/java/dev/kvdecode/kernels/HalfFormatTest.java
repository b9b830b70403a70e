package dev.kvdecode.kernels;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static dev.kvdecode.kernels.Check.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * 16-bit weights: narrowing against hand-worked bit patterns (round to nearest even), and the
 * matmul reading fp16 or bf16 against an fp64 reference on the widened weights, held
 * to the fp32 summation bound of {@link OpsTest}; the 16-bit path must also give the exact bits
 * of the fp32 path run on the widened weights (it widens, then does the same fp32 operations).
 */
class HalfFormatTest {
    static final long SEED = 20261126L;
    static final double U = Math.ulp(1f) / 2;
    static final CpuThreads POOL = new CpuThreads(3);

    @AfterAll
    static void closePool() { POOL.close(); }

    @Test
    void bf16NarrowRoundsToNearestEven() {
        HalfFormat f = HalfFormat.BF16;
        assertEquals((short) 0x3F80, f.narrow(1.0f));
        assertEquals((short) 0xC020, f.narrow(-2.5f));
        assertEquals((short) 0x3F80, f.narrow(Float.intBitsToFloat(0x3F808000)));   // tie, keep even 0x3F80
        assertEquals((short) 0x3F82, f.narrow(Float.intBitsToFloat(0x3F818000)));   // tie, round up to even
        assertEquals((short) 0x3F81, f.narrow(Float.intBitsToFloat(0x3F808001)));   // just above the tie
        assertEquals((short) 0x3F80, f.narrow(Float.intBitsToFloat(0x3F807FFF)));   // just below
        assertEquals((short) 0x7F80, f.narrow(Float.POSITIVE_INFINITY));
        assertEquals((short) 0x7F80, f.narrow(Float.MAX_VALUE));                    // rounds past the largest bf16
        assertTrue(Float.isNaN(f.widen(f.narrow(Float.NaN))));
        for (int bits = 0; bits < 0x10000; bits++) {                                // every bf16 round-trips
            float v = f.widen((short) bits);
            if (!Float.isNaN(v)) assertEquals((short) bits, f.narrow(v), "bf16 0x" + Integer.toHexString(bits));
        }
    }

    @Test
    void fp16NarrowAndWiden() {
        HalfFormat f = HalfFormat.FP16;
        assertEquals((short) 0x3C00, f.narrow(1.0f));
        assertEquals((short) 0x7BFF, f.narrow(65504f));
        assertEquals((short) 0x3555, f.narrow(1f / 3));
        assertEquals(65504f, f.widen((short) 0x7BFF));
        float[] dst = new float[3];
        f.widen(new short[] {0, 0x3C00, (short) 0xC000, 0x3555}, 1, dst, 3);
        assertArrayEquals(new float[] {1f, -2f, f.widen((short) 0x3555)}, dst);
    }

    @Test
    void halfMatmulMatchesFp64OnTheWidenedWeights() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        for (HalfFormat fmt : HalfFormat.values())
            for (int T : new int[] {1, 3, 9}) for (int in : new int[] {1, 3, 33, 127}) for (int out : new int[] {1, 33, 769}) {
                float[] x = random(rnd, T * in, 1), b = random(rnd, out, 1);
                short[] wh = fmt.narrow(random(rnd, in * out, 0.5));
                float[] w = widenAll(fmt, wh);
                float[] y = output(T * out);
                Matmul.matmul(POOL, y, GUARD, guarded(x), GUARD, wh, fmt, b, T, in, out);
                double[] want = new double[T * out], tol = new double[T * out];
                for (int t = 0; t < T; t++) for (int o = 0; o < out; o++) {
                    double s = b[o], abs = Math.abs(b[o]);
                    for (int i = 0; i < in; i++) {
                        double term = (double) x[t * in + i] * w[i * out + o];
                        s += term;
                        abs += Math.abs(term);
                    }
                    want[t * out + o] = s;
                    tol[t * out + o] = (in + 1) * U * abs + 1e-30;
                }
                String what = fmt + " matmul T=" + T + " in=" + in + " out=" + out + " seed=" + SEED;
                close(y, GUARD, want, tol, what);
                guardsIntact(y, T * out, what);
                float[] y32 = new float[T * out];
                Matmul.matmul(null, y32, 0, x, 0, w, b, T, in, out);
                for (int k = 0; k < T * out; k++)
                    assertEquals(Float.floatToIntBits(y32[k]), Float.floatToIntBits(y[GUARD + k]), what + " index " + k + " vs fp32 path");
            }
    }

    // independent of HalfFormat.widen(short[], ...): the per-element form
    private static float[] widenAll(HalfFormat fmt, short[] h) {
        float[] out = new float[h.length];
        for (int i = 0; i < h.length; i++)
            out[i] = fmt == HalfFormat.FP16 ? Float.float16ToFloat(h[i]) : Float.intBitsToFloat(h[i] << 16);
        return out;
    }
}
