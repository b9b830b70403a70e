package dev.kvdecode.kernels;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API panel kernels of {@link GgmlMatrix} (Q4_0, Q4_K, Q6_K): 64 columns as eight
 * 256-bit accumulators, the 4- and 6-bit values widened in registers (bytes to ints, masks and
 * shifts, int to float, times the scale). Each weight is computed with the fp32 operations of
 * {@link GgmlMatrix#get} (so the bits of GgmlBlocks' dequantization) and added as
 * {@link VectorOps#panelF32} adds an fp32 weight: the sum from 0 of x[i] * W[i, c] in input
 * order, one fused multiply-add per term, then plus the bias. So the result is bit for bit the fp32
 * matmul over the dequantized matrix, the scalar twin's ({@link GgmlMatmul}) and the widen-once
 * path's. Like VectorOps, loaded only when the Vector API is enabled (Simd) and the panels are
 * vectorized; 256-bit species only (AVX2 or wider).
 */
final class GgmlVectorOps {
    private GgmlVectorOps() {}

    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> I8 = IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;

    /** Every vector species this class uses (the shape test). */
    static java.util.List<VectorSpecies<?>> species() { return java.util.List.of(F8, I8, B8); }

    // 8 bytes at a[off..] as sign-extended ints
    private static IntVector bytes8(byte[] a, int off) {
        return (IntVector) ByteVector.fromArray(B8, a, off).convertShape(VectorOperators.B2I, I8, 0);
    }

    private static FloatVector toFloat(IntVector v) {
        return (FloatVector) v.convert(VectorOperators.I2F, 0);
    }

    // ---- Q4_0: w = d * (q - 8), a block of 32 rows = 16 byte rows ----

    // x (in), panel of W at lo[base..] (in/2 rows of 64 bytes), d (blocks, out) -> y[yo..yo+64) = x W + b[c0..]
    static void panelQ4_0(float[] y, int yo, float[] x, int xo, byte[] lo, float[] d, int base, int in, int out,
                          float[] b, int c0) {
        FloatVector a0, a1, a2, a3, a4, a5, a6, a7;
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = FloatVector.zero(F8);
        for (int i0 = 0; i0 < in; i0 += 32) {
            int so = (i0 >> 5) * out + c0;
            for (int i = i0, o = base + (i0 >> 1) * 64; i < i0 + 32; i += 2, o += 64) {
                FloatVector x0 = FloatVector.broadcast(F8, x[xo + i]), x1 = FloatVector.broadcast(F8, x[xo + i + 1]);
                a0 = q4_0(a0, lo, o, d, so, x0, x1);
                a1 = q4_0(a1, lo, o + 8, d, so + 8, x0, x1);
                a2 = q4_0(a2, lo, o + 16, d, so + 16, x0, x1);
                a3 = q4_0(a3, lo, o + 24, d, so + 24, x0, x1);
                a4 = q4_0(a4, lo, o + 32, d, so + 32, x0, x1);
                a5 = q4_0(a5, lo, o + 40, d, so + 40, x0, x1);
                a6 = q4_0(a6, lo, o + 48, d, so + 48, x0, x1);
                a7 = q4_0(a7, lo, o + 56, d, so + 56, x0, x1);
            }
        }
        store(y, yo, b, c0, a0, a1, a2, a3, a4, a5, a6, a7);
    }

    // a + x0 * w(row 2m) + x1 * w(row 2m + 1) for 8 columns, in that order
    private static FloatVector q4_0(FloatVector a, byte[] lo, int o, float[] d, int so, FloatVector x0, FloatVector x1) {
        IntVector v = bytes8(lo, o);
        FloatVector dv = FloatVector.fromArray(F8, d, so);
        FloatVector w0 = dv.mul(toFloat(v.and(15).sub(8)));
        FloatVector w1 = dv.mul(toFloat(v.lanewise(VectorOperators.ASHR, 4).and(15).sub(8)));
        return w1.fma(x1, w0.fma(x0, a));
    }

    // ---- Q4_K: w = (d * sc) * q - dmin * mn, per 32 rows ----

    // as panelQ4_0; ds, dm: 64-float scratch for the current 32 rows' scales
    static void panelQ4K(float[] y, int yo, float[] x, int xo, byte[] lo, float[] d, float[] dmin, byte[] sc, byte[] mn,
                         int base, int in, int out, float[] b, int c0, float[] ds, float[] dm) {
        FloatVector a0, a1, a2, a3, a4, a5, a6, a7;
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = FloatVector.zero(F8);
        for (int i0 = 0; i0 < in; i0 += 32) {
            int sb = (i0 >> 8) * out + c0, g = (i0 >> 5) * out + c0;
            for (int j = 0; j < 64; j += 8) {   // (d * sc) and (dmin * mn) of the 64 columns, each one multiply
                FloatVector.fromArray(F8, d, sb + j).mul(toFloat(bytes8(sc, g + j).and(0xFF))).intoArray(ds, j);
                FloatVector.fromArray(F8, dmin, sb + j).mul(toFloat(bytes8(mn, g + j).and(0xFF))).intoArray(dm, j);
            }
            for (int i = i0, o = base + (i0 >> 1) * 64; i < i0 + 32; i += 2, o += 64) {
                FloatVector x0 = FloatVector.broadcast(F8, x[xo + i]), x1 = FloatVector.broadcast(F8, x[xo + i + 1]);
                a0 = q4k(a0, lo, o, ds, dm, 0, x0, x1);
                a1 = q4k(a1, lo, o + 8, ds, dm, 8, x0, x1);
                a2 = q4k(a2, lo, o + 16, ds, dm, 16, x0, x1);
                a3 = q4k(a3, lo, o + 24, ds, dm, 24, x0, x1);
                a4 = q4k(a4, lo, o + 32, ds, dm, 32, x0, x1);
                a5 = q4k(a5, lo, o + 40, ds, dm, 40, x0, x1);
                a6 = q4k(a6, lo, o + 48, ds, dm, 48, x0, x1);
                a7 = q4k(a7, lo, o + 56, ds, dm, 56, x0, x1);
            }
        }
        store(y, yo, b, c0, a0, a1, a2, a3, a4, a5, a6, a7);
    }

    private static FloatVector q4k(FloatVector a, byte[] lo, int o, float[] ds, float[] dm, int j, FloatVector x0, FloatVector x1) {
        IntVector v = bytes8(lo, o);
        FloatVector s = FloatVector.fromArray(F8, ds, j), m = FloatVector.fromArray(F8, dm, j);
        FloatVector w0 = s.mul(toFloat(v.and(15))).sub(m);
        FloatVector w1 = s.mul(toFloat(v.lanewise(VectorOperators.ASHR, 4).and(15))).sub(m);
        return w1.fma(x1, w0.fma(x0, a));
    }

    // ---- Q6_K: w = (d * sc) * ((lo | hi << 4) - 32), per 16 rows ----

    // as panelQ4K; loBase, hiBase: the panel's first byte in lo (in/2 rows) and hi (in/4 rows); ds: 64-float scratch
    static void panelQ6K(float[] y, int yo, float[] x, int xo, byte[] lo, byte[] hi, float[] d, byte[] sc,
                         int loBase, int hiBase, int in, int out, float[] b, int c0, float[] ds) {
        FloatVector a0, a1, a2, a3, a4, a5, a6, a7;
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = FloatVector.zero(F8);
        for (int i0 = 0; i0 < in; i0 += 16) {
            int sb = (i0 >> 8) * out + c0, g = (i0 >> 4) * out + c0;
            for (int j = 0; j < 64; j += 8)   // sc is signed: the sign-extended bytes as they are
                FloatVector.fromArray(F8, d, sb + j).mul(toFloat(bytes8(sc, g + j))).intoArray(ds, j);
            for (int i = i0; i < i0 + 16; i += 4) {
                int ol = loBase + (i >> 1) * 64, oh = hiBase + (i >> 2) * 64;
                FloatVector x0 = FloatVector.broadcast(F8, x[xo + i]), x1 = FloatVector.broadcast(F8, x[xo + i + 1]);
                FloatVector x2 = FloatVector.broadcast(F8, x[xo + i + 2]), x3 = FloatVector.broadcast(F8, x[xo + i + 3]);
                a0 = q6k(a0, lo, ol, hi, oh, ds, 0, x0, x1, x2, x3);
                a1 = q6k(a1, lo, ol + 8, hi, oh + 8, ds, 8, x0, x1, x2, x3);
                a2 = q6k(a2, lo, ol + 16, hi, oh + 16, ds, 16, x0, x1, x2, x3);
                a3 = q6k(a3, lo, ol + 24, hi, oh + 24, ds, 24, x0, x1, x2, x3);
                a4 = q6k(a4, lo, ol + 32, hi, oh + 32, ds, 32, x0, x1, x2, x3);
                a5 = q6k(a5, lo, ol + 40, hi, oh + 40, ds, 40, x0, x1, x2, x3);
                a6 = q6k(a6, lo, ol + 48, hi, oh + 48, ds, 48, x0, x1, x2, x3);
                a7 = q6k(a7, lo, ol + 56, hi, oh + 56, ds, 56, x0, x1, x2, x3);
            }
        }
        store(y, yo, b, c0, a0, a1, a2, a3, a4, a5, a6, a7);
    }

    // rows 4m .. 4m + 3 of 8 columns: two lo byte rows (ol, ol + 64) and one hi byte row (oh)
    private static FloatVector q6k(FloatVector a, byte[] lo, int ol, byte[] hi, int oh, float[] ds, int j,
                                   FloatVector x0, FloatVector x1, FloatVector x2, FloatVector x3) {
        IntVector l01 = bytes8(lo, ol), l23 = bytes8(lo, ol + 64), h = bytes8(hi, oh);
        FloatVector s = FloatVector.fromArray(F8, ds, j);
        IntVector q0 = l01.and(15).or(h.and(3).lanewise(VectorOperators.LSHL, 4));
        IntVector q1 = l01.lanewise(VectorOperators.ASHR, 4).and(15).or(h.and(12).lanewise(VectorOperators.LSHL, 2));
        IntVector q2 = l23.and(15).or(h.and(48));
        IntVector q3 = l23.lanewise(VectorOperators.ASHR, 4).and(15).or(h.lanewise(VectorOperators.ASHR, 2).and(48));
        a = s.mul(toFloat(q0.sub(32))).fma(x0, a);
        a = s.mul(toFloat(q1.sub(32))).fma(x1, a);
        a = s.mul(toFloat(q2.sub(32))).fma(x2, a);
        return s.mul(toFloat(q3.sub(32))).fma(x3, a);
    }

    // y[yo..yo+64) = a + b[c0..c0+64)
    private static void store(float[] y, int yo, float[] b, int c0, FloatVector a0, FloatVector a1, FloatVector a2,
                              FloatVector a3, FloatVector a4, FloatVector a5, FloatVector a6, FloatVector a7) {
        a0.add(FloatVector.fromArray(F8, b, c0)).intoArray(y, yo);
        a1.add(FloatVector.fromArray(F8, b, c0 + 8)).intoArray(y, yo + 8);
        a2.add(FloatVector.fromArray(F8, b, c0 + 16)).intoArray(y, yo + 16);
        a3.add(FloatVector.fromArray(F8, b, c0 + 24)).intoArray(y, yo + 24);
        a4.add(FloatVector.fromArray(F8, b, c0 + 32)).intoArray(y, yo + 32);
        a5.add(FloatVector.fromArray(F8, b, c0 + 40)).intoArray(y, yo + 40);
        a6.add(FloatVector.fromArray(F8, b, c0 + 48)).intoArray(y, yo + 48);
        a7.add(FloatVector.fromArray(F8, b, c0 + 56)).intoArray(y, yo + 56);
    }
}
