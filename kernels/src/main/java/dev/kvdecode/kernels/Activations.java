package dev.kvdecode.kernels;

/** The MLP nonlinearities, applied in place. */
public final class Activations {
    private Activations() {}

    private static final double SQRT_2_OVER_PI = Math.sqrt(2.0 / Math.PI);
    private static final double INV_SQRT_2 = 1.0 / Math.sqrt(2.0);

    // x (n) -> act(x) (n), in place
    public static void apply(Activation act, float[] x, int off, int n) {
        switch (act) {
            case GELU_NEW -> geluTanh(x, off, n);
            case GELU -> geluErf(x, off, n);
            case RELU -> relu(x, off, n);
            case SILU -> silu(x, off, n);
        }
    }

    /**
     * Below this many elements an activation runs on the caller. The GELUs cost ~20-30 ns an
     * element (Math.tanh, the erf series, in double): a GPT-2 step's 12 x 3,072 took ~0.9 ms on one
     * core, 7% of a bf16 step, while the other core waited.
     */
    static final int MIN_PARALLEL_ELEMENTS = 1024;

    // x (n) -> act(x) (n), in place, elements split over the pool (each element's result does not
    // depend on the split); ReLU, a few cycles an element, always runs on the caller
    public static void apply(CpuThreads pool, Activation act, float[] x, int off, int n) {
        if (pool == null || pool.threads() == 1 || act == Activation.RELU || n < MIN_PARALLEL_ELEMENTS) {
            apply(act, x, off, n);
            return;
        }
        ApplyTask task = TASK.get();
        task.act = act;
        task.x = x;
        task.off = off;
        try {
            pool.parallelFor(n, task);
        } finally {
            task.x = null;
        }
    }

    private static final ThreadLocal<ApplyTask> TASK = ThreadLocal.withInitial(ApplyTask::new);

    /** Reusable per calling thread, so a parallel call allocates nothing. */
    private static final class ApplyTask implements CpuThreads.RangeTask {
        Activation act;
        float[] x;
        int off;

        @Override
        public void run(int start, int end) { apply(act, x, off + start, end - start); }
    }

    // x (n) -> 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in place
    /** GELU, tanh approximation (Hendrycks &amp; Gimpel 2016, sec. 2); evaluated in double, rounded once. */
    public static void geluTanh(float[] x, int off, int n) {
        for (int i = off; i < off + n; i++) {
            double v = x[i];
            x[i] = (float) (0.5 * v * (1.0 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))));
        }
    }

    // x (n) -> x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), in place
    /** GELU, exact form (Hendrycks &amp; Gimpel 2016, eq. 1); HF "gelu". */
    public static void geluErf(float[] x, int off, int n) {
        for (int i = off; i < off + n; i++) {
            double v = x[i];
            // for v < 0, 1 + erf(z) = erfc(-z): computing it as a difference would cancel
            double cdf2 = v >= 0 ? 1.0 + erf(v * INV_SQRT_2) : erfc(-v * INV_SQRT_2);
            x[i] = (float) (0.5 * v * cdf2);
        }
    }

    // x (n) -> max(0, x), in place
    public static void relu(float[] x, int off, int n) {
        for (int i = off; i < off + n; i++) x[i] = Math.max(0f, x[i]);
    }

    // x (n) -> x / (1 + exp(-x)), in place
    /** SiLU (Elfwing et al. 2017), evaluated in double and rounded once. */
    public static void silu(float[] x, int off, int n) {
        for (int i = off; i < off + n; i++) {
            double v = x[i];
            x[i] = (float) (v / (1.0 + Math.exp(-v)));
        }
    }

    // gu: T rows of [gate (I) | up (I)] -> h: T rows of I = act(gate) * up, written to gu's front (rows packed)
    /**
     * The gated MLP's middle (SwiGLU with SiLU; Shazeer 2020): h = act(gate) * up, the activation
     * rounded to fp32 before the product, as transformers' act_fn(gate_proj(x)) * up_proj(x).
     * Row t's result goes to [t*I, (t+1)*I), which never overlaps a row not yet read (t*I + I <= 2tI
     * for t >= 1, and row 0 reads and writes element by element), so it works in place.
     */
    public static void gated(Activation act, float[] gu, int T, int I) {
        for (int t = 0; t < T; t++) {
            int g = 2 * t * I, o = t * I;
            apply(act, gu, g, I);
            for (int i = 0; i < I; i++) gu[o + i] = gu[g + i] * gu[g + I + i];
        }
    }

    /**
     * erf in double (the JDK has none). |z| < 3: the Maclaurin series
     * erf z = 2/sqrt(pi) sum (-1)^k z^(2k+1) / (k! (2k+1)) (A&amp;S 7.1.5), whose largest term is
     * below e^9, so it keeps ~12 correct digits; |z| >= 3: 1 - erfc z with erfc from its continued
     * fraction (A&amp;S 7.1.14), which converges fast there. Far better than fp32 needs.
     */
    public static double erf(double z) {
        if (Math.abs(z) >= 3.0) return z < 0 ? erfc(-z) - 1.0 : 1.0 - erfc(z);
        return erfSeries(z);
    }

    /** erfc z = 1 - erf z, without cancellation for large z (continued fraction for z >= 3). */
    public static double erfc(double z) {
        if (z < 3.0) return 1.0 - erf(z);
        // erfc z = exp(-z^2)/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + ...))))), evaluated from the tail
        double f = z;
        for (int k = 60; k >= 1; k--) f = z + (k / 2.0) / f;
        return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
    }

    private static double erfSeries(double z) {
        double a = Math.abs(z);
        double z2 = a * a, term = a, sum = a;
        for (int k = 1; k < 200; k++) {
            term *= -z2 / k;
            double add = term / (2 * k + 1);
            sum += add;
            if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
        }
        double r = 2.0 / Math.sqrt(Math.PI) * sum;
        return z < 0 ? -r : r;
    }
}
