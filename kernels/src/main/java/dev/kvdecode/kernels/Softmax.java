package dev.kvdecode.kernels;

/** Softmax over a vector, in place. */
public final class Softmax {
    private Softmax() {}

    // x (n) -> x (n) = exp(x - max) / sum exp(x - max)
    /**
     * Subtracting the max first (softmax is shift invariant) keeps every exp argument <= 0, so
     * nothing overflows and the largest term is exactly 1, which also bounds the sum below by 1.
     * The sum is accumulated in fp32 in index order.
     */
    public static void softmax(float[] x, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int i = 0; i < n; i++) x[off + i] *= inv;
    }
}
