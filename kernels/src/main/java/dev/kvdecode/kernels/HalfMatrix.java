package dev.kvdecode.kernels;

/**
 * A weight matrix W (in, out) rounded to a 16-bit format (the CPU's {@code --dtype fp16|bf16}),
 * stored packed in column panels ({@link Panels}). Values are exactly {@link HalfFormat}'s; the
 * matmul widens them as it reads them (bf16: a shift or a mask in registers; fp16: four panel rows
 * at a time into an L1 scratch with F16C, which C2 vectorizes, since the JDK 25 Vector API has no
 * fp16 conversion).
 *
 * <p><b>bf16 is stored as row pairs</b>: each int of a panel holds W[2m, c] in its low half and
 * W[2m + 1, c] in its high half (0 past an odd last row), the panel's pair rows one after another.
 * One 256-bit load then gives eight columns of two rows, widened by one shift (the low halves) and
 * one mask (the high halves). Reading the values as shorts instead costs a short-to-int
 * conversion per eight values, which C2 (JDK 25) compiles to code ~2x slower: the bf16 panel
 * kernel ran at ~12 GMAC/s from L1 and runs at ~25 in pairs (docs/PERF_NOTES_CPU.md section 11).
 */
public final class HalfMatrix {
    private final HalfFormat format;
    private final short[] h;      // fp16: panel layout
    private final int[] pairs;    // bf16: panel layout over row pairs
    private final int in, out;

    private HalfMatrix(HalfFormat format, short[] h, int[] pairs, int in, int out) {
        this.format = format;
        this.h = h;
        this.pairs = pairs;
        this.in = in;
        this.out = out;
    }

    // w (in, out) fp32 -> 16-bit, panel layout
    /** Rounds W (in, out) to {@code format} (nearest even) and packs it. */
    public static HalfMatrix of(float[] w, int in, int out, HalfFormat format) {
        return of(w, in, out, out, 1, format);
    }

    // wt (out, in) row-major = W^T -> W (in, out) 16-bit, panel layout
    /**
     * Rounds W (in, out) given as its transpose {@code wt} (out, in) row-major, e.g. an LM head
     * stored (V, C) used as W (C, V): the same matrix as {@code of(transpose(wt), in, out, format)}
     * with no transposed fp32 copy in between.
     */
    public static HalfMatrix ofTransposed(float[] wt, int in, int out, HalfFormat format) {
        return of(wt, in, out, 1, in, format);
    }

    // W[i, c] = w[i * si + c * sc] -> 16-bit, panel layout
    private static HalfMatrix of(float[] w, int in, int out, int si, int sc, HalfFormat format) {
        if (format == null) throw new IllegalArgumentException("format is null");
        Panels.checkShape(in, out, w.length);
        if (format == HalfFormat.BF16) {
            int[] pairs = new int[Math.multiplyExact(pairRows(in), out)];
            for (int i = 0; i < in; i++)
                for (int c = 0; c < out; c++)
                    pairs[pairIndex(i, c, in, out)] |= (format.narrow(w[i * si + c * sc]) & 0xFFFF) << ((i & 1) * 16);
            return new HalfMatrix(format, null, pairs, in, out);
        }
        short[] h = new short[w.length];
        for (int i = 0; i < in; i++)
            for (int c = 0; c < out; c++) h[Panels.index(i, c, in, out)] = format.narrow(w[i * si + c * sc]);
        return new HalfMatrix(format, h, null, in, out);
    }

    // fp32 panels -> 16-bit panels, panel by panel
    /**
     * Rounds a packed fp32 matrix to {@code format}: the same matrix as {@code of(m.flat(), ...)},
     * made panel by panel from the fp32 panels (the same panel layout) with no flat copy between.
     */
    public static HalfMatrix of(F32Matrix m, HalfFormat format) {
        if (format == null) throw new IllegalArgumentException("format is null");
        int in = m.in(), out = m.out();
        float[] w = m.packed();
        if (format == HalfFormat.BF16) {
            int pr = pairRows(in);
            int[] pairs = new int[Math.multiplyExact(pr, out)];
            for (int p = 0, np = Panels.count(out); p < np; p++) {
                int wp = Panels.width(p, out), base = Panels.base(p, in), pairBase = Panels.base(p, pr);
                for (int i = 0; i < in; i++) {
                    int src = base + i * wp, dst = pairBase + (i / 2) * wp, shift = (i & 1) == 0 ? 0 : 16;
                    for (int c = 0; c < wp; c++) pairs[dst + c] |= (format.narrow(w[src + c]) & 0xFFFF) << shift;
                }
            }
            return new HalfMatrix(format, null, pairs, in, out);
        }
        short[] h = new short[w.length];   // fp16 uses the fp32 panels' layout element for element
        for (int k = 0; k < w.length; k++) h[k] = format.narrow(w[k]);
        return new HalfMatrix(format, h, null, in, out);
    }

    /** Pair rows of a bf16 matrix: ceil(in / 2). */
    static int pairRows(int in) { return (in + 1) / 2; }

    /** Index of the int holding W[i, c] in the bf16 pair layout (low half for even i). */
    static int pairIndex(int i, int c, int in, int out) {
        int p = c / Panels.WIDTH;
        return Panels.base(p, pairRows(in)) + (i / 2) * Panels.width(p, out) + (c - p * Panels.WIDTH);
    }

    public HalfFormat format() { return format; }

    public int in() { return in; }

    public int out() { return out; }

    /** W[i, c] as fp32 (exact widening of the stored value). */
    public float get(int i, int c) {
        if (pairs != null) return HalfFormat.bf16OfPair(pairs[pairIndex(i, c, in, out)], i);
        return format.widen(h[Panels.index(i, c, in, out)]);
    }

    /** Bytes a pass over the matrix reads. */
    public long bytes() { return pairs != null ? 4L * pairs.length : 2L * h.length; }

    /** fp16: the panel layout (null for bf16). */
    short[] packed() { return h; }

    /** bf16: the pair layout (null for fp16). */
    int[] pairs() { return pairs; }
}
