package dev.kvdecode.kernels;

/** Layer normalization (Ba et al. 2016) over the last dimension, as GPT-2 uses it. */
public final class LayerNorm {
    private LayerNorm() {}

    // x (T,C), gamma,beta (C) -> out (T,C); out may alias x
    /**
     * Two passes per row (mean, then the mean of squared deviations) instead of E[x^2]-E[x]^2,
     * which cancels catastrophically when |mean| >> std. The mean sums x - x[0] (exact for close
     * values, Sterbenz) rather than x, so a large common offset does not swamp the fp32 sum. eps is
     * added to the variance inside the square root, as PyTorch does (GPT-2: 1e-5).
     */
    public static void layerNorm(float[] out, int outOff, float[] x, int xOff,
                                 float[] gamma, float[] beta, int T, int C, float eps) {
        for (int t = 0; t < T; t++) {
            int xo = xOff + t * C, oo = outOff + t * C;
            float shift = x[xo];
            float sum = 0f;
            for (int i = 0; i < C; i++) sum += x[xo + i] - shift;
            float mean = shift + sum / C;
            float sq = 0f;
            for (int i = 0; i < C; i++) {
                float d = x[xo + i] - mean;
                sq += d * d;
            }
            float rstd = (float) (1.0 / Math.sqrt(sq / C + eps));
            for (int i = 0; i < C; i++) out[oo + i] = (x[xo + i] - mean) * rstd * gamma[i] + beta[i];
        }
    }
}
