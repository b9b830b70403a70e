package dev.kvdecode.kernels;

/** Softmax over a vector, in place. */
public final class Softmax {
    private Softmax() {}

    /** Partial sums of the exponentials: element i goes to sum i mod SUMS (a 256-bit vector's lanes). */
    static final int SUMS = 8;
    /** Below this the exponential is 0 here (exp(-86.5) = 2.7e-38: next to the max's 1, nothing). */
    static final float EXP_LO = -86.5f;
    static final float LOG2E = 1.44269504088896341f;
    /** 1.5 * 2^23: adding it rounds a float of magnitude < 2^22 to an integer (nearest even). */
    static final float ROUND = 12582912f;
    static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);
    /** ln 2 split so that n * LN2_HI is exact for |n| < 2^15 (Cody and Waite). */
    static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    /** Cephes' expf polynomial on [-ln2/2, ln2/2] (relative error ~1e-7). */
    static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
            P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    private static final boolean VECTOR = Matmul.PANEL_VECTOR;

    // x (n) -> x (n) = exp(x - max) / sum exp(x - max)
    /**
     * Subtracting the max first (softmax is shift invariant) keeps every exp argument <= 0, so
     * nothing overflows and the largest term is exactly 1, which also bounds the sum below by 1.
     *
     * <p>The exponential is {@link #exp}, a fixed sequence of fp32 multiplies and adds rather than
     * Math.exp: C2 does not vectorize Math.exp (~10 ns each, a fifth of a char-1024 decode step at
     * full context; docs/PERF_NOTES_CPU.md section 11), and this one runs as eight lanes at once in
     * {@link VectorOps#softmax} with the same bits. The sum is accumulated in fp32 as {@link #SUMS}
     * partial sums (element i into sum i mod 8, in index order) combined as
     * ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)), then the tail past the last multiple of 8
     * in index order: the same bits with and without the Vector API, on any thread.
     */
    public static void softmax(float[] x, int off, int n) {
        if (VECTOR) {
            VectorOps.softmax(x, off, n);
        } else {
            scalarSoftmax(x, off, n);
        }
    }

    /** The scalar form of {@link #softmax} (the same bits as the Vector API form). */
    static void scalarSoftmax(float[] x, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f, s4 = 0f, s5 = 0f, s6 = 0f, s7 = 0f;
        int i = 0;
        for (; i + SUMS <= n; i += SUMS) {
            int o = off + i;
            float e0 = exp(x[o] - max), e1 = exp(x[o + 1] - max), e2 = exp(x[o + 2] - max), e3 = exp(x[o + 3] - max);
            float e4 = exp(x[o + 4] - max), e5 = exp(x[o + 5] - max), e6 = exp(x[o + 6] - max), e7 = exp(x[o + 7] - max);
            x[o] = e0; x[o + 1] = e1; x[o + 2] = e2; x[o + 3] = e3; x[o + 4] = e4; x[o + 5] = e5; x[o + 6] = e6; x[o + 7] = e7;
            s0 += e0; s1 += e1; s2 += e2; s3 += e3; s4 += e4; s5 += e5; s6 += e6; s7 += e7;
        }
        float sum = ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7));
        for (; i < n; i++) {
            float e = exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int k = 0; k < n; k++) x[off + k] *= inv;
    }

    /**
     * e^x for x <= 0 (softmax's arguments), within ~2 ulp of the true value; 0 below {@link #EXP_LO}.
     * x = n ln2 + r with n = round(x log2 e) and |r| <= ln2/2, e^r by Cephes' polynomial, times 2^n
     * (an exact multiply by a power of two built from its bits; a NaN stays NaN). Only fp32
     * multiplies and adds, each rounded (no fused multiply-add), so {@link VectorOps#softmax}
     * computes the same bits lane by lane.
     */
    static float exp(float x) {
        float t = x * LOG2E + ROUND;
        float n = t - ROUND;
        int ni = Float.floatToRawIntBits(t) - ROUND_BITS;
        float r = x - n * LN2_HI;
        r = r - n * LN2_LO;
        float p = P0;
        p = p * r + P1;
        p = p * r + P2;
        p = p * r + P3;
        p = p * r + P4;
        p = p * r + P5;
        float y = p * (r * r) + r + 1f;
        float e = y * Float.intBitsToFloat((ni + 127) << 23);
        return x < EXP_LO ? 0f : e;
    }
}
