package dev.kvdecode.kernels;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The factored Q4_K panel kernel (GgmlVectorOps.panelQ4KFactored: scale and min out of the inner
 * loop) on random blocks, T = 1: every output within the stated fp32 rounding bound of the exact
 * (fp64) x . W_deq + b over GgmlBlocks' dequantization,
 *   gamma_(in + 5) * (sum_i |x_i| (|s_i q_i| + |m_i|) + |b|),
 * with guard bands and NaN-filled outputs; three seeds per shape. Vector API only (behind
 * -Dkvdecode.ggml.factored=true; the scalar path stays GgmlMatmul's exact one).
 */
class GgmlFactoredTest {
    static final long SEED = 20261209L;
    static final double U = Math.ulp(1f) / 2;

    @ParameterizedTest
    @CsvSource({"Q4_K, 256, 64", "Q4_K, 768, 192", "Q4_K, 3072, 64", "Q4_K, 1024, 128"})
    void factoredKernelIsWithinTheFp32RoundingBound(GgmlBlocks.Layout l, int in, int out) {
        Assumptions.assumeTrue(Matmul.PANEL_VECTOR, "the Vector API panel kernels are off (scalar-simd run)");
        for (int rep = 0; rep < 3; rep++) {
            long seed = SEED + 31L * rep + in + out;
            SplittableRandom rnd = new SplittableRandom(seed);
            MemorySegment src = GgmlMatrixTest.randomBlocks(rnd, l, in, out);
            GgmlMatrix w = GgmlMatrix.of(l, src, in, out);
            float[] wd = GgmlMatrixTest.reference(l, src, in, out);
            int guard = 16;
            float[] x = new float[in], b = new float[out];
            for (int i = 0; i < in; i++) x[i] = (float) (rnd.nextDouble() * 2 - 1);
            for (int c = 0; c < out; c++) b[c] = (float) (rnd.nextDouble() * 0.2 - 0.1);
            float[] y = new float[out + 2 * guard];
            Arrays.fill(y, Float.NaN);
            float[] xs = new float[in / 32];
            for (int p = 0; p < out / Panels.WIDTH; p++) {
                int c0 = p * Panels.WIDTH;
                GgmlVectorOps.panelQ4KFactored(y, guard + c0, x, 0, w.lo(), w.d(), w.dmin(), w.sc(), w.mn(),
                        Panels.base(p, in / 2), in, out, b, c0, xs);
            }
            for (int k = 0; k < guard; k++) {
                assertTrue(Float.isNaN(y[k]) && Float.isNaN(y[guard + out + k]), "guard band written, seed " + seed);
            }
            double gamma = (in + 5) * U / (1 - (in + 5) * U), worstRatio = 0;
            int worst = -1;
            for (int c = 0; c < out; c++) {
                double exact = b[c], mag = Math.abs(b[c]);
                for (int i = 0; i < in; i++) {
                    exact += (double) x[i] * wd[i * out + c];
                    mag += Math.abs(x[i]) * weightMagnitude(w, i, c);
                }
                double err = Math.abs(y[guard + c] - exact), bound = gamma * mag;
                assertTrue(err <= bound, l + " " + in + "x" + out + " column " + c + ": |err| " + err + " > bound " + bound
                        + ", seed " + seed);
                if (err / bound > worstRatio) {
                    worstRatio = err / bound;
                    worst = c;
                }
            }
            if (rep == 0)
                System.out.printf("%s %dx%d factored: worst |err| / bound = %.3g (column %d)%n", l, in, out, worstRatio, worst);
        }
    }

    /** |s q| + |m| of W[i, c], s and m as the kernel computes them. */
    static double weightMagnitude(GgmlMatrix w, int i, int c) {
        int in = w.in(), out = w.out();
        int q = (w.lo()[Panels.index(i >> 1, c, in / 2, out)] >> (4 * (i & 1))) & 15;
        int sb = (i >> 8) * out + c, g = (i >> 5) * out + c;
        float s = w.d()[sb] * (float) (w.sc()[g] & 0xFF), m = w.dmin()[sb] * (float) (w.mn()[g] & 0xFF);
        return Math.abs((double) s * q) + Math.abs(m);
    }
}
