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

    // Loop order: for each pair of 8-column groups (16 columns, two accumulators), all rows in
    // order. The bytes of a panel row pair are 64 consecutive bytes, so the four passes over a
    // panel read each cache line four times, from L1/L2 after the first (a panel is in/2 x 64
    // bytes: 24 KB for in = 768). The whole body sits in one loop with no helper calls: with a
    // helper per 8 columns (85 bytes of bytecode) C2 refused to inline ("callee is too large") and
    // every vector was boxed, ~0.5 GMAC/s against int8's ~4.5 (measured, build machine).

    // ---- Q4_0: w = d * (q - 8), a block of 32 rows = 16 byte rows ----

    // x (in), panel of W at lo[base..] (in/2 rows of 64 bytes), d (blocks, out) -> y[yo..yo+64) = x W + b[c0..]
    static void panelQ4_0(float[] y, int yo, float[] x, int xo, byte[] lo, float[] d, int base, int in, int out,
                          float[] b, int c0) {
        for (int j = 0; j < 64; j += 16) {
            FloatVector a0 = FloatVector.zero(F8), a1 = FloatVector.zero(F8);
            for (int i0 = 0; i0 < in; i0 += 32) {
                int so = (i0 >> 5) * out + c0 + j;
                FloatVector d0 = FloatVector.fromArray(F8, d, so), d1 = FloatVector.fromArray(F8, d, so + 8);
                for (int i = i0, o = base + (i0 >> 1) * 64 + j; i < i0 + 32; i += 2, o += 64) {
                    FloatVector x0 = FloatVector.broadcast(F8, x[xo + i]), x1 = FloatVector.broadcast(F8, x[xo + i + 1]);
                    IntVector v0 = (IntVector) ByteVector.fromArray(B8, lo, o).convertShape(VectorOperators.B2I, I8, 0);
                    IntVector v1 = (IntVector) ByteVector.fromArray(B8, lo, o + 8).convertShape(VectorOperators.B2I, I8, 0);
                    // w = d * (q - 8): (float) (q - 8) exactly, as GgmlBlocks
                    a0 = d0.mul((FloatVector) v0.and(15).sub(8).convert(VectorOperators.I2F, 0)).fma(x0, a0);
                    a1 = d1.mul((FloatVector) v1.and(15).sub(8).convert(VectorOperators.I2F, 0)).fma(x0, a1);
                    a0 = d0.mul((FloatVector) v0.lanewise(VectorOperators.ASHR, 4).and(15).sub(8).convert(VectorOperators.I2F, 0)).fma(x1, a0);
                    a1 = d1.mul((FloatVector) v1.lanewise(VectorOperators.ASHR, 4).and(15).sub(8).convert(VectorOperators.I2F, 0)).fma(x1, a1);
                }
            }
            store(y, yo, b, c0, j, a0, a1);
        }
    }

    // ---- Q4_K: w = (d * sc) * q - dmin * mn, per 32 rows ----

    // as panelQ4_0; d, dmin per 256 rows, sc, mn per 32 rows (6-bit, so the sign-extended bytes are the values)
    static void panelQ4K(float[] y, int yo, float[] x, int xo, byte[] lo, float[] d, float[] dmin, byte[] sc, byte[] mn,
                         int base, int in, int out, float[] b, int c0) {
        for (int j = 0; j < 64; j += 16) {
            FloatVector a0 = FloatVector.zero(F8), a1 = FloatVector.zero(F8);
            for (int i0 = 0; i0 < in; i0 += 32) {
                int sb = (i0 >> 8) * out + c0 + j, g = (i0 >> 5) * out + c0 + j;
                // (d * sc) and (dmin * mn), each one multiply, as GgmlBlocks
                FloatVector s0 = FloatVector.fromArray(F8, d, sb).mul((FloatVector) ByteVector.fromArray(B8, sc, g).convertShape(VectorOperators.B2F, F8, 0));
                FloatVector s1 = FloatVector.fromArray(F8, d, sb + 8).mul((FloatVector) ByteVector.fromArray(B8, sc, g + 8).convertShape(VectorOperators.B2F, F8, 0));
                FloatVector m0 = FloatVector.fromArray(F8, dmin, sb).mul((FloatVector) ByteVector.fromArray(B8, mn, g).convertShape(VectorOperators.B2F, F8, 0));
                FloatVector m1 = FloatVector.fromArray(F8, dmin, sb + 8).mul((FloatVector) ByteVector.fromArray(B8, mn, g + 8).convertShape(VectorOperators.B2F, F8, 0));
                for (int i = i0, o = base + (i0 >> 1) * 64 + j; i < i0 + 32; i += 2, o += 64) {
                    FloatVector x0 = FloatVector.broadcast(F8, x[xo + i]), x1 = FloatVector.broadcast(F8, x[xo + i + 1]);
                    IntVector v0 = (IntVector) ByteVector.fromArray(B8, lo, o).convertShape(VectorOperators.B2I, I8, 0);
                    IntVector v1 = (IntVector) ByteVector.fromArray(B8, lo, o + 8).convertShape(VectorOperators.B2I, I8, 0);
                    a0 = s0.mul((FloatVector) v0.and(15).convert(VectorOperators.I2F, 0)).sub(m0).fma(x0, a0);
                    a1 = s1.mul((FloatVector) v1.and(15).convert(VectorOperators.I2F, 0)).sub(m1).fma(x0, a1);
                    a0 = s0.mul((FloatVector) v0.lanewise(VectorOperators.ASHR, 4).and(15).convert(VectorOperators.I2F, 0)).sub(m0).fma(x1, a0);
                    a1 = s1.mul((FloatVector) v1.lanewise(VectorOperators.ASHR, 4).and(15).convert(VectorOperators.I2F, 0)).sub(m1).fma(x1, a1);
                }
            }
            store(y, yo, b, c0, j, a0, a1);
        }
    }

    // ---- Q6_K: w = (d * sc) * ((lo | hi << 4) - 32), per 16 rows ----

    // as panelQ4_0; loBase, hiBase: the panel's first byte in lo (in/2 rows) and hi (in/4 rows); sc signed
    static void panelQ6K(float[] y, int yo, float[] x, int xo, byte[] lo, byte[] hi, float[] d, byte[] sc,
                         int loBase, int hiBase, int in, int out, float[] b, int c0) {
        for (int j = 0; j < 64; j += 8) {
            FloatVector a = FloatVector.zero(F8);
            for (int i0 = 0; i0 < in; i0 += 16) {
                int sb = (i0 >> 8) * out + c0 + j, g = (i0 >> 4) * out + c0 + j;
                FloatVector s = FloatVector.fromArray(F8, d, sb).mul((FloatVector) ByteVector.fromArray(B8, sc, g).convertShape(VectorOperators.B2F, F8, 0));
                for (int i = i0; i < i0 + 16; i += 4) {
                    int ol = loBase + (i >> 1) * 64 + j, oh = hiBase + (i >> 2) * 64 + j;
                    IntVector l01 = (IntVector) ByteVector.fromArray(B8, lo, ol).convertShape(VectorOperators.B2I, I8, 0);
                    IntVector l23 = (IntVector) ByteVector.fromArray(B8, lo, ol + 64).convertShape(VectorOperators.B2I, I8, 0);
                    IntVector h = (IntVector) ByteVector.fromArray(B8, hi, oh).convertShape(VectorOperators.B2I, I8, 0);
                    // rows 4m .. 4m+3: low nibbles of two byte rows, top bits at 2r of the hi byte
                    IntVector q0 = l01.and(15).or(h.and(3).lanewise(VectorOperators.LSHL, 4));
                    IntVector q1 = l01.lanewise(VectorOperators.ASHR, 4).and(15).or(h.and(12).lanewise(VectorOperators.LSHL, 2));
                    IntVector q2 = l23.and(15).or(h.and(48));
                    IntVector q3 = l23.lanewise(VectorOperators.ASHR, 4).and(15).or(h.lanewise(VectorOperators.ASHR, 2).and(48));
                    a = s.mul((FloatVector) q0.sub(32).convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F8, x[xo + i]), a);
                    a = s.mul((FloatVector) q1.sub(32).convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F8, x[xo + i + 1]), a);
                    a = s.mul((FloatVector) q2.sub(32).convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F8, x[xo + i + 2]), a);
                    a = s.mul((FloatVector) q3.sub(32).convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F8, x[xo + i + 3]), a);
                }
            }
            a.add(FloatVector.fromArray(F8, b, c0 + j)).intoArray(y, yo + j);
        }
    }

    // ---- Q4_K factored (issue 20; behind -Dkvdecode.ggml.factored=true, GgmlMatmul) ----
    //
    // The sub-block's scale and min are taken out of the inner loop:
    //   sum_i x_i * (s * q_i - m) = s * sum_i x_i q_i - m * sum_i x_i        (32 rows per sub-block)
    // so a weight costs its unpacking, one int-to-float and one fma (no multiply, no subtract),
    // and each sub-block adds two fma per column. The inner sum runs in two chains (even and odd
    // rows), added at the sub-block's end. Not the dequantized model's arithmetic any more: the
    // result differs from the fp32 matmul over the dequantized matrix by fp32 rounding, within
    // (Higham's bound for a sum of products, the weight's own rounding and the bias included)
    //   |y - (x . W_deq + b)| <= gamma_(in + 5) * (sum_i |x_i| (|s_i q_i| + |m_i|) + |b|),
    //   gamma_n = n u / (1 - n u), u = 2^-24
    // (GgmlFactoredTest). The |m| term is the price of moving the subtraction out: with s q and m
    // of similar size it bounds the cancellation in s * sum(x q) - m * sum(x). The same factoring
    // of Q6_K (s * sum x (q - 32), four chains) measured 1.0-1.15x its exact kernel, within the
    // noise of a shared machine (its cost is assembling q from two arrays), and was dropped
    // (PERF_NOTES_CPU.md section 15).

    // as panelQ4K; xs: scratch of in / 32 floats (x's sum over each 32-row group)
    static void panelQ4KFactored(float[] y, int yo, float[] x, int xo, byte[] lo, float[] d, float[] dmin, byte[] sc, byte[] mn,
                                 int base, int in, int out, float[] b, int c0, float[] xs) {
        for (int k = 0, i = 0; i < in; k++, i += 32) {
            float t = 0;
            for (int r = 0; r < 32; r++) t += x[xo + i + r];
            xs[k] = -t;
        }
        for (int j = 0; j < 64; j += 16) {
            FloatVector a0 = FloatVector.zero(F8), a1 = FloatVector.zero(F8);
            for (int i0 = 0; i0 < in; i0 += 32) {
                int sb = (i0 >> 8) * out + c0 + j, g = (i0 >> 5) * out + c0 + j;
                FloatVector s0 = FloatVector.fromArray(F8, d, sb).mul((FloatVector) ByteVector.fromArray(B8, sc, g).convertShape(VectorOperators.B2F, F8, 0));
                FloatVector s1 = FloatVector.fromArray(F8, d, sb + 8).mul((FloatVector) ByteVector.fromArray(B8, sc, g + 8).convertShape(VectorOperators.B2F, F8, 0));
                FloatVector m0 = FloatVector.fromArray(F8, dmin, sb).mul((FloatVector) ByteVector.fromArray(B8, mn, g).convertShape(VectorOperators.B2F, F8, 0));
                FloatVector m1 = FloatVector.fromArray(F8, dmin, sb + 8).mul((FloatVector) ByteVector.fromArray(B8, mn, g + 8).convertShape(VectorOperators.B2F, F8, 0));
                FloatVector e0 = FloatVector.zero(F8), e1 = FloatVector.zero(F8), o0 = FloatVector.zero(F8), o1 = FloatVector.zero(F8);
                for (int i = i0, o = base + (i0 >> 1) * 64 + j; i < i0 + 32; i += 2, o += 64) {
                    FloatVector x0 = FloatVector.broadcast(F8, x[xo + i]), x1 = FloatVector.broadcast(F8, x[xo + i + 1]);
                    IntVector v0 = (IntVector) ByteVector.fromArray(B8, lo, o).convertShape(VectorOperators.B2I, I8, 0);
                    IntVector v1 = (IntVector) ByteVector.fromArray(B8, lo, o + 8).convertShape(VectorOperators.B2I, I8, 0);
                    e0 = ((FloatVector) v0.and(15).convert(VectorOperators.I2F, 0)).fma(x0, e0);
                    e1 = ((FloatVector) v1.and(15).convert(VectorOperators.I2F, 0)).fma(x0, e1);
                    o0 = ((FloatVector) v0.lanewise(VectorOperators.ASHR, 4).and(15).convert(VectorOperators.I2F, 0)).fma(x1, o0);
                    o1 = ((FloatVector) v1.lanewise(VectorOperators.ASHR, 4).and(15).convert(VectorOperators.I2F, 0)).fma(x1, o1);
                }
                FloatVector nx = FloatVector.broadcast(F8, xs[i0 >> 5]);
                a0 = m0.fma(nx, s0.fma(e0.add(o0), a0));
                a1 = m1.fma(nx, s1.fma(e1.add(o1), a1));
            }
            store(y, yo, b, c0, j, a0, a1);
        }
    }

    // y[yo + j .. + 16) = (a0 | a1) + b[c0 + j ..]
    private static void store(float[] y, int yo, float[] b, int c0, int j, FloatVector a0, FloatVector a1) {
        a0.add(FloatVector.fromArray(F8, b, c0 + j)).intoArray(y, yo + j);
        a1.add(FloatVector.fromArray(F8, b, c0 + j + 8)).intoArray(y, yo + j + 8);
    }
}
