package dev.kvdecode.kernels;

/**
 * Linear layers. Weights are in Hugging Face's Conv1D layout W (in, out), so y = x W + b is
 * computed as y = b + sum_i x[i] * W[i, :]: each step reads one contiguous row of W and updates a
 * contiguous run of y, a loop C2 vectorizes; a batch-1 decode step streams W from memory once.
 *
 * <p>Every output element accumulates bias first, then the terms i = 0, 1, ..., in-1 in order, in
 * fp32, whatever the number of rows, the blocking or the thread split. A row therefore gets the
 * same bits from the batch-1 path and from the blocked prefill path, which is what makes cached
 * and recomputed logits agree exactly.
 */
public final class Matmul {
    private Matmul() {}

    /** Columns per parallel work item (64 floats = 4 cache lines). */
    private static final int COL_TILE = 64;
    /** Prefill blocking: rows of x per tile, rows of W per block, columns per block. */
    private static final int ROW_TILE = 4;
    private static final int IN_BLOCK = 128;
    private static final int COL_BLOCK = 256;

    // x (T,in), w (in,out), b (out) or null -> y (T,out); y must not alias x
    public static void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff,
                              float[] w, float[] b, int T, int in, int out) {
        int tiles = (out + COL_TILE - 1) / COL_TILE;
        CpuThreads.parallelFor(pool, tiles, (s, e) -> {
            int c0 = s * COL_TILE, c1 = Math.min(out, e * COL_TILE);
            if (T == 1) gemvColumns(y, yOff, x, xOff, w, b, in, out, c0, c1);
            else gemmColumns(y, yOff, x, xOff, w, b, T, in, out, c0, c1);
        });
    }

    // one row: y[c0..c1) = b + sum_i x[i] W[i, c0..c1)
    private static void gemvColumns(float[] y, int yOff, float[] x, int xOff, float[] w, float[] b,
                                    int in, int out, int c0, int c1) {
        initBias(y, yOff, b, c0, c1);
        for (int i = 0; i < in; i++) {
            float xi = x[xOff + i];
            int wo = i * out;
            for (int c = c0; c < c1; c++) y[yOff + c] += xi * w[wo + c];
        }
    }

    // T rows, columns [c0, c1): blocked so a (IN_BLOCK x COL_BLOCK) block of W stays in L2 while all
    // rows pass over it, and a (ROW_TILE x COL_BLOCK) tile of y stays in L1. Terms still go in i order.
    private static void gemmColumns(float[] y, int yOff, float[] x, int xOff, float[] w, float[] b,
                                    int T, int in, int out, int c0, int c1) {
        for (int t = 0; t < T; t++) initBias(y, yOff + t * out, b, c0, c1);
        for (int cb = c0; cb < c1; cb += COL_BLOCK) {
            int ce = Math.min(c1, cb + COL_BLOCK);
            for (int ib = 0; ib < in; ib += IN_BLOCK) {
                int ie = Math.min(in, ib + IN_BLOCK);
                for (int t0 = 0; t0 < T; t0 += ROW_TILE) {
                    int t1 = Math.min(T, t0 + ROW_TILE);
                    for (int i = ib; i < ie; i++) {
                        int wo = i * out;
                        for (int t = t0; t < t1; t++) {
                            float xi = x[xOff + t * in + i];
                            int yo = yOff + t * out;
                            for (int c = cb; c < ce; c++) y[yo + c] += xi * w[wo + c];
                        }
                    }
                }
            }
        }
    }

    private static void initBias(float[] y, int yOff, float[] b, int c0, int c1) {
        if (b == null) {
            for (int c = c0; c < c1; c++) y[yOff + c] = 0f;
        } else {
            for (int c = c0; c < c1; c++) y[yOff + c] = b[c];
        }
    }

    // x (rows,C), head (V,C) row-major, bias (V) or null -> logits (rows,V)
    /**
     * The LM head stores row v = output embedding of token v (tied to wte in GPT-2), so each
     * logit is a dot product over a contiguous row; the work is split over v. Eight partial sums
     * (fixed order, combined pairwise at the end) give the CPU independent adds to overlap.
     */
    public static void lmHead(CpuThreads pool, float[] logits, int logitsOff, float[] x, int xOff,
                              float[] head, float[] bias, int rows, int C, int V) {
        CpuThreads.parallelFor(pool, V, (s, e) -> {
            for (int v = s; v < e; v++) {
                int ho = v * C;
                float bv = bias == null ? 0f : bias[v];
                for (int r = 0; r < rows; r++) {
                    logits[logitsOff + r * V + v] = dot(x, xOff + r * C, head, ho, C) + bv;
                }
            }
        });
    }

    // a (n), b (n) -> sum a*b with 8 fixed partial sums
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
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
