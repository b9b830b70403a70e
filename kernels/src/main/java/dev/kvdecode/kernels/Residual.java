package dev.kvdecode.kernels;

/** The residual connection of a pre-norm block (He et al. 2016): x = x + f(x). */
public final class Residual {
    private Residual() {}

    // x (n) += y (n), in place
    public static void add(float[] x, int xOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) x[xOff + i] += y[yOff + i];
    }
}
