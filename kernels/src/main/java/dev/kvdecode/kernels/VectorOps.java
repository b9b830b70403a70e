package dev.kvdecode.kernels;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The explicit-SIMD forms of the CPU kernels' inner loops (used only when {@link Simd#VECTOR}).
 * Measured on the 2-core build machine (docs/PERF_NOTES_CPU.md): the GEMV streams ~1.2-1.5x and
 * the LM head's dot products ~1.6-2x faster than the best scalar forms C2 vectorizes, and the bf16
 * widening, which C2 leaves scalar (it does not vectorize the int-to-float bit cast), becomes a
 * vector shift.
 */
final class VectorOps {
    private VectorOps() {}

    // One vector shape for every kernel in this JVM: 256 bits wherever the machine has them, even
    // where 512 is preferred (AVX-512). The Vector API's shared methods (FloatVector.fma, add, mul,
    // IntVector.lanewise, ...) keep one type profile for all their callers. When the dot product ran
    // on Float512Vector and the panels on Float256Vector, C2 found both types in that profile,
    // inlined a type check, and could no longer keep the panel kernels' accumulators in registers:
    // depending on which kernel it compiled first, the fp16 panel kernel boxed its vectors,
    // ~16.8 KB per step of the allocation test's model and several times slower (issue 16; seen
    // with -XX:+PrintInlining as "TypeProfile ... = Float512Vector" under FloatVector::fma).
    // One shape also makes the dot product's lane order, and so its bits, the same on AVX2 and
    // AVX-512 machines.
    private static final VectorShape SHAPE = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256
            ? VectorShape.S_256_BIT : FloatVector.SPECIES_PREFERRED.vectorShape();
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED.withShape(SHAPE);
    private static final int L = F.length();
    /** Shorts with as many lanes as F: half its width. */
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, SHAPE);

    static int floatLanes() { return L; }

    // ---- packed panels: 64 columns = eight 256-bit vectors, accumulators in registers ----
    // b is never null here: a matmul without a bias passes zeros (Matmul.panels)

    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Short> S8 = ShortVector.SPECIES_128;
    private static final VectorSpecies<Integer> I8 = IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;

    /** The panel kernels need real 256-bit float vectors (AVX2 or wider); otherwise the scalar loops run. */
    static boolean panelsVectorized() { return F.vectorBitSize() == 256; }

    /** Every vector species this class uses, for the test that holds them to one shape (a 256-bit panel shape where vectorized). */
    static java.util.List<VectorSpecies<?>> species() { return java.util.List.of(F, S, I, F8, S8, I8, B8); }

    // Matmul's scalar bf16 panel loop, 64 columns, over row pairs (HalfMatrix): y[yo + c] = (0 +
    // x[xo+i] * W[i, c] for i = 0, 1, ... in order, each term one fused multiply-add) + b[c0 + c]
    // (the same bits: Math.fma there). Fused: C2 compiles a separate multiply and add of this
    // kernel to ~12 GMAC/s from L2 on the build machine, the fma to 22-30 (PERF_NOTES_CPU.md section 13).
    static void panelBf16(float[] y, int yo, float[] x, int xo, int[] w, int base, int in, float[] b, int c0) {
        // Accumulators start at zero and the bias comes last: started from the loaded bias, C2
        // (JDK 25) compiled this loop ~1.7x slower (10.5 -> 6 GMAC/s, docs/PERF_NOTES_CPU.md section 9).
        FloatVector a0, a1, a2, a3, a4, a5, a6, a7;
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = FloatVector.zero(F8);
        int pairs = in / 2, o = base;
        for (int m = 0; m < pairs; m++, o += 64) {
            int i = xo + 2 * m;
            FloatVector x0 = FloatVector.broadcast(F8, x[i]), x1 = FloatVector.broadcast(F8, x[i + 1]);
            IntVector w0 = IntVector.fromArray(I8, w, o), w1 = IntVector.fromArray(I8, w, o + 8);
            IntVector w2 = IntVector.fromArray(I8, w, o + 16), w3 = IntVector.fromArray(I8, w, o + 24);
            IntVector w4 = IntVector.fromArray(I8, w, o + 32), w5 = IntVector.fromArray(I8, w, o + 40);
            IntVector w6 = IntVector.fromArray(I8, w, o + 48), w7 = IntVector.fromArray(I8, w, o + 56);
            a0 = w0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a0);
            a1 = w1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a1);
            a2 = w2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a2);
            a3 = w3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a3);
            a4 = w4.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a4);
            a5 = w5.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a5);
            a6 = w6.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a6);
            a7 = w7.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a7);
            a0 = w0.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a0);
            a1 = w1.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a1);
            a2 = w2.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a2);
            a3 = w3.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a3);
            a4 = w4.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a4);
            a5 = w5.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a5);
            a6 = w6.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a6);
            a7 = w7.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a7);
        }
        a0.intoArray(y, yo); a1.intoArray(y, yo + 8); a2.intoArray(y, yo + 16); a3.intoArray(y, yo + 24);
        a4.intoArray(y, yo + 32); a5.intoArray(y, yo + 40); a6.intoArray(y, yo + 48); a7.intoArray(y, yo + 56);
        // the odd last row (the low halves), then the bias, on the stored sums: a separate pass
        // keeps the main loop's method small enough for C2 to compile it as vector code
        if ((in & 1) != 0) {
            FloatVector x0 = FloatVector.broadcast(F8, x[xo + in - 1]);
            for (int c = 0; c < 64; c += 8)
                IntVector.fromArray(I8, w, o + c).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, FloatVector.fromArray(F8, y, yo + c)).intoArray(y, yo + c);
        }
        for (int c = 0; c < 64; c += 8) FloatVector.fromArray(F8, y, yo + c).add(FloatVector.fromArray(F8, b, c0 + c)).intoArray(y, yo + c);
    }

    /** The high half of each int lane: a bf16 pair's second value, as fp32 bits. */
    private static final IntVector HIGH_HALF = IntVector.broadcast(I8, 0xFFFF0000);

    // The bf16 pairs are widened inline (v << 16: the low halves, v & HIGH_HALF: the high halves):
    // through a helper method taking an IntVector, C2 (JDK 25) left the reinterpret as a boxed call
    // and the kernel ran at ~1 GMAC/s.

    // Attention's bf16 q.k over one head's keys in KvCache's bf16 layout (from kBase: blocks of 32
    // slots, each P pair rows of 32 ints): s[p] = (0 + q[d] k[d][p] for d = 0, 1, ... in order) *
    // scale for every slot of the blocks that cover [p0, p1)
    static void scoresBf16(float[] s, float[] q, int qOff, int[] keys, int kBase, int P, float scale, int p0, int p1) {
        FloatVector sc = FloatVector.broadcast(F8, scale);
        for (int blk = p0 / 32, blkEnd = (p1 + 31) / 32; blk < blkEnd; blk++) {
            FloatVector a0 = FloatVector.zero(F8), a1 = a0, a2 = a0, a3 = a0;
            int o = kBase + blk * P * 32;
            for (int m = 0; m < P; m++, o += 32) {
                FloatVector q0 = FloatVector.broadcast(F8, q[qOff + 2 * m]), q1 = FloatVector.broadcast(F8, q[qOff + 2 * m + 1]);
                IntVector k0 = IntVector.fromArray(I8, keys, o), k1 = IntVector.fromArray(I8, keys, o + 8);
                IntVector k2 = IntVector.fromArray(I8, keys, o + 16), k3 = IntVector.fromArray(I8, keys, o + 24);
                a0 = a0.add(k0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(q0));
                a1 = a1.add(k1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(q0));
                a2 = a2.add(k2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(q0));
                a3 = a3.add(k3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(q0));
                a0 = a0.add(k0.and(HIGH_HALF).reinterpretAsFloats().mul(q1));
                a1 = a1.add(k1.and(HIGH_HALF).reinterpretAsFloats().mul(q1));
                a2 = a2.add(k2.and(HIGH_HALF).reinterpretAsFloats().mul(q1));
                a3 = a3.add(k3.and(HIGH_HALF).reinterpretAsFloats().mul(q1));
            }
            int p = blk * 32;
            a0.mul(sc).intoArray(s, p); a1.mul(sc).intoArray(s, p + 8);
            a2.mul(sc).intoArray(s, p + 16); a3.mul(sc).intoArray(s, p + 24);
        }
    }

    // Attention's bf16 p.v over one head's values in KvCache's bf16 layout (entry at vBase + slot*P,
    // P pairs): even[m] = sum over j oldest first of p_j v_j[2m] (low halves), odd[m] the same over
    // v_j[2m + 1] (high halves), for m < the returned m0 (whole blocks of 8); the caller sums the
    // rest the same way
    static int pvBf16(float[] even, float[] odd, float[] probs, int pOff, int[] values, int vBase,
                      int start, int count, int slots, int P) {
        int m0 = 0;
        for (; m0 + 32 <= P; m0 += 32) {
            FloatVector e0 = FloatVector.zero(F8), e1 = e0, e2 = e0, e3 = e0, o0 = e0, o1 = e0, o2 = e0, o3 = e0;
            for (int j = 0, slot = start; j < count; j++, slot++) {
                if (slot == slots) slot = 0;
                int o = vBase + slot * P + m0;
                FloatVector pj = FloatVector.broadcast(F8, probs[pOff + j]);
                IntVector v0 = IntVector.fromArray(I8, values, o), v1 = IntVector.fromArray(I8, values, o + 8);
                IntVector v2 = IntVector.fromArray(I8, values, o + 16), v3 = IntVector.fromArray(I8, values, o + 24);
                e0 = e0.add(v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(pj));
                e1 = e1.add(v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(pj));
                e2 = e2.add(v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(pj));
                e3 = e3.add(v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(pj));
                o0 = o0.add(v0.and(HIGH_HALF).reinterpretAsFloats().mul(pj));
                o1 = o1.add(v1.and(HIGH_HALF).reinterpretAsFloats().mul(pj));
                o2 = o2.add(v2.and(HIGH_HALF).reinterpretAsFloats().mul(pj));
                o3 = o3.add(v3.and(HIGH_HALF).reinterpretAsFloats().mul(pj));
            }
            e0.intoArray(even, m0); e1.intoArray(even, m0 + 8); e2.intoArray(even, m0 + 16); e3.intoArray(even, m0 + 24);
            o0.intoArray(odd, m0); o1.intoArray(odd, m0 + 8); o2.intoArray(odd, m0 + 16); o3.intoArray(odd, m0 + 24);
        }
        for (; m0 + 8 <= P; m0 += 8) {
            FloatVector e0 = FloatVector.zero(F8), o0 = e0;
            for (int j = 0, slot = start; j < count; j++, slot++) {
                if (slot == slots) slot = 0;
                FloatVector pj = FloatVector.broadcast(F8, probs[pOff + j]);
                IntVector v0 = IntVector.fromArray(I8, values, vBase + slot * P + m0);
                e0 = e0.add(v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(pj));
                o0 = o0.add(v0.and(HIGH_HALF).reinterpretAsFloats().mul(pj));
            }
            e0.intoArray(even, m0);
            o0.intoArray(odd, m0);
        }
        return m0;
    }

    // a full bf16 panel in the pair layout (in rows of 64 at w[base..]) -> wide[0 .. in*64), row after row
    static void widenBf16Pairs(int[] w, int base, float[] wide, int in) {
        for (int i = 0, o = base; i < in; i += 2, o += 64) {
            for (int c = 0; c < 64; c += 8) {
                IntVector v = IntVector.fromArray(I8, w, o + c);
                v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(wide, i * 64 + c);
                if (i + 1 < in) v.and(HIGH_HALF).reinterpretAsFloats().intoArray(wide, (i + 1) * 64 + c);
            }
        }
    }

    // A panel already widened to fp32 (rows of 64 from 0), the bf16/fp16 kernels' order: the sum
    // from 0 of x[xo+i] * w[i, c] in input order, then plus the bias
    static void panelF32(float[] y, int yo, float[] x, int xo, float[] w, int base, int in, float[] b, int c0) {
        FloatVector a0, a1, a2, a3, a4, a5, a6, a7;
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = FloatVector.zero(F8);
        for (int i = 0, o = base; i < in; i++, o += 64) {
            FloatVector xv = FloatVector.broadcast(F8, x[xo + i]);
            a0 = FloatVector.fromArray(F8, w, o).fma(xv, a0);
            a1 = FloatVector.fromArray(F8, w, o + 8).fma(xv, a1);
            a2 = FloatVector.fromArray(F8, w, o + 16).fma(xv, a2);
            a3 = FloatVector.fromArray(F8, w, o + 24).fma(xv, a3);
            a4 = FloatVector.fromArray(F8, w, o + 32).fma(xv, a4);
            a5 = FloatVector.fromArray(F8, w, o + 40).fma(xv, a5);
            a6 = FloatVector.fromArray(F8, w, o + 48).fma(xv, a6);
            a7 = FloatVector.fromArray(F8, w, o + 56).fma(xv, a7);
        }
        a0 = a0.add(FloatVector.fromArray(F8, b, c0)); a1 = a1.add(FloatVector.fromArray(F8, b, c0 + 8));
        a2 = a2.add(FloatVector.fromArray(F8, b, c0 + 16)); a3 = a3.add(FloatVector.fromArray(F8, b, c0 + 24));
        a4 = a4.add(FloatVector.fromArray(F8, b, c0 + 32)); a5 = a5.add(FloatVector.fromArray(F8, b, c0 + 40));
        a6 = a6.add(FloatVector.fromArray(F8, b, c0 + 48)); a7 = a7.add(FloatVector.fromArray(F8, b, c0 + 56));
        a0.intoArray(y, yo); a1.intoArray(y, yo + 8); a2.intoArray(y, yo + 16); a3.intoArray(y, yo + 24);
        a4.intoArray(y, yo + 32); a5.intoArray(y, yo + 40); a6.intoArray(y, yo + 48); a7.intoArray(y, yo + 56);
    }

    // panelQ8 over int8 values already widened to floats (rows of 64 from 0): the same operations
    static void panelQ8F32(float[] y, int yo, float[] x, int xo, float[] qf, float[] s, int in, int out, float[] b, int c0) {
        FloatVector a0, a1, a2, a3, a4, a5, a6, a7;
        a0 = FloatVector.fromArray(F8, b, c0); a1 = FloatVector.fromArray(F8, b, c0 + 8);
        a2 = FloatVector.fromArray(F8, b, c0 + 16); a3 = FloatVector.fromArray(F8, b, c0 + 24);
        a4 = FloatVector.fromArray(F8, b, c0 + 32); a5 = FloatVector.fromArray(F8, b, c0 + 40);
        a6 = FloatVector.fromArray(F8, b, c0 + 48); a7 = FloatVector.fromArray(F8, b, c0 + 56);
        for (int i0 = 0; i0 < in; i0 += Q8Matrix.BLOCK) {
            int i1 = Math.min(in, i0 + Q8Matrix.BLOCK);
            FloatVector p0, p1, p2, p3, p4, p5, p6, p7;
            p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = FloatVector.zero(F8);
            for (int i = i0, o = i0 * 64; i < i1; i++, o += 64) {
                FloatVector xv = FloatVector.broadcast(F8, x[xo + i]);
                p0 = FloatVector.fromArray(F8, qf, o).fma(xv, p0);
                p1 = FloatVector.fromArray(F8, qf, o + 8).fma(xv, p1);
                p2 = FloatVector.fromArray(F8, qf, o + 16).fma(xv, p2);
                p3 = FloatVector.fromArray(F8, qf, o + 24).fma(xv, p3);
                p4 = FloatVector.fromArray(F8, qf, o + 32).fma(xv, p4);
                p5 = FloatVector.fromArray(F8, qf, o + 40).fma(xv, p5);
                p6 = FloatVector.fromArray(F8, qf, o + 48).fma(xv, p6);
                p7 = FloatVector.fromArray(F8, qf, o + 56).fma(xv, p7);
            }
            int so = (i0 / Q8Matrix.BLOCK) * out + c0;
            a0 = a0.add(FloatVector.fromArray(F8, s, so).mul(p0));
            a1 = a1.add(FloatVector.fromArray(F8, s, so + 8).mul(p1));
            a2 = a2.add(FloatVector.fromArray(F8, s, so + 16).mul(p2));
            a3 = a3.add(FloatVector.fromArray(F8, s, so + 24).mul(p3));
            a4 = a4.add(FloatVector.fromArray(F8, s, so + 32).mul(p4));
            a5 = a5.add(FloatVector.fromArray(F8, s, so + 40).mul(p5));
            a6 = a6.add(FloatVector.fromArray(F8, s, so + 48).mul(p6));
            a7 = a7.add(FloatVector.fromArray(F8, s, so + 56).mul(p7));
        }
        a0.intoArray(y, yo); a1.intoArray(y, yo + 8); a2.intoArray(y, yo + 16); a3.intoArray(y, yo + 24);
        a4.intoArray(y, yo + 32); a5.intoArray(y, yo + 40); a6.intoArray(y, yo + 48); a7.intoArray(y, yo + 56);
    }

    // Matmul's scalar fp16 panel loop, 64 columns, the same order as panelBf16: four rows at a
    // time are widened into ws (256 floats; Float.float16ToFloat, which C2 vectorizes with F16C),
    // then added row by row; the bias comes last
    static void panelFp16(float[] y, int yo, float[] x, int xo, short[] h, int base, int in, float[] b, int c0,
                          float[] ws) {
        FloatVector a0, a1, a2, a3, a4, a5, a6, a7;
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = FloatVector.zero(F8);
        for (int i = 0, o = base; i < in; i += 4, o += 256) {
            int rows = Math.min(4, in - i), n = rows * 64;
            for (int c = 0; c < n; c++) ws[c] = Float.float16ToFloat(h[o + c]);
            for (int r = 0, so = 0; r < rows; r++, so += 64) {
                FloatVector xv = FloatVector.broadcast(F8, x[xo + i + r]);
                a0 = FloatVector.fromArray(F8, ws, so).fma(xv, a0);
                a1 = FloatVector.fromArray(F8, ws, so + 8).fma(xv, a1);
                a2 = FloatVector.fromArray(F8, ws, so + 16).fma(xv, a2);
                a3 = FloatVector.fromArray(F8, ws, so + 24).fma(xv, a3);
                a4 = FloatVector.fromArray(F8, ws, so + 32).fma(xv, a4);
                a5 = FloatVector.fromArray(F8, ws, so + 40).fma(xv, a5);
                a6 = FloatVector.fromArray(F8, ws, so + 48).fma(xv, a6);
                a7 = FloatVector.fromArray(F8, ws, so + 56).fma(xv, a7);
            }
        }
        a0 = a0.add(FloatVector.fromArray(F8, b, c0)); a1 = a1.add(FloatVector.fromArray(F8, b, c0 + 8));
        a2 = a2.add(FloatVector.fromArray(F8, b, c0 + 16)); a3 = a3.add(FloatVector.fromArray(F8, b, c0 + 24));
        a4 = a4.add(FloatVector.fromArray(F8, b, c0 + 32)); a5 = a5.add(FloatVector.fromArray(F8, b, c0 + 40));
        a6 = a6.add(FloatVector.fromArray(F8, b, c0 + 48)); a7 = a7.add(FloatVector.fromArray(F8, b, c0 + 56));
        a0.intoArray(y, yo); a1.intoArray(y, yo + 8); a2.intoArray(y, yo + 16); a3.intoArray(y, yo + 24);
        a4.intoArray(y, yo + 32); a5.intoArray(y, yo + 40); a6.intoArray(y, yo + 48); a7.intoArray(y, yo + 56);
    }

    // Matmul's scalar int8 panel loop, 64 columns: per block of 32 rows the products are summed
    // from 0 in row order with one fused multiply-add each, then acc = acc + scale * sum (the same bits)
    static void panelQ8(float[] y, int yo, float[] x, int xo, byte[] q, float[] s, int base, int in, int out,
                        float[] b, int c0) {
        FloatVector a0, a1, a2, a3, a4, a5, a6, a7;
        a0 = FloatVector.fromArray(F8, b, c0); a1 = FloatVector.fromArray(F8, b, c0 + 8);
        a2 = FloatVector.fromArray(F8, b, c0 + 16); a3 = FloatVector.fromArray(F8, b, c0 + 24);
        a4 = FloatVector.fromArray(F8, b, c0 + 32); a5 = FloatVector.fromArray(F8, b, c0 + 40);
        a6 = FloatVector.fromArray(F8, b, c0 + 48); a7 = FloatVector.fromArray(F8, b, c0 + 56);
        for (int i0 = 0; i0 < in; i0 += Q8Matrix.BLOCK) {
            int i1 = Math.min(in, i0 + Q8Matrix.BLOCK);
            FloatVector p0, p1, p2, p3, p4, p5, p6, p7;
            p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = FloatVector.zero(F8);
            for (int i = i0, o = base + i0 * 64; i < i1; i++, o += 64) {
                FloatVector xv = FloatVector.broadcast(F8, x[xo + i]);
                p0 = int8x8(q, o).fma(xv, p0);
                p1 = int8x8(q, o + 8).fma(xv, p1);
                p2 = int8x8(q, o + 16).fma(xv, p2);
                p3 = int8x8(q, o + 24).fma(xv, p3);
                p4 = int8x8(q, o + 32).fma(xv, p4);
                p5 = int8x8(q, o + 40).fma(xv, p5);
                p6 = int8x8(q, o + 48).fma(xv, p6);
                p7 = int8x8(q, o + 56).fma(xv, p7);
            }
            int so = (i0 / Q8Matrix.BLOCK) * out + c0;
            a0 = a0.add(FloatVector.fromArray(F8, s, so).mul(p0));
            a1 = a1.add(FloatVector.fromArray(F8, s, so + 8).mul(p1));
            a2 = a2.add(FloatVector.fromArray(F8, s, so + 16).mul(p2));
            a3 = a3.add(FloatVector.fromArray(F8, s, so + 24).mul(p3));
            a4 = a4.add(FloatVector.fromArray(F8, s, so + 32).mul(p4));
            a5 = a5.add(FloatVector.fromArray(F8, s, so + 40).mul(p5));
            a6 = a6.add(FloatVector.fromArray(F8, s, so + 48).mul(p6));
            a7 = a7.add(FloatVector.fromArray(F8, s, so + 56).mul(p7));
        }
        a0.intoArray(y, yo); a1.intoArray(y, yo + 8); a2.intoArray(y, yo + 16); a3.intoArray(y, yo + 24);
        a4.intoArray(y, yo + 32); a5.intoArray(y, yo + 40); a6.intoArray(y, yo + 48); a7.intoArray(y, yo + 56);
    }

    // Softmax.softmax with eight lanes: the same exp (Softmax.exp's multiplies and adds, lane by
    // lane), the same eight partial sums combined in the same order, the same tail
    static void softmax(float[] x, int off, int n) {
        int bound = n & -8, i = 0;
        FloatVector mv = FloatVector.broadcast(F8, Float.NEGATIVE_INFINITY);
        // Each loop-carried vector (mv, acc) is the argument, never the receiver, of the op that
        // updates it: its type is a loop phi, and a call on it is bound only by the receiver type
        // profile, which a JVM that ran odd shapes (n < 8 never enters these loops) may lack;
        // C2 then compiles a virtual call, boxes, and runs the Java fallback (issue 16).
        for (; i < bound; i += 8) mv = FloatVector.fromArray(F8, x, off + i).max(mv);   // max is commutative, NaN and -0 too
        float max = mv.reduceLanes(VectorOperators.MAX);   // exact in any order
        for (; i < n; i++) max = Math.max(max, x[off + i]);
        FloatVector m = FloatVector.broadcast(F8, max), acc = FloatVector.zero(F8);
        for (i = 0; i < bound; i += 8) {
            // Softmax.exp on eight lanes (the same operations, so the same bits), written out here
            // rather than in a helper taking and returning vectors: when a JVM's profile says this
            // loop is cold (many rows with n < 8 never enter it: the odd shapes of a test suite),
            // C2 compiles softmax without inlining a 195-byte helper, and then every vector that
            // crosses the call is boxed and, typed only as FloatVector, runs the Vector API's Java
            // fallback: 6 KB per decode step for the rest of the process (issue 16, AllocationTest
            // after the runtime suite in one JVM; docs/PERF_NOTES_CPU.md).
            FloatVector d = FloatVector.fromArray(F8, x, off + i).sub(m);
            FloatVector t = d.mul(Softmax.LOG2E).add(Softmax.ROUND);
            FloatVector k = t.sub(Softmax.ROUND);
            IntVector ki = t.reinterpretAsInts().sub(Softmax.ROUND_BITS);
            FloatVector r = d.sub(k.mul(Softmax.LN2_HI));
            r = r.sub(k.mul(Softmax.LN2_LO));
            FloatVector p = FloatVector.broadcast(F8, Softmax.P0);
            p = p.mul(r).add(Softmax.P1);
            p = p.mul(r).add(Softmax.P2);
            p = p.mul(r).add(Softmax.P3);
            p = p.mul(r).add(Softmax.P4);
            p = p.mul(r).add(Softmax.P5);
            FloatVector y = p.mul(r.mul(r)).add(r).add(1f);
            FloatVector scale = ki.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            FloatVector e = y.mul(scale).blend(0f, d.lt(Softmax.EXP_LO));
            e.intoArray(x, off + i);
            acc = e.add(acc);   // IEEE addition is commutative: the same bits
        }
        float sum = ((acc.lane(0) + acc.lane(4)) + (acc.lane(2) + acc.lane(6)))
                + ((acc.lane(1) + acc.lane(5)) + (acc.lane(3) + acc.lane(7)));
        for (; i < n; i++) {
            float e = Softmax.exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        FloatVector iv = FloatVector.broadcast(F8, inv);
        for (i = 0; i < bound; i += 8) FloatVector.fromArray(F8, x, off + i).mul(iv).intoArray(x, off + i);
        for (; i < n; i++) x[off + i] *= inv;
    }

    // 8 bf16 values at h[off..] as fp32 (exact)
    private static FloatVector bf16x8(short[] h, int off) {
        IntVector bits = (IntVector) ShortVector.fromArray(S8, h, off).convertShape(VectorOperators.S2I, I8, 0);
        return bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    // 8 int8 values at q[off..] as fp32 (exact)
    private static FloatVector int8x8(byte[] q, int off) {
        return (FloatVector) ByteVector.fromArray(B8, q, off).convertShape(VectorOperators.B2F, F8, 0);
    }


    // a[0..n) = a + s0*w[o0+c] + s1*w[o1+c] + s2*w[o2+c] + s3*w[o3+c], each lane multiply-then-add
    // in that order: the bits of Matmul's scalar axpy4 (Java's a + s0*v0 + ... has no fused FMA).
    static void axpy4(float[] a, float s0, float[] w0, int o0, float s1, float[] w1, int o1,
                      float s2, float[] w2, int o2, float s3, float[] w3, int o3, int n) {
        axpy4(a, 0, s0, w0, o0, s1, w1, o1, s2, w2, o2, s3, w3, o3, n);
    }

    // The same on a[aOff .. aOff+n)
    static void axpy4(float[] a, int aOff, float s0, float[] w0, int o0, float s1, float[] w1, int o1,
                      float s2, float[] w2, int o2, float s3, float[] w3, int o3, int n) {
        int c = 0;
        FloatVector v0 = FloatVector.broadcast(F, s0), v1 = FloatVector.broadcast(F, s1);
        FloatVector v2 = FloatVector.broadcast(F, s2), v3 = FloatVector.broadcast(F, s3);
        for (int bound = F.loopBound(n); c < bound; c += L) {
            FloatVector acc = FloatVector.fromArray(F, a, aOff + c);
            acc = acc.add(FloatVector.fromArray(F, w0, o0 + c).mul(v0));
            acc = acc.add(FloatVector.fromArray(F, w1, o1 + c).mul(v1));
            acc = acc.add(FloatVector.fromArray(F, w2, o2 + c).mul(v2));
            acc = acc.add(FloatVector.fromArray(F, w3, o3 + c).mul(v3));
            acc.intoArray(a, aOff + c);
        }
        for (; c < n; c++)
            a[aOff + c] = a[aOff + c] + s0 * w0[o0 + c] + s1 * w1[o1 + c] + s2 * w2[o2 + c] + s3 * w3[o3 + c];
    }

    // The same for bf16 weights read as stored: each row widened in registers (exact, as widenBf16),
    // so the bits equal widenBf16 + axpy4 without the scratch pass.
    static void axpy4Bf16(float[] a, float s0, short[] w, int o0, float s1, int o1, float s2, int o2,
                          float s3, int o3, int n) {
        int c = 0;
        FloatVector v0 = FloatVector.broadcast(F, s0), v1 = FloatVector.broadcast(F, s1);
        FloatVector v2 = FloatVector.broadcast(F, s2), v3 = FloatVector.broadcast(F, s3);
        for (int bound = F.loopBound(n); c < bound; c += L) {
            FloatVector acc = FloatVector.fromArray(F, a, c);
            acc = acc.add(bf16(w, o0 + c).mul(v0));
            acc = acc.add(bf16(w, o1 + c).mul(v1));
            acc = acc.add(bf16(w, o2 + c).mul(v2));
            acc = acc.add(bf16(w, o3 + c).mul(v3));
            acc.intoArray(a, c);
        }
        for (; c < n; c++)
            a[c] = a[c] + s0 * Float.intBitsToFloat(w[o0 + c] << 16) + s1 * Float.intBitsToFloat(w[o1 + c] << 16)
                    + s2 * Float.intBitsToFloat(w[o2 + c] << 16) + s3 * Float.intBitsToFloat(w[o3 + c] << 16);
    }

    // L bf16 values at w[off..] as fp32 lanes
    private static FloatVector bf16(short[] w, int off) {
        IntVector bits = (IntVector) ShortVector.fromArray(S, w, off).convertShape(VectorOperators.S2I, I, 0);
        return bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    // a[0..n) += s * w[o + c]
    static void axpy(float[] a, float s, float[] w, int o, int n) { axpy(a, 0, s, w, o, n); }

    // a[aOff + c] += s * w[o + c] for c in [0, n)
    static void axpy(float[] a, int aOff, float s, float[] w, int o, int n) {
        int c = 0;
        FloatVector vs = FloatVector.broadcast(F, s);
        for (int bound = F.loopBound(n); c < bound; c += L)
            FloatVector.fromArray(F, a, aOff + c).add(FloatVector.fromArray(F, w, o + c).mul(vs)).intoArray(a, aOff + c);
        for (; c < n; c++) a[aOff + c] += s * w[o + c];
    }

    // sum a[aOff+i] * b[bOff+i]: two vector accumulators (independent adds to overlap), their lanes
    // then summed in a fixed pairwise order through lanes[] (L floats of the caller's scratch).
    // Not reduceLanes(ADD): the Vector API leaves its order unspecified, and the interpreted or C1
    // form and C2's intrinsic did differ by an ulp, so a step's logits depended on when C2 compiled
    // this method (seen as ring != shift by 1 ulp in CpuSessionTest).
    static float dot(float[] a, int aOff, float[] b, int bOff, int n, float[] lanes) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), acc1);
        }
        acc0.add(acc1).intoArray(lanes, 0);
        for (int w = L / 2; w >= 1; w /= 2)
            for (int k = 0; k < w; k++) lanes[k] = lanes[k] + lanes[k + w];
        float s = lanes[0];
        for (; i < n; i++) s += a[aOff + i] * b[bOff + i];
        return s;
    }

    // bf16 bits src[srcOff..srcOff+n) -> fp32 dst[0..n): the bits moved to the top half (exact)
    static void widenBf16(short[] src, int srcOff, float[] dst, int n) {
        int c = 0;
        for (int bound = S.loopBound(n); c < bound; c += L) bf16(src, srcOff + c).intoArray(dst, c);
        for (; c < n; c++) dst[c] = Float.intBitsToFloat(src[srcOff + c] << 16);
    }
}
