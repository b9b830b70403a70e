package dev.kvdecode.kernels;

/**
 * 16-bit weight formats the CPU matmuls read as stored ({@code short[]} bit patterns) and widen to
 * fp32 in scratch just before use, so a decode step streams half the weight bytes of fp32 (issue 9).
 * Arithmetic stays fp32: only the weights are rounded, once, when they are narrowed.
 */
public enum HalfFormat {
    /** IEEE 754 binary16: 5 exponent bits, 10 mantissa bits. */
    FP16,
    /** bfloat16: the top 16 bits of an fp32 (8 exponent bits, 7 mantissa bits). */
    BF16;

    // src (n) bits at srcOff -> dst (n) fp32 at 0
    /**
     * FP16 uses {@link Float#float16ToFloat}, which C2 vectorizes (F16C on x86). BF16 is a 16-bit
     * shift and a bit cast, exact, but C2 (JDK 25) does not vectorize the cast, so without the
     * Vector API ({@link Simd}) a bf16 matmul is limited by this scalar loop rather than by memory
     * (docs/PERF_NOTES_CPU.md).
     */
    public void widen(short[] src, int srcOff, float[] dst, int n) {
        if (this == FP16) {
            for (int c = 0; c < n; c++) dst[c] = Float.float16ToFloat(src[srcOff + c]);
        } else if (Simd.VECTOR) {
            VectorOps.widenBf16(src, srcOff, dst, n);  // the same bits, as a vector shift
        } else {
            for (int c = 0; c < n; c++) dst[c] = Float.intBitsToFloat(src[srcOff + c] << 16);
        }
    }

    /** fp32 -> this format, rounding to nearest even (NaN stays NaN). */
    public short narrow(float f) {
        if (this == FP16) return Float.floatToFloat16(f);
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** Every element of src narrowed to this format. */
    public short[] narrow(float[] src) {
        short[] out = new short[src.length];
        for (int i = 0; i < src.length; i++) out[i] = narrow(src[i]);
        return out;
    }

    /** The fp32 value of one stored element. */
    public float widen(short bits) {
        return this == FP16 ? Float.float16ToFloat(bits) : Float.intBitsToFloat(bits << 16);
    }

    /**
     * Value i of a bf16 pair (two bf16 in one int, element 2m in the low half and 2m+1 in the
     * high half: the layout of HalfMatrix's bf16 panels and of the bf16 KV cache) as fp32: the low
     * half for even i, the high half for odd i (exact).
     */
    public static float bf16OfPair(int pair, int i) {
        return Float.intBitsToFloat((i & 1) == 0 ? pair << 16 : pair & 0xFFFF0000);
    }
}
