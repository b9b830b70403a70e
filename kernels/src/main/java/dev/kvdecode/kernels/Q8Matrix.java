package dev.kvdecode.kernels;

/**
 * A weight matrix W (in, out) in the Conv1D layout, stored as int8 with one fp32 scale per block
 * of {@link #BLOCK} consecutive elements of a row (the CPU's opt-in {@code --dtype int8}, issue 9):
 * W[i, c] ~= scales[i * blocksPerRow + c / BLOCK] * q[i * out + c]. The blocks are 32 contiguous
 * weights, the granularity of llama.cpp's Q8_0 (whose blocks run along its own contiguous
 * dimension), so the two formats round comparably; a row's last block may be shorter.
 *
 * <p>Quantization is symmetric: scale = max |w| / 127 over the block, q = round(w / scale) in
 * [-127, 127] (-128 unused), a zero block gets scale 0. A decode step reads 1 + 4/32 = 1.125 bytes
 * per weight, 28% of fp32.
 */
public final class Q8Matrix {
    /** Elements per scale. */
    public static final int BLOCK = 32;

    private final byte[] q;
    private final float[] scales;
    private final int in, out, blocksPerRow;

    private Q8Matrix(byte[] q, float[] scales, int in, int out) {
        this.q = q;
        this.scales = scales;
        this.in = in;
        this.out = out;
        this.blocksPerRow = blocks(out);
    }

    private static int blocks(int out) { return (out + BLOCK - 1) / BLOCK; }

    // w (in, out) fp32 -> int8 + per-block scales
    /** Quantizes W (in, out); throws if {@code w} does not hold in x out floats or holds a non-finite value. */
    public static Q8Matrix quantize(float[] w, int in, int out) {
        if (in < 1 || out < 1 || (long) in * out != w.length)
            throw new IllegalArgumentException("W has " + w.length + " floats, expected " + in + " x " + out);
        int nb = blocks(out);
        byte[] q = new byte[w.length];
        float[] scales = new float[Math.multiplyExact(in, nb)];
        for (int i = 0; i < in; i++) {
            for (int j = 0; j < nb; j++) {
                int c0 = i * out + j * BLOCK, c1 = i * out + Math.min(out, (j + 1) * BLOCK);
                float amax = 0f;
                for (int c = c0; c < c1; c++) {
                    if (!Float.isFinite(w[c]))
                        throw new IllegalArgumentException("W[" + i + ", " + (c - i * out) + "] = " + w[c] + " cannot be quantized");
                    amax = Math.max(amax, Math.abs(w[c]));
                }
                float scale = amax / 127f;
                scales[i * nb + j] = scale;
                if (scale == 0f) continue;
                for (int c = c0; c < c1; c++)
                    q[c] = (byte) Math.max(-127, Math.min(127, Math.round(w[c] / scale)));
            }
        }
        return new Q8Matrix(q, scales, in, out);
    }

    public int in() { return in; }

    public int out() { return out; }

    public int blocksPerRow() { return blocksPerRow; }

    /** The stored value of W[i, c] as fp32 (scale x q). */
    public float get(int i, int c) {
        return scales[i * blocksPerRow + c / BLOCK] * q[i * out + c];
    }

    /** The whole matrix dequantized, (in, out) fp32. */
    public float[] dequantize() {
        float[] w = new float[q.length];
        for (int i = 0; i < in; i++) for (int c = 0; c < out; c++) w[i * out + c] = get(i, c);
        return w;
    }

    /** Bytes a pass over the matrix reads (values and scales). */
    public long bytes() { return q.length + 4L * scales.length; }

    byte[] values() { return q; }

    float[] scaleArray() { return scales; }
}
