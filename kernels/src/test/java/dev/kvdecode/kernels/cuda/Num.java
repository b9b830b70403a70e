package dev.kvdecode.kernels.cuda;

import static org.junit.jupiter.api.Assertions.fail;

/** Dtype rounding as the device does it (round to nearest even), and tolerance checks that report the worst index. */
final class Num {
    private Num() {}

    static short toBf16(float f) {
        if (Float.isNaN(f)) return (short) 0x7FC0;
        int b = Float.floatToRawIntBits(f);
        return (short) ((b + 0x7FFF + ((b >>> 16) & 1)) >>> 16);
    }

    static float fromBf16(short h) { return Float.intBitsToFloat((h & 0xFFFF) << 16); }

    /** f rounded to dt and back: the value a T-typed device buffer holds. */
    static float round(DType dt, float f) {
        return switch (dt) {
            case F32 -> f;
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(f));
            case BF16 -> fromBf16(toBf16(f));
        };
    }

    static float[] round(DType dt, float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) r[i] = round(dt, a[i]);
        return r;
    }

    /**
     * Tolerance of an output stored in dt after fp32 compute: fp32 1e-5 (the bound; our
     * kernels differ from the CPU only in the order of fp32 sums, ~1e-7 relative for the sizes
     * tested); f16 1e-3 (the final rounding alone is up to 2^-11 = 4.9e-4 relative, plus a
     * rounding flip when the fp32 values differ in the last bit); bf16 8e-3 (2^-8 = 3.9e-3, same reasoning).
     */
    static double tolerance(DType dt) {
        return switch (dt) {
            case F32 -> 1e-5;
            case F16 -> 1e-3;
            case BF16 -> 8e-3;
        };
    }

    /**
     * |got - ref| <= tol * max(|ref|, floor) for every element: relative error, measured against
     * at least {@code floor} so that values that cancel to near zero (layer-norm outputs, GELU of
     * large negative inputs) are held to an absolute bound instead. NaN in got (an unwritten,
     * poisoned element) always fails.
     */
    static void assertClose(String what, float[] ref, float[] got, double tol, double floor) {
        if (ref.length != got.length) fail(what + ": length " + got.length + ", expected " + ref.length);
        int worst = -1;
        double worstErr = 0;
        for (int i = 0; i < ref.length; i++) {
            if (Float.isNaN(got[i]) && !Float.isNaN(ref[i]))
                fail(what + ": element " + i + " is NaN (not written), expected " + ref[i] + " [" + Dev.where() + "]");
            double err = Math.abs((double) got[i] - ref[i]) / Math.max(Math.abs(ref[i]), floor);
            if (Float.isNaN(ref[i]) != Float.isNaN(got[i])) err = Double.POSITIVE_INFINITY;
            if (Float.isNaN(ref[i]) && Float.isNaN(got[i])) err = 0;
            if (err > worstErr) { worstErr = err; worst = i; }
        }
        if (worstErr > tol)
            fail(String.format("%s: error %.3g > %.1g at index %d: got %s, expected %s [%s]",
                    what, worstErr, tol, worst, got[worst], ref[worst], Dev.where()));
    }

    /** Bit-for-bit equality (NaN equals NaN), for pure data movement. */
    static void assertSame(String what, float[] ref, float[] got) {
        if (ref.length != got.length) fail(what + ": length " + got.length + ", expected " + ref.length);
        for (int i = 0; i < ref.length; i++)
            if (Float.floatToIntBits(ref[i]) != Float.floatToIntBits(got[i]))
                fail(what + ": element " + i + " is " + got[i] + ", expected " + ref[i] + " [" + Dev.where() + "]");
    }
}
