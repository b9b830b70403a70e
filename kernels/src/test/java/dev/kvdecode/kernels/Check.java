package dev.kvdecode.kernels;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.fail;

/** Shared helpers for the op tests: seeded inputs, guard bands, tolerance checks reporting the worst index. */
final class Check {
    private Check() {}

    static final int GUARD = 16;
    static final float GUARD_VALUE = -12345.678f;

    static float[] random(SplittableRandom rnd, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        return a;
    }

    /** An output buffer of n floats at offset GUARD, filled with NaN, with guard values around it. */
    static float[] output(int n) {
        float[] a = new float[n + 2 * GUARD];
        Arrays.fill(a, GUARD_VALUE);
        Arrays.fill(a, GUARD, GUARD + n, Float.NaN);
        return a;
    }

    /** Copies a into a guarded buffer at offset GUARD. */
    static float[] guarded(float[] a) {
        float[] g = new float[a.length + 2 * GUARD];
        Arrays.fill(g, GUARD_VALUE);
        System.arraycopy(a, 0, g, GUARD, a.length);
        return g;
    }

    static void guardsIntact(float[] buf, int n, String what) {
        for (int i = 0; i < GUARD; i++) {
            if (buf[i] != GUARD_VALUE || buf[GUARD + n + i] != GUARD_VALUE)
                fail(what + ": stray write into the guard band");
        }
    }

    /**
     * |got[off+i] - want[i]| <= tol[i] for all i; reports the worst index relative to its tolerance.
     */
    static void close(float[] got, int off, double[] want, double[] tol, String what) {
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < want.length; i++) {
            double g = got[off + i];
            double err = Math.abs(g - want[i]);
            if (!(err <= tol[i])) { // NaN fails
                double ratio = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / tol[i];
                if (worst < 0 || ratio > worstRatio) { worst = i; worstRatio = ratio; }
            }
        }
        if (worst >= 0) {
            fail(String.format("%s: worst index %d got %s want %s (tolerance %.3g, %.1fx over)",
                    what, worst, got[off + worst], want[worst], tol[worst], worstRatio));
        }
    }

    static double[] fill(int n, double v) {
        double[] a = new double[n];
        Arrays.fill(a, v);
        return a;
    }
}
