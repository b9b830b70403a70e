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

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Shorts with as many lanes as F: half its width. */
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;

    /** Bytes with as many lanes as F (a quarter of its width), for int8 weights; null below 8 lanes. */
    private static final VectorSpecies<Byte> Q = L >= 8 && L <= 32
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8)) : null;

    static int floatLanes() { return L; }

    static boolean q8Vectorized() { return Q != null; }

    // Matmul.axpy4I8 with L lanes per operation: each lane multiplies then adds in the scalar
    // loop's order, so the bits are the scalar form's.
    static void axpy4I8(float[] a, float x0, float x1, float x2, float x3, byte[] q, int o, int out, int n) {
        int o1 = o + out, o2 = o1 + out, o3 = o2 + out;
        FloatVector v0 = FloatVector.broadcast(F, x0), v1 = FloatVector.broadcast(F, x1);
        FloatVector v2 = FloatVector.broadcast(F, x2), v3 = FloatVector.broadcast(F, x3);
        int c = 0;
        for (int bound = F.loopBound(n); c < bound; c += L) {
            FloatVector acc = FloatVector.fromArray(F, a, c);
            acc = acc.add(int8(q, o + c).mul(v0));
            acc = acc.add(int8(q, o1 + c).mul(v1));
            acc = acc.add(int8(q, o2 + c).mul(v2));
            acc = acc.add(int8(q, o3 + c).mul(v3));
            acc.intoArray(a, c);
        }
        for (; c < n; c++) a[c] = a[c] + x0 * q[o + c] + x1 * q[o1 + c] + x2 * q[o2 + c] + x3 * q[o3 + c];
    }

    // a[c] += s[so + c] * p[c] for c in [0, n): multiply, then add (the scalar form's bits)
    static void addScaled(float[] a, float[] p, float[] s, int so, int n) {
        int c = 0;
        for (int bound = F.loopBound(n); c < bound; c += L)
            FloatVector.fromArray(F, a, c).add(FloatVector.fromArray(F, s, so + c).mul(FloatVector.fromArray(F, p, c)))
                    .intoArray(a, c);
        for (; c < n; c++) a[c] += s[so + c] * p[c];
    }

    // L int8 values at q[off..] as fp32 lanes (exact)
    private static FloatVector int8(byte[] q, int off) {
        return (FloatVector) ByteVector.fromArray(Q, q, off).convertShape(VectorOperators.B2F, F, 0);
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

    // sum a[aOff+i] * b[bOff+i]: two vector accumulators (independent adds to overlap), lanes
    // combined at the end; a fixed order, so the same inputs give the same bits on one machine.
    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), acc1);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
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
