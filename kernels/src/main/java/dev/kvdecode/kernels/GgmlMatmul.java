package dev.kvdecode.kernels;

/**
 * y = x W + b with W a {@link GgmlMatrix} (Q4_0, Q4_K, Q6_K kept quantized): the entry is
 * {@link Matmul#matmul(CpuThreads, float[], int, float[], int, GgmlMatrix, float[], int)}.
 *
 * <p>Every element is the fp32 sum from 0 of x[t,i] * W[i,c] for i = 0, 1, ... in order, one fused
 * multiply-add per term, then plus the bias (plus 0 without one), W[i,c] being the bits of
 * GgmlBlocks' dequantization: exactly the fp32 panel matmul ({@link F32Matrix}) over the
 * dequantized matrix, for any T, thread split, and with or without the Vector API. That choice
 * (rather than llama.cpp's sums of integer products per block, scaled once) costs a multiply per
 * weight, but makes a kept-quantized model's logits the dequantized fp32 model's, bit for bit, so
 * the reference bound (1e-5 relative to the gguf package's dequantization, issue 20) holds with no
 * error budget spent on the kernel.
 *
 * <p>Paths: full 64-column panels on the Vector API ({@link GgmlVectorOps}) for T below
 * {@link Matmul#WIDEN_ONCE_MIN_ROWS}; from there each panel is widened to fp32 once
 * ({@link GgmlMatrix#widen}) and the rows run the fp32 panel kernel; a narrower last panel and
 * the scalar mode widen 32 rows at a time into scratch and add them in the same order.
 */
final class GgmlMatmul {
    private GgmlMatmul() {}

    private static final int ROW_TILE = 8;

    /**
     * {@code -Dkvdecode.ggml.factored=true} (experimental, off by default): Q4_K's full panels
     * run GgmlVectorOps.panelQ4KFactored (scale and min out of the inner loop; ~1.7-2x the exact
     * kernel's GMAC/s) for every row count, widen-once off for them, so a column's bits still do
     * not depend on T; the result is then within a stated fp32 rounding bound of the dequantized
     * matmul, not equal to it (GgmlFactoredTest). Narrow last panels and the scalar mode stay exact.
     */
    static final boolean FACTORED = Boolean.getBoolean("kvdecode.ggml.factored");

    static void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff, GgmlMatrix w, float[] b, int T) {
        int in = w.in(), out = w.out();
        if (T < 1 || xOff < 0 || yOff < 0 || (long) xOff + (long) T * in > x.length
                || (long) yOff + (long) T * out > y.length || (b != null && b.length < out))
            throw new IllegalArgumentException("matmul: x, y or b too short for T=" + T + ", in=" + in + ", out=" + out);
        float[] bias = b != null ? b : zeros(out);   // as Matmul.panels: one path with or without a bias
        CpuThreads p = CpuThreads.forWork(pool, (long) T * in * out);
        int np = Panels.count(out);
        if (p == null || np == 1) {
            panels(y, yOff, x, xOff, w, bias, T, 0, np);
            return;
        }
        int units = T <= ROW_TILE ? Math.min(np, p.threads()) : np;
        Task task = TASK.get();
        task.set(y, yOff, x, xOff, w, bias, T, np, units);
        try {
            p.parallelFor(units, task);
        } finally {
            task.set(null, 0, null, 0, null, null, 0, 0, 0);
        }
    }

    private static final ThreadLocal<Task> TASK = ThreadLocal.withInitial(Task::new);

    private static final class Task implements CpuThreads.RangeTask {
        float[] y, x, b;
        GgmlMatrix w;
        int yOff, xOff, T, np, units;

        void set(float[] y, int yOff, float[] x, int xOff, GgmlMatrix w, float[] b, int T, int np, int units) {
            this.y = y; this.yOff = yOff; this.x = x; this.xOff = xOff; this.w = w; this.b = b;
            this.T = T; this.np = np; this.units = units;
        }

        @Override
        public void run(int s, int e) {
            panels(y, yOff, x, xOff, w, b, T, (int) ((long) np * s / units), (int) ((long) np * e / units));
        }
    }

    private static volatile float[] zeros = new float[0];

    private static float[] zeros(int n) {
        float[] z = zeros;
        if (z.length < n) zeros = z = new float[n];
        return z;
    }

    /** Per thread: [0] accumulators (64), [1] [2] scale scratch (64 each), [3] 32 widened rows (32 x 64). */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {
            new float[Panels.WIDTH], new float[Panels.WIDTH], new float[Panels.WIDTH], new float[32 * Panels.WIDTH]});

    /** The factored Q4_K kernel's per-32-row sums of x, per thread, grown once. */
    private static final ThreadLocal<float[][]> XSUM = ThreadLocal.withInitial(() -> new float[1][0]);

    private static float[] xsum(int in) {
        float[][] h = XSUM.get();
        if (h[0].length < in / 32) h[0] = new float[in / 32];
        return h[0];
    }

    /** One panel widened to fp32 for multi-row calls, per thread, grown once. */
    private static final ThreadLocal<float[][]> WIDE_PANEL = ThreadLocal.withInitial(() -> new float[1][0]);

    // panels [p0, p1) of W, every row t < T
    private static void panels(float[] y, int yOff, float[] x, int xOff, GgmlMatrix w, float[] b, int T, int p0, int p1) {
        int in = w.in(), out = w.out();
        float[][] sc = SCRATCH.get();
        boolean vector = Matmul.PANEL_VECTOR;
        boolean factored = FACTORED && w.layout() == GgmlBlocks.Layout.Q4_K;
        boolean widenOnce = vector && T >= Matmul.WIDEN_ONCE_MIN_ROWS && !factored;
        float[] xs = factored ? xsum(in) : null;
        float[] wide = null;
        if (widenOnce) {
            float[][] holder = WIDE_PANEL.get();
            if (holder[0].length < in * Panels.WIDTH) holder[0] = new float[in * Panels.WIDTH];
            wide = holder[0];
        }
        for (int p = p0; p < p1; p++) {
            int c0 = p * Panels.WIDTH, wp = Panels.width(p, out);
            if (widenOnce && wp == Panels.WIDTH) {
                w.widen(p, 0, in, wide);
                for (int t = 0; t < T; t++) VectorOps.panelF32(y, yOff + t * out + c0, x, xOff + t * in, wide, 0, in, b, c0);
                continue;
            }
            for (int t = 0; t < T; t++) {
                int xo = xOff + t * in, yo = yOff + t * out + c0;
                if (vector && wp == Panels.WIDTH) {
                    switch (w.layout()) {
                        case Q4_0 -> GgmlVectorOps.panelQ4_0(y, yo, x, xo, w.lo(), w.d(), Panels.base(p, in / 2), in, out, b, c0);
                        case Q4_K -> {
                            if (factored) GgmlVectorOps.panelQ4KFactored(y, yo, x, xo, w.lo(), w.d(), w.dmin(), w.sc(), w.mn(),
                                    Panels.base(p, in / 2), in, out, b, c0, xs);
                            else GgmlVectorOps.panelQ4K(y, yo, x, xo, w.lo(), w.d(), w.dmin(), w.sc(), w.mn(),
                                    Panels.base(p, in / 2), in, out, b, c0);
                        }
                        case Q6_K -> GgmlVectorOps.panelQ6K(y, yo, x, xo, w.lo(), w.hi(), w.d(), w.sc(),
                                Panels.base(p, in / 2), Panels.base(p, in / 4), in, out, b, c0);
                        default -> throw new AssertionError(w.layout());
                    }
                } else {
                    scalarPanel(y, yo, x, xo, w, p, b, sc[0], sc[3]);
                }
            }
        }
    }

    // y[yo .. yo+wp) = (0 + sum over i in order of x[xo+i] * W[i, c0 + c], each term one fused
    // multiply-add) + b[c0 ..]: the weights widened 32 rows at a time into rows (32 x wp)
    private static void scalarPanel(float[] y, int yo, float[] x, int xo, GgmlMatrix w, int p, float[] b,
                                    float[] acc, float[] rows) {
        int in = w.in(), c0 = p * Panels.WIDTH, wp = Panels.width(p, w.out());
        java.util.Arrays.fill(acc, 0, wp, 0f);
        for (int i0 = 0; i0 < in; i0 += 32) {
            w.widen(p, i0, 32, rows);
            for (int r = 0, o = 0; r < 32; r++, o += wp) {
                float xi = x[xo + i0 + r];
                for (int c = 0; c < wp; c++) acc[c] = Math.fma(xi, rows[o + c], acc[c]);
            }
        }
        for (int c = 0; c < wp; c++) acc[c] += b[c0 + c];
        System.arraycopy(acc, 0, y, yo, wp);
    }
}
