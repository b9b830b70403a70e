package dev.kvdecode.kernels;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Vector API kernels against the scalar loops they replace, on fresh random inputs and lengths
 * that leave vector tails. The matmul's axpy forms and the bf16 widening must give the same bits;
 * the dot product (another summation order) must stay within a relative 1e-6 of an fp64 sum.
 * Surefire runs the module's CPU tests twice: with the Vector API (the default argLine adds the
 * module) and with {@code -Dkvdecode.simd=scalar}; this class checks VectorOps directly in both.
 */
class SimdTest {
    static final int[] LENGTHS = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 511, 512, 768, 1023};

    @Test
    void simdSelectionFollowsTheProperty() {
        boolean module = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        assertTrue(module, "the test JVM must run with --add-modules jdk.incubator.vector (pom argLine)");
        assertEquals(!"scalar".equals(System.getProperty("kvdecode.simd")), Simd.VECTOR, Simd.describe());
    }

    /**
     * One vector size per element type (issue 16): where a machine prefers 512-bit vectors, a
     * kernel on Float512Vector beside the 256-bit panels puts both types into the shared Vector
     * API methods' type profiles, and C2 then boxed the fp16 panel kernel's accumulators (an
     * allocation per call, and several times slower). Holds on AVX2 and AVX-512 machines alike.
     */
    @Test
    void everyKernelUsesOneVectorShapePerElementType() {
        if (!Simd.VECTOR) return;   // the scalar run never loads VectorOps
        var sizes = new java.util.TreeMap<String, java.util.Set<Integer>>();
        var all = new java.util.ArrayList<jdk.incubator.vector.VectorSpecies<?>>(VectorOps.species());
        all.addAll(GgmlVectorOps.species());
        for (var sp : all)
            sizes.computeIfAbsent(sp.elementType().getName(), k -> new java.util.TreeSet<>()).add(sp.vectorBitSize());
        for (var e : sizes.entrySet())
            assertEquals(1, e.getValue().size(), e.getKey() + " vectors of several sizes (bits): " + e.getValue());
        if (VectorOps.panelsVectorized()) assertEquals(8, VectorOps.floatLanes(), "the float species is not the panels' 256-bit one");
    }

    @Test
    void softmaxGivesTheScalarBits() {
        SplittableRandom rnd = new SplittableRandom(77);
        for (int n : LENGTHS) for (float spread : new float[] {0.5f, 20f, 200f}) {
            float[] x = new float[n + 11];
            for (int i = 0; i < x.length; i++) x[i] = (float) ((rnd.nextDouble() - 0.5) * spread);
            float[] want = x.clone(), got = x.clone();
            Softmax.scalarSoftmax(want, 5, n);
            VectorOps.softmax(got, 5, n);
            assertBits("softmax n=" + n + " spread=" + spread, want, got);
        }
    }

    @Test
    void axpy4AndAxpyGiveTheScalarBits() {
        SplittableRandom rnd = new SplittableRandom(4242);
        for (int n : LENGTHS) {
            float[] w = random(rnd, 4 * n + 37);
            float[] a0 = random(rnd, n);
            float s0 = f(rnd), s1 = f(rnd), s2 = f(rnd), s3 = f(rnd), s = f(rnd);
            int o0 = 5, o1 = 5 + n, o2 = 11 + 2 * n, o3 = 37 + 3 * n - 1;
            float[] want = a0.clone(), got = a0.clone();
            for (int c = 0; c < n; c++)
                want[c] = want[c] + s0 * w[o0 + c] + s1 * w[o1 + c] + s2 * w[o2 + c] + s3 * w[o3 + c];
            VectorOps.axpy4(got, s0, w, o0, s1, w, o1, s2, w, o2, s3, w, o3, n);
            assertBits("axpy4 n=" + n, want, got);
            for (int c = 0; c < n; c++) want[c] += s * w[o2 + c];
            VectorOps.axpy(got, s, w, o2, n);
            assertBits("axpy n=" + n, want, got);
            // the accumulator at an offset (Matmul's row-weights path)
            float[] wantOff = new float[n + 13], gotOff = new float[n + 13];
            for (int c = 0; c < n + 13; c++) wantOff[c] = gotOff[c] = f(rnd);
            for (int c = 0; c < n; c++)
                wantOff[13 + c] = wantOff[13 + c] + s0 * w[o0 + c] + s1 * w[o1 + c] + s2 * w[o2 + c] + s3 * w[o3 + c];
            VectorOps.axpy4(gotOff, 13, s0, w, o0, s1, w, o1, s2, w, o2, s3, w, o3, n);
            for (int c = 0; c < n; c++) wantOff[13 + c] += s * w[o1 + c];
            VectorOps.axpy(gotOff, 13, s, w, o1, n);
            assertBits("axpy4/axpy at an offset n=" + n, wantOff, gotOff);
        }
    }

    @Test
    void bf16Axpy4EqualsWideningThenAxpy4() {
        SplittableRandom rnd = new SplittableRandom(31);
        for (int n : LENGTHS) {
            short[] w = HalfFormat.BF16.narrow(random(rnd, 4 * n + 21));
            float[] a0 = random(rnd, n);
            float s0 = f(rnd), s1 = f(rnd), s2 = f(rnd), s3 = f(rnd);
            int o0 = 1, o1 = 2 + n, o2 = 9 + 2 * n, o3 = 21 + 3 * n - 1;
            float[] want = a0.clone(), got = a0.clone();
            for (int c = 0; c < n; c++)
                want[c] = want[c] + s0 * HalfFormat.BF16.widen(w[o0 + c]) + s1 * HalfFormat.BF16.widen(w[o1 + c])
                        + s2 * HalfFormat.BF16.widen(w[o2 + c]) + s3 * HalfFormat.BF16.widen(w[o3 + c]);
            VectorOps.axpy4Bf16(got, s0, w, o0, s1, o1, s2, o2, s3, o3, n);
            assertBits("axpy4Bf16 n=" + n, want, got);
        }
    }

    @Test
    void bf16WideningIsExactIncludingSpecials() {
        SplittableRandom rnd = new SplittableRandom(99);
        for (int n : LENGTHS) {
            short[] src = new short[n + 3];
            for (int i = 0; i < src.length; i++) src[i] = (short) rnd.nextInt(1 << 16);
            // NaN, +-Inf, -0, the smallest subnormal, the largest finite
            short[] specials = {(short) 0x7FC1, (short) 0x7F80, (short) 0xFF80, (short) 0x8000, 0x0001, (short) 0x7F7F};
            for (int i = 0; i < Math.min(specials.length, n); i++) src[3 + i] = specials[i];
            float[] got = new float[n];
            VectorOps.widenBf16(src, 3, got, n);
            for (int c = 0; c < n; c++)
                assertEquals(src[3 + c] << 16, Float.floatToRawIntBits(got[c]), "element " + c + " of " + n);
        }
    }

    @Test
    void dotStaysWithinAnFp64Sum() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int n : LENGTHS) {
            float[] a = random(rnd, n + 9), b = random(rnd, n + 4);
            double exact = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                exact += (double) a[9 + i] * b[4 + i];
                mag += Math.abs((double) a[9 + i] * b[4 + i]);
            }
            float v = VectorOps.dot(a, 9, b, 4, n, new float[64]), s = Matmul.scalarDot(a, 9, b, 4, n);
            assertTrue(Math.abs(v - exact) <= 1e-6 * mag, "vector dot n=" + n + ": " + v + " vs " + exact);
            assertTrue(Math.abs(s - exact) <= 1e-6 * mag, "scalar dot n=" + n + ": " + s + " vs " + exact);
        }
    }

    static float f(SplittableRandom rnd) { return (float) rnd.nextDouble(-1, 1); }

    static float[] random(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = f(rnd);
        return x;
    }

    static void assertBits(String what, float[] want, float[] got) {
        for (int i = 0; i < want.length; i++)
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), what + " element " + i);
    }
}
