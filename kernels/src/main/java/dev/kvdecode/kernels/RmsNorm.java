package dev.kvdecode.kernels;

/** Root-mean-square layer normalization (Zhang &amp; Sennrich 2019), as Llama-family models use it. */
public final class RmsNorm {
    private RmsNorm() {}

    // x (T,C), weight (C) -> out (T,C); out may alias x
    /**
     * out = weight * (x * rsqrt(mean(x^2) + eps)), in Hugging Face's order (LlamaRMSNorm): the
     * mean of squares accumulated in fp32, eps added in fp32, the reciprocal square root taken in
     * double and rounded once, then x times it, then times the weight. No mean is subtracted and
     * there is no bias.
     */
    public static void rmsNorm(float[] out, int outOff, float[] x, int xOff, float[] weight, int T, int C, float eps) {
        for (int t = 0; t < T; t++) {
            int xo = xOff + t * C, oo = outOff + t * C;
            float sq = 0f;
            for (int i = 0; i < C; i++) sq += x[xo + i] * x[xo + i];
            float r = (float) (1.0 / Math.sqrt(sq / C + eps));
            for (int i = 0; i < C; i++) out[oo + i] = weight[i] * (x[xo + i] * r);
        }
    }

    // x: T rows of `heads` vectors of HS at rowOff + t*stride + h*HS, weight (HS) -> in place
    /** Per-head RMSNorm of `heads` consecutive HS-vectors in each of T rows (Qwen3's q/k norm). */
    public static void rmsNormHeads(float[] x, int off, int stride, int T, int heads, int HS, float[] weight, float eps) {
        for (int t = 0; t < T; t++)
            for (int h = 0; h < heads; h++) {
                int o = off + t * stride + h * HS;
                rmsNorm(x, o, x, o, weight, 1, HS, eps);
            }
    }
}
