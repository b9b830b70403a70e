package dev.kvdecode.kernels;

/**
 * A weight matrix W (in, out) rounded to a 16-bit format (the CPU's {@code --dtype fp16|bf16}),
 * stored packed in column panels ({@link Panels}). Values are exactly {@link HalfFormat}'s; the
 * matmul widens them as it reads them (bf16: a 16-bit shift in registers; fp16: four panel rows at
 * a time into an L1 scratch with F16C, which C2 vectorizes, since the JDK 25 Vector API has no
 * fp16 conversion).
 */
public final class HalfMatrix {
    private final HalfFormat format;
    private final short[] h;
    private final int in, out;

    private HalfMatrix(HalfFormat format, short[] h, int in, int out) {
        this.format = format;
        this.h = h;
        this.in = in;
        this.out = out;
    }

    // w (in, out) fp32 -> 16-bit, panel layout
    /** Rounds W (in, out) to {@code format} (nearest even) and packs it. */
    public static HalfMatrix of(float[] w, int in, int out, HalfFormat format) {
        if (format == null) throw new IllegalArgumentException("format is null");
        Panels.checkShape(in, out, w.length);
        short[] h = new short[w.length];
        for (int i = 0; i < in; i++)
            for (int c = 0; c < out; c++) h[Panels.index(i, c, in, out)] = format.narrow(w[i * out + c]);
        return new HalfMatrix(format, h, in, out);
    }

    public HalfFormat format() { return format; }

    public int in() { return in; }

    public int out() { return out; }

    /** W[i, c] as fp32 (exact widening of the stored value). */
    public float get(int i, int c) { return format.widen(h[Panels.index(i, c, in, out)]); }

    /** Bytes a pass over the matrix reads. */
    public long bytes() { return 2L * h.length; }

    short[] packed() { return h; }
}
