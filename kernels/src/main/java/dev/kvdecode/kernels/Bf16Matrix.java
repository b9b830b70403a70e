package dev.kvdecode.kernels;

/**
 * A weight matrix W (in, out) rounded to bfloat16 (the CPU's {@code --dtype bf16}), stored packed
 * in column panels ({@link Panels}). Values are exactly {@link HalfFormat#BF16}'s; the matmul
 * widens them in registers (a 16-bit shift).
 */
public final class Bf16Matrix {
    private final short[] h;
    private final int in, out;

    private Bf16Matrix(short[] h, int in, int out) {
        this.h = h;
        this.in = in;
        this.out = out;
    }

    // w (in, out) fp32 -> bf16, panel layout
    /** Rounds W (in, out) to bf16 (nearest even) and packs it. */
    public static Bf16Matrix of(float[] w, int in, int out) {
        Panels.checkShape(in, out, w.length);
        short[] h = new short[w.length];
        for (int i = 0; i < in; i++)
            for (int c = 0; c < out; c++) h[Panels.index(i, c, in, out)] = HalfFormat.BF16.narrow(w[i * out + c]);
        return new Bf16Matrix(h, in, out);
    }

    public int in() { return in; }

    public int out() { return out; }

    /** W[i, c] as fp32 (exact widening of the stored bf16). */
    public float get(int i, int c) { return HalfFormat.BF16.widen(h[Panels.index(i, c, in, out)]); }

    /** Bytes a pass over the matrix reads. */
    public long bytes() { return 2L * h.length; }

    short[] packed() { return h; }
}
