package dev.kvdecode.kernels;

/**
 * Linear layers y = x W + b, W in Hugging Face's Conv1D orientation (in, out), in two storage
 * families:
 *
 * <ul>
 *   <li><b>Packed panels</b> ({@link F32Matrix}, {@link HalfMatrix}, {@link Q8Matrix}; the CPU
 *       backend's weights in every format): each thread streams a contiguous run of 64-column
 *       panels, a panel's accumulators in registers; each element is the fp32 sum from 0 of
 *       x[t,i] * W[i,c] for i = 0, 1, ... in order, one fused multiply-add per term (Math.fma in
 *       the scalar loops), then plus the bias (int8: such a sum per block of 32 inputs, added
 *       times the block's scale)</li>
 *   <li><b>Flat</b> (float[] or 16-bit short[] in the checkpoint's row-major order): y = b + sum_i
 *       x[i] * W[i, :], each step a contiguous segment of a row of W added into a run of
 *       accumulators; kept as the layout baseline ({@code DecodeOpsBench -p dtype=fp32-flat}) and
 *       as a second, independently blocked implementation the tests hold the panels against.</li>
 * </ul>
 *
 * <p>In each family every output element gets the same bits whatever the number of rows, the
 * blocking or the thread split, so a row gets the same bits from the batch-1 path and from the
 * prefill path: that is what makes cached and recomputed logits agree exactly.
 */
public final class Matmul {
    private Matmul() {}

    /** Columns per parallel work item (64 floats = 4 cache lines). */
    private static final int COL_TILE = 64;
    /** Blocking: rows of x per tile, columns per block (8 x 512 floats of accumulators + 4 W segments = 24 KB, in L1). */
    private static final int ROW_TILE = 8;
    private static final int COL_BLOCK = 512;

    // x (T,in), w (in,out), b (out) or null -> y (T,out); y must not alias x
    public static void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff,
                              float[] w, float[] b, int T, int in, int out) {
        matmul(pool, y, yOff, x, xOff, w, null, null, b, T, in, out);
    }

    // x (T,in), wh (in,out) 16-bit in format fmt, b (out) or null -> y (T,out); y must not alias x
    /** As {@link #matmul(CpuThreads, float[], int, float[], int, float[], float[], int, int, int)}, with
     *  each W segment widened from {@code fmt} instead of copied: same order of fp32 operations. */
    public static void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff,
                              short[] wh, HalfFormat fmt, float[] b, int T, int in, int out) {
        matmul(pool, y, yOff, x, xOff, null, wh, fmt, b, T, in, out);
    }

    // x (T,in), w int8 (in,out) with per-block scales, b (out) or null -> y (T,out); y must not alias x
    /**
     * y = x W + b with W in the int8 format of {@link Q8Matrix} ({@code --dtype int8}): each
     * element starts at the bias and, for each block of 32 inputs in order, adds scale[block, c]
     * times the fp32 sum of x[t,i] * q[i,c] over the block's i in order (one fused multiply-add
     * per term). The same bits for any
     * T, blocking or thread split (so cached and recomputed logits agree exactly), and the same
     * bits with and without the Vector API.
     */
    public static void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff, Q8Matrix w, float[] b, int T) {
        panelMatmul(pool, y, yOff, x, xOff, null, null, w, b, T, w.in(), w.out());
    }

    // x (T,in), w Q4_0/Q4_K/Q6_K (in,out) packed, b (out) or null -> y (T,out); y must not alias x
    /**
     * y = x W + b with W kept in a ggml block format ({@link GgmlMatrix}, a GGUF model's Q4_0, Q4_K
     * or Q6_K weights), widened in registers: each element is the fp32 sum from 0 of x[t,i] * W[i,c]
     * for i = 0, 1, ... in order (one fused multiply-add per term), then plus the bias, W[i,c] being
     * the bits of the block's dequantization: the fp32 matmul over the dequantized matrix, bit for
     * bit, for any T or thread split, with and without the Vector API ({@link GgmlMatmul}).
     */
    public static void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff, GgmlMatrix w, float[] b, int T) {
        GgmlMatmul.matmul(pool, y, yOff, x, xOff, w, b, T);
    }

    // x (T,in), w fp16/bf16 (in,out) packed, b (out) or null -> y (T,out); y must not alias x
    /**
     * y = x W + b with W a packed 16-bit copy ({@link HalfMatrix}): each element is the fp32 sum
     * from 0 of x[t,i] * W[i,c] for i = 0, 1, ... in order (one fused multiply-add per term),
     * then plus the bias, or plus 0 without
     * one (the bias comes last here, unlike the flat paths, see VectorOps.panelBf16); the same bits for any T or
     * thread split, with and without the Vector API.
     */
    public static void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff, HalfMatrix w, float[] b, int T) {
        panelMatmul(pool, y, yOff, x, xOff, null, w, null, b, T, w.in(), w.out());
    }

    // x (T,in), w fp32 (in,out) packed, b (out) or null -> y (T,out); y must not alias x
    /**
     * y = x W + b with W packed in panels ({@link F32Matrix}, the CPU backend's fp32 weights): each
     * element is the fp32 sum from 0 of x[t,i] * W[i,c] for i = 0, 1, ... in order, each term one
     * fused multiply-add, then plus the bias (or plus 0 without one), as the 16-bit panels; the
     * same bits for any T or thread split, with and without the Vector API.
     */
    public static void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff, F32Matrix w, float[] b, int T) {
        panelMatmul(pool, y, yOff, x, xOff, w, null, null, b, T, w.in(), w.out());
    }

    private static void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff,
                               float[] w, short[] wh, HalfFormat fmt, float[] b, int T, int in, int out) {
        CpuThreads p = CpuThreads.forWork(pool, (long) T * in * out);
        // Few rows (decode): one contiguous run of columns per thread. The op then streams W at
        // memory speed in long row segments (one copy per W row and thread) and needs one
        // hand-off per thread; 64-column tiles cost ~4x the copies and hand-offs for no balance
        // gain (a late thread's run is taken by whoever is free, see CpuThreads).
        int tile = p == null ? out : T <= ROW_TILE ? roundUp((out + p.threads() - 1) / p.threads(), 16) : COL_TILE;
        int tiles = (out + tile - 1) / tile;
        if (p == null || tiles == 1) {
            columns(y, yOff, x, xOff, w, wh, fmt, b, T, in, out, 0, out);
            return;
        }
        // a reusable task per calling thread: a capturing lambda would allocate on every call
        MatmulTask task = MATMUL_TASK.get();
        task.set(y, yOff, x, xOff, w, wh, fmt, b, T, in, out, tile);
        try {
            p.parallelFor(tiles, task);
        } finally {
            task.set(null, 0, null, 0, null, null, null, null, 0, 0, 0, 0);
        }
    }

    private static int roundUp(int n, int m) { return (n + m - 1) / m * m; }

    private static final ThreadLocal<MatmulTask> MATMUL_TASK = ThreadLocal.withInitial(MatmulTask::new);

    private static final class MatmulTask implements CpuThreads.RangeTask {
        float[] y, x, w, b;
        short[] wh;
        HalfFormat fmt;
        int yOff, xOff, T, in, out, tile;

        void set(float[] y, int yOff, float[] x, int xOff, float[] w, short[] wh, HalfFormat fmt,
                 float[] b, int T, int in, int out, int tile) {
            this.y = y; this.yOff = yOff; this.x = x; this.xOff = xOff; this.w = w;
            this.wh = wh; this.fmt = fmt;
            this.b = b; this.T = T; this.in = in; this.out = out; this.tile = tile;
        }

        @Override
        public void run(int s, int e) {
            int c0 = s * tile, c1 = Math.min(out, e * tile);
            columns(y, yOff, x, xOff, w, wh, fmt, b, T, in, out, c0, c1);
        }
    }

    /**
     * Scratch of one thread: copies of the current four W row segments and ROW_TILE accumulator rows.
     * C2 (JDK 25) does not vectorize y[yo + c] += x * w[wo + c] when y and w are both float[]
     * parameters at different offsets (they might alias), but does when both are indexed by the
     * same c from 0: so the W segment is first copied (System.arraycopy, at memory speed) and the
     * arithmetic runs on scratch arrays. Measured on this box: ~1.6 -> ~9 GMAC/s for the L1 loop.
     */
    private static final class Scratch {
        final float[] w0 = new float[COL_BLOCK], w1 = new float[COL_BLOCK],
                w2 = new float[COL_BLOCK], w3 = new float[COL_BLOCK];
        final float[][] acc = new float[ROW_TILE][COL_BLOCK];
        /** One accumulator row for a whole decode-sized column run (see columns()). */
        final float[][] accRun = new float[1][RUN_BLOCK];
    }

    /**
     * Columns per block when one row (T = 1) runs through a Vector API path that reads W in place:
     * a thread's whole column run (1,152 for GPT-2's qkv on 2 threads) in one pass over the W rows,
     * so each row is read as one long sequential segment instead of 2 KB pieces (16 KB of
     * accumulator, in L1).
     */
    private static final int RUN_BLOCK = 4096;

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    // T rows, columns [c0, c1): for each block of COL_BLOCK columns and tile of ROW_TILE rows, the
    // accumulators start at the bias and add x[t,i] * W[i, block] for i = 0, 1, ..., in-1 in order.
    // W is w (fp32) or, when w is null, wh in format fmt.
    private static void columns(float[] y, int yOff, float[] x, int xOff, float[] w, short[] wh, HalfFormat fmt,
                                float[] b, int T, int in, int out, int c0, int c1) {
        Scratch sc = SCRATCH.get();
        float[] w0 = sc.w0, w1 = sc.w1, w2 = sc.w2, w3 = sc.w3;
        // W read where it is stored (fp32, or bf16 widened in registers): same bits as the scratch loops
        boolean inPlace = Simd.VECTOR && (w != null || fmt == HalfFormat.BF16);
        // (a bf16 remainder row, in % 4 != 0, goes through the scratch loops, sized COL_BLOCK)
        boolean run = inPlace && T == 1 && (w != null || in % 4 == 0);
        int block = run ? RUN_BLOCK : COL_BLOCK;
        float[][] acc = run ? sc.accRun : sc.acc;
        for (int cb = c0; cb < c1; cb += block) {
            int n = Math.min(block, c1 - cb);
            for (int t0 = 0; t0 < T; t0 += ROW_TILE) {
                int rows = Math.min(ROW_TILE, T - t0);
                for (int r = 0; r < rows; r++) {
                    if (b == null) java.util.Arrays.fill(acc[r], 0, n, 0f);
                    else System.arraycopy(b, cb, acc[r], 0, n);
                }
                int i = 0;
                if (inPlace) {
                    for (; i + 4 <= in; i += 4) {
                        int wo = i * out + cb;
                        for (int r = 0; r < rows; r++) {
                            int xo = xOff + (t0 + r) * in + i;
                            if (w != null)
                                VectorOps.axpy4(acc[r], x[xo], w, wo, x[xo + 1], w, wo + out,
                                        x[xo + 2], w, wo + 2 * out, x[xo + 3], w, wo + 3 * out, n);
                            else
                                VectorOps.axpy4Bf16(acc[r], x[xo], wh, wo, x[xo + 1], wo + out, x[xo + 2], wo + 2 * out,
                                        x[xo + 3], wo + 3 * out, n);
                        }
                    }
                    if (w != null)
                        for (; i < in; i++)
                            for (int r = 0; r < rows; r++) VectorOps.axpy(acc[r], x[xOff + (t0 + r) * in + i], w, i * out + cb, n);
                }
                for (; i + 4 <= in; i += 4) {
                    int wo = i * out + cb;
                    load(w, wh, fmt, wo, w0, n);
                    load(w, wh, fmt, wo + out, w1, n);
                    load(w, wh, fmt, wo + 2 * out, w2, n);
                    load(w, wh, fmt, wo + 3 * out, w3, n);
                    for (int r = 0; r < rows; r++) {
                        int xo = xOff + (t0 + r) * in + i;
                        axpy4(acc[r], x[xo], w0, x[xo + 1], w1, x[xo + 2], w2, x[xo + 3], w3, n);
                    }
                }
                for (; i < in; i++) {
                    load(w, wh, fmt, i * out + cb, w0, n);
                    for (int r = 0; r < rows; r++) axpy(acc[r], x[xOff + (t0 + r) * in + i], w0, n);
                }
                for (int r = 0; r < rows; r++) System.arraycopy(acc[r], 0, y, yOff + (t0 + r) * out + cb, n);
            }
        }
    }

    // ---- packed panels (HalfMatrix, Q8Matrix) ----

    /** Whether the panel kernels run on the Vector API (256-bit float vectors available). */
    static final boolean PANEL_VECTOR = Simd.VECTOR && VectorOps.panelsVectorized();

    /** Whether Q4_K runs the experimental factored kernel ({@code -Dkvdecode.ggml.factored=true}; GgmlMatmul). */
    public static boolean ggmlFactored() { return GgmlMatmul.FACTORED && PANEL_VECTOR; }

    // Checks the shapes, then splits the panels over the pool: for few rows one contiguous run of
    // panels per thread (the fewest hand-offs), else one panel per work item.
    private static void panelMatmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff, F32Matrix wf, HalfMatrix wb,
                                    Q8Matrix wq, float[] b, int T, int in, int out) {
        if (T < 1 || xOff < 0 || yOff < 0 || (long) xOff + (long) T * in > x.length
                || (long) yOff + (long) T * out > y.length || (b != null && b.length < out))
            throw new IllegalArgumentException("matmul: x, y or b too short for T=" + T + ", in=" + in + ", out=" + out);
        CpuThreads p = CpuThreads.forWork(pool, (long) T * in * out);
        int np = Panels.count(out);
        if (p == null || np == 1) {
            panels(y, yOff, x, xOff, wf, wb, wq, b, T, 0, np);
            return;
        }
        int units = T <= ROW_TILE ? Math.min(np, p.threads()) : np;
        PanelTask task = PANEL_TASK.get();
        task.set(y, yOff, x, xOff, wf, wb, wq, b, T, np, units);
        try {
            p.parallelFor(units, task);
        } finally {
            task.set(null, 0, null, 0, null, null, null, null, 0, 0, 0);
        }
    }

    private static final ThreadLocal<PanelTask> PANEL_TASK = ThreadLocal.withInitial(PanelTask::new);

    private static final class PanelTask implements CpuThreads.RangeTask {
        float[] y, x, b;
        F32Matrix wf;
        HalfMatrix wb;
        Q8Matrix wq;
        int yOff, xOff, T, np, units;

        void set(float[] y, int yOff, float[] x, int xOff, F32Matrix wf, HalfMatrix wb, Q8Matrix wq, float[] b, int T,
                 int np, int units) {
            this.y = y; this.yOff = yOff; this.x = x; this.xOff = xOff; this.wf = wf; this.wb = wb; this.wq = wq; this.b = b;
            this.T = T; this.np = np; this.units = units;
        }

        @Override
        public void run(int s, int e) {
            panels(y, yOff, x, xOff, wf, wb, wq, b, T, (int) ((long) np * s / units), (int) ((long) np * e / units));
        }
    }

    private static volatile float[] zeros = new float[0];

    /** A shared array of at least n zeros (read only; grown, never shrunk). */
    private static float[] zeros(int n) {
        float[] z = zeros;
        if (z.length < n) zeros = z = new float[n];
        return z;
    }

    /** Scratch of one thread for the panel loops: accumulators, int8 block sums, four widened fp16 rows. */
    private static final ThreadLocal<float[][]> PANEL_SCRATCH =
            ThreadLocal.withInitial(() -> new float[][] {new float[Panels.WIDTH], new float[Panels.WIDTH], new float[4 * Panels.WIDTH]});

    /**
     * Rows from which a packed matmul widens each panel once ({@link #panels}). Below it, each row
     * runs the batch-1 kernel: a short prompt's prefill then compiles the kernels the decode steps
     * use, which in a fresh JVM otherwise start slow (the Vector API runs boxed until C2 compiles
     * it). Measured: docs/PERF_NOTES_CPU.md section 9.
     */
    static final int WIDEN_ONCE_MIN_ROWS = 32;

    /** One packed panel widened to fp32 for multi-row calls (in x 64 floats), per thread, grown once. */
    private static final ThreadLocal<float[][]> WIDE_PANEL = ThreadLocal.withInitial(() -> new float[1][0]);

    // panels [p0, p1) of W (fp32 wf, 16-bit wb or int8 wq), every row t < T
    private static void panels(float[] y, int yOff, float[] x, int xOff, F32Matrix wf, HalfMatrix wb, Q8Matrix wq,
                               float[] bias, int T, int p0, int p1) {
        if (wf != null) {
            f32Panels(y, yOff, x, xOff, wf, bias != null ? bias : zeros(wf.out()), T, p0, p1);
            return;
        }
        int in = wb != null ? wb.in() : wq.in(), out = wb != null ? wb.out() : wq.out();
        // No bias adds zeros: every panel kernel then runs the same path with or without a bias. C2
        // compiles a branch it has not seen taken as an uncommon trap, and the first matmul without
        // a bias (the LM head, after the layers' biased ones) threw the compiled kernels away and
        // ran them in the interpreter until they were compiled again: a GPT-2 bf16 16-token
        // prefill took 3.3 s instead of 1.4 s in a fresh JVM. (x + 0 is x, except -0 becomes +0.)
        float[] b = bias != null ? bias : zeros(out);
        float[] widened = PANEL_SCRATCH.get()[2];
        // Several rows (prefill, recompute, eval): widen each full panel once and run the rows over
        // the fp32 copy (exact widening, the same operations: the same bits), instead of widening it
        // again for every row (eval of the default model: fp16 51 -> 18 s, bf16 26 -> 18 s)
        boolean widenOnce = PANEL_VECTOR && T >= WIDEN_ONCE_MIN_ROWS;
        float[] wide = null;
        if (widenOnce) {
            float[][] holder = WIDE_PANEL.get();
            if (holder[0].length < in * Panels.WIDTH) holder[0] = new float[in * Panels.WIDTH];
            wide = holder[0];
        }
        for (int p = p0; p < p1; p++) {
            int c0 = p * Panels.WIDTH, wp = Panels.width(p, out), base = Panels.base(p, in);
            int pairBase = Panels.base(p, HalfMatrix.pairRows(in));   // bf16: the panel's first int
            if (widenOnce && wp == Panels.WIDTH) {
                int n = in * Panels.WIDTH;
                if (wq != null) {   // int8: the values as exact floats, scales applied per block as before
                    byte[] q = wq.packed();
                    for (int k = 0; k < n; k++) wide[k] = q[base + k];
                    for (int t = 0; t < T; t++)
                        VectorOps.panelQ8F32(y, yOff + t * out + c0, x, xOff + t * in, wide, wq.scaleArray(), in, out, b, c0);
                    continue;
                }
                if (wb.format() == HalfFormat.BF16) {
                    VectorOps.widenBf16Pairs(wb.pairs(), pairBase, wide, in);
                } else {
                    short[] h = wb.packed();
                    for (int k = 0; k < n; k++) wide[k] = Float.float16ToFloat(h[base + k]);
                }
                for (int t = 0; t < T; t++)
                    VectorOps.panelF32(y, yOff + t * out + c0, x, xOff + t * in, wide, 0, in, b, c0);
                continue;
            }
            for (int t = 0; t < T; t++) {
                int xo = xOff + t * in, yo = yOff + t * out + c0;
                if (PANEL_VECTOR && wp == Panels.WIDTH) {
                    if (wq != null) VectorOps.panelQ8(y, yo, x, xo, wq.packed(), wq.scaleArray(), base, in, out, b, c0);
                    else if (wb.format() == HalfFormat.BF16)
                        VectorOps.panelBf16(y, yo, x, xo, wb.pairs(), pairBase, in, b, c0);
                    else VectorOps.panelFp16(y, yo, x, xo, wb.packed(), base, in, b, c0, widened);
                } else if (wb != null && wb.format() == HalfFormat.BF16) {
                    scalarPanelBf16(y, yo, x, xo, wb.pairs(), pairBase, in, wp, b, c0);
                } else if (wb != null) {
                    scalarPanelFp16(y, yo, x, xo, wb.packed(), base, in, wp, b, c0);
                } else {
                    scalarPanelQ8(y, yo, x, xo, wq.packed(), wq.scaleArray(), base, in, out, wp, b, c0);
                }
            }
        }
    }

    // fp32 panels [p0, p1), every row t < T: the panel is read in place (already fp32)
    private static void f32Panels(float[] y, int yOff, float[] x, int xOff, F32Matrix wf, float[] b, int T, int p0, int p1) {
        int in = wf.in(), out = wf.out();
        float[] w = wf.packed();
        for (int p = p0; p < p1; p++) {
            int c0 = p * Panels.WIDTH, wp = Panels.width(p, out), base = Panels.base(p, in);
            for (int t = 0; t < T; t++) {
                int xo = xOff + t * in, yo = yOff + t * out + c0;
                if (PANEL_VECTOR && wp == Panels.WIDTH) VectorOps.panelF32(y, yo, x, xo, w, base, in, b, c0);
                else scalarPanelF32(y, yo, x, xo, w, base, in, wp, b, c0);
            }
        }
    }

    // y[yo .. yo+wp) = (0 + sum over i in order of x[xo+i] * W (panel rows of wp at base), each term
    // one fused multiply-add, as VectorOps' fp32/fp16/bf16 panel kernels) + b[c0 ..]
    private static void scalarPanelF32(float[] y, int yo, float[] x, int xo, float[] w, int base,
                                       int in, int wp, float[] b, int c0) {
        float[] acc = PANEL_SCRATCH.get()[0];
        java.util.Arrays.fill(acc, 0, wp, 0f);
        for (int i = 0, o = base; i < in; i++, o += wp) {
            float xi = x[xo + i];
            for (int c = 0; c < wp; c++) acc[c] = Math.fma(xi, w[o + c], acc[c]);
        }
        for (int c = 0; c < wp; c++) acc[c] += b[c0 + c];
        System.arraycopy(acc, 0, y, yo, wp);
    }

    // the same for fp16
    private static void scalarPanelFp16(float[] y, int yo, float[] x, int xo, short[] h, int base,
                                        int in, int wp, float[] b, int c0) {
        float[] acc = PANEL_SCRATCH.get()[0];
        java.util.Arrays.fill(acc, 0, wp, 0f);
        for (int i = 0, o = base; i < in; i++, o += wp) {
            float xi = x[xo + i];
            for (int c = 0; c < wp; c++) acc[c] = Math.fma(xi, Float.float16ToFloat(h[o + c]), acc[c]);
        }
        for (int c = 0; c < wp; c++) acc[c] += b[c0 + c];
        System.arraycopy(acc, 0, y, yo, wp);
    }

    // the same for bf16 in the pair layout (HalfMatrix): row 2m in the low halves, 2m + 1 in the high
    private static void scalarPanelBf16(float[] y, int yo, float[] x, int xo, int[] w, int base, int in, int wp,
                                        float[] b, int c0) {
        float[] acc = PANEL_SCRATCH.get()[0];
        java.util.Arrays.fill(acc, 0, wp, 0f);
        for (int i = 0, o = base; i < in; i += 2, o += wp) {
            float x0 = x[xo + i];
            for (int c = 0; c < wp; c++) acc[c] = Math.fma(x0, Float.intBitsToFloat(w[o + c] << 16), acc[c]);
            if (i + 1 == in) break;
            float x1 = x[xo + i + 1];
            for (int c = 0; c < wp; c++) acc[c] = Math.fma(x1, Float.intBitsToFloat(w[o + c] & 0xFFFF0000), acc[c]);
        }
        for (int c = 0; c < wp; c++) acc[c] += b[c0 + c];
        System.arraycopy(acc, 0, y, yo, wp);
    }

    // the same for int8: per block of 32 rows, part = the fused multiply-add sum of x * q in order,
    // then acc += scale * part (multiply, then add)
    private static void scalarPanelQ8(float[] y, int yo, float[] x, int xo, byte[] q, float[] s, int base, int in,
                                      int out, int wp, float[] b, int c0) {
        float[][] sc = PANEL_SCRATCH.get();
        float[] acc = sc[0], part = sc[1];
        System.arraycopy(b, c0, acc, 0, wp);
        for (int i0 = 0; i0 < in; i0 += Q8Matrix.BLOCK) {
            int i1 = Math.min(in, i0 + Q8Matrix.BLOCK);
            java.util.Arrays.fill(part, 0, wp, 0f);
            for (int i = i0, o = base + i0 * wp; i < i1; i++, o += wp) {
                float xi = x[xo + i];
                for (int c = 0; c < wp; c++) part[c] = Math.fma(xi, q[o + c], part[c]);
            }
            int so = (i0 / Q8Matrix.BLOCK) * out + c0;
            for (int c = 0; c < wp; c++) acc[c] += s[so + c] * part[c];
        }
        System.arraycopy(acc, 0, y, yo, wp);
    }

    // W elements [off, off+n) of w, or of wh widened from fmt -> dst[0..n)
    private static void load(float[] w, short[] wh, HalfFormat fmt, int off, float[] dst, int n) {
        if (w != null) System.arraycopy(w, off, dst, 0, n);
        else fmt.widen(wh, off, dst, n);
    }

    // a[0..n) += s * v[0..n): one index for both arrays, so C2 vectorizes it
    private static void axpy(float[] a, float s, float[] v, int n) {
        if (Simd.VECTOR) { VectorOps.axpy(a, s, v, 0, n); return; }
        for (int c = 0; c < n; c++) a[c] += s * v[c];
    }

    /**
     * Four consecutive input rows in one pass over the accumulators: Java evaluates
     * a + s0*v0 + s1*v1 + s2*v2 + s3*v3 left to right, so each element gets exactly the bits of
     * four {@link #axpy} calls in order, with a quarter of the accumulator loads and stores
     * (measured on this box: GEMV 3.1-3.6 -> 3.7-4.4 GB/s, read bandwidth ~5.1 GB/s; docs/PERF_NOTES_CPU.md).
     */
    private static void axpy4(float[] a, float s0, float[] v0, float s1, float[] v1,
                              float s2, float[] v2, float s3, float[] v3, int n) {
        if (Simd.VECTOR) { VectorOps.axpy4(a, s0, v0, 0, s1, v1, 0, s2, v2, 0, s3, v3, 0, n); return; }
        for (int c = 0; c < n; c++) a[c] = a[c] + s0 * v0[c] + s1 * v1[c] + s2 * v2[c] + s3 * v3[c];
    }


    // x (rows,C), head (V,C) row-major, bias (V) or null -> logits (rows,V)
    /**
     * The LM head stores row v = output embedding of token v (tied to wte in GPT-2), so each
     * logit is a dot product over a contiguous row; the work is split over v. Eight partial sums
     * (fixed order, combined pairwise at the end) give the CPU independent adds to overlap.
     */
    public static void lmHead(CpuThreads pool, float[] logits, int logitsOff, float[] x, int xOff,
                              float[] head, float[] bias, int rows, int C, int V) {
        CpuThreads p = CpuThreads.forWork(pool, (long) rows * C * V);
        if (p == null) {
            lmHeadRange(logits, logitsOff, x, xOff, head, bias, rows, C, V, 0, V);
            return;
        }
        LmHeadTask task = LM_HEAD_TASK.get();
        task.set(logits, logitsOff, x, xOff, head, bias, rows, C, V);
        try {
            p.parallelFor(V, task);
        } finally {
            task.set(null, 0, null, 0, null, null, 0, 0, 0);
        }
    }

    private static void lmHeadRange(float[] logits, int logitsOff, float[] x, int xOff, float[] head, float[] bias,
                                    int rows, int C, int V, int v0, int v1) {
        float[] lanes = LANES.get();
        for (int v = v0; v < v1; v++) {
            int ho = v * C;
            float bv = bias == null ? 0f : bias[v];
            for (int r = 0; r < rows; r++) logits[logitsOff + r * V + v] = dot(x, xOff + r * C, head, ho, C, lanes) + bv;
        }
    }

    /** Per-thread lane scratch for the Vector API dot product's fixed-order lane sum. */
    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[64]);

    private static final ThreadLocal<LmHeadTask> LM_HEAD_TASK = ThreadLocal.withInitial(LmHeadTask::new);

    private static final class LmHeadTask implements CpuThreads.RangeTask {
        float[] logits, x, head, bias;
        int logitsOff, xOff, rows, C, V;

        void set(float[] logits, int logitsOff, float[] x, int xOff, float[] head, float[] bias, int rows, int C, int V) {
            this.logits = logits; this.logitsOff = logitsOff; this.x = x; this.xOff = xOff; this.head = head;
            this.bias = bias; this.rows = rows; this.C = C; this.V = V;
        }

        @Override
        public void run(int s, int e) { lmHeadRange(logits, logitsOff, x, xOff, head, bias, rows, C, V, s, e); }
    }

    // a (n), b (n) -> sum a*b: the Vector API form when enabled (Simd), else 8 fixed partial sums
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        return dot(a, aOff, b, bOff, n, Simd.VECTOR ? LANES.get() : null);
    }

    // the same with the caller's lane scratch (64 floats; unused by the scalar form)
    private static float dot(float[] a, int aOff, float[] b, int bOff, int n, float[] lanes) {
        return Simd.VECTOR ? VectorOps.dot(a, aOff, b, bOff, n, lanes) : scalarDot(a, aOff, b, bOff, n);
    }

    // a (n), b (n) -> sum a*b with 8 fixed partial sums (C2 does not vectorize an ordered float sum;
    // eight independent chains let the CPU overlap the adds)
    static float scalarDot(float[] a, int aOff, float[] b, int bOff, int n) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            s0 += a[aOff + i] * b[bOff + i];
            s1 += a[aOff + i + 1] * b[bOff + i + 1];
            s2 += a[aOff + i + 2] * b[bOff + i + 2];
            s3 += a[aOff + i + 3] * b[bOff + i + 3];
            s4 += a[aOff + i + 4] * b[bOff + i + 4];
            s5 += a[aOff + i + 5] * b[bOff + i + 5];
            s6 += a[aOff + i + 6] * b[bOff + i + 6];
            s7 += a[aOff + i + 7] * b[bOff + i + 7];
        }
        for (; i < n; i++) s0 += a[aOff + i] * b[bOff + i];
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    }
}
