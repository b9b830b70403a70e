package dev.kvdecode.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A weight matrix W (in, out) in the Conv1D layout, stored as int8 with one fp32 scale per
 * {@link #BLOCK} consecutive inputs of an output column (the CPU's opt-in {@code --dtype int8},
 * issue 9): W[i, c] ~= scales[(i / BLOCK) * out + c] * q[i * out + c]. A block is 32 weights along
 * the reduction dimension, exactly llama.cpp's Q8_0 (where that dimension is the contiguous one),
 * so the two formats round alike; the last block of a column is shorter when in % 32 != 0.
 *
 * <p>Blocks along the inputs let the matmul sum 32 rows of plain int8 x fp32 products before it
 * applies one scale per column, so the inner loop carries no scale at all (measured, one core:
 * ~9 GMAC/s against ~5.5 with one scale per 32 columns of a row; docs/PERF_NOTES_CPU.md).
 *
 * <p>The int8 values are stored packed in column panels ({@link Panels}); the scales column by
 * column, block after block.
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
    private final int in, out;

    private Q8Matrix(byte[] q, float[] scales, int in, int out) {
        this.q = q;
        this.scales = scales;
        this.in = in;
        this.out = out;
    }

    private static int blocks(int in) { return (in + BLOCK - 1) / BLOCK; }

    // w (in, out) fp32 -> int8 + per-block scales
    /** Quantizes W (in, out); throws if {@code w} does not hold in x out floats or holds a non-finite value. */
    public static Q8Matrix quantize(float[] w, int in, int out) {
        return quantize(w, in, out, false);
    }

    // wt (out, in) row-major = W^T -> W (in, out) int8 + per-block scales
    /** As {@link #quantize(float[], int, int)}, W given as its transpose (out, in) row-major (an LM head stored (V, C)). */
    public static Q8Matrix quantizeTransposed(float[] wt, int in, int out) {
        return quantize(wt, in, out, true);
    }

    private static Q8Matrix quantize(float[] w, int in, int out, boolean transposed) {
        Panels.checkShape(in, out, w.length);
        for (int k = 0; k < w.length; k++)
            if (!Float.isFinite(w[k])) {
                int i = transposed ? k % in : k / out, c = transposed ? k / in : k % out;
                throw new IllegalArgumentException("W[" + i + ", " + c + "] = " + w[k] + " cannot be quantized");
            }
        int si = transposed ? 1 : out, sc = transposed ? in : 1;   // W[i, c] = w[i * si + c * sc]
        int nb = blocks(in);
        byte[] q = new byte[w.length];
        float[] scales = new float[Math.multiplyExact(nb, out)];
        for (int b = 0; b < nb; b++) {
            int i0 = b * BLOCK, i1 = Math.min(in, i0 + BLOCK);
            for (int c = 0; c < out; c++) {
                float amax = 0f;
                for (int i = i0; i < i1; i++) amax = Math.max(amax, Math.abs(w[i * si + c * sc]));
                float scale = amax / 127f;
                scales[b * out + c] = scale;
                if (scale == 0f) continue;
                for (int i = i0; i < i1; i++)
                    q[Panels.index(i, c, in, out)] = (byte) Math.max(-127, Math.min(127, Math.round(w[i * si + c * sc] / scale)));
            }
        }
        return new Q8Matrix(q, scales, in, out);
    }

    // src: out rows of in / 32 Q8_0 blocks (W^T row-major, ggml's layout) -> W (in, out) int8 + per-block scales
    /**
     * W (in, out) from ggml Q8_0 blocks ({@link GgmlBlocks}: an fp16 scale and 32 int8 per block)
     * of W^T (out, in) row-major, as a GGUF file stores an nn.Linear weight: a Q8_0 block is 32
     * consecutive inputs of one output column with one scale, exactly this format's block, so the
     * values are taken as they are (the scale widened exactly), not re-quantized; {@link #get}
     * then equals the block's dequantization bit for bit. {@code in} must be a multiple of 32.
     */
    public static Q8Matrix ofQ8_0(MemorySegment src, int in, int out) {
        if (in < 1 || out < 1 || in % BLOCK != 0 || (long) in * out > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("Q8_0 W shape " + in + " x " + out + ": in must be a positive multiple of " + BLOCK);
        int nb = in / BLOCK;
        long bytes = (long) out * nb * GgmlBlocks.Layout.Q8_0.sizeBytes;
        if (src.byteSize() != bytes)
            throw new IllegalArgumentException("Q8_0 W has " + src.byteSize() + " bytes, expected " + bytes);
        byte[] q = new byte[in * out];
        float[] scales = new float[nb * out];
        for (int c = 0; c < out; c++) {
            for (int b = 0; b < nb; b++) {
                long o = ((long) c * nb + b) * GgmlBlocks.Layout.Q8_0.sizeBytes;
                scales[b * out + c] = Float.float16ToFloat(src.get(U16_LE, o));
                for (int j = 0; j < BLOCK; j++) q[Panels.index(b * BLOCK + j, c, in, out)] = src.get(ValueLayout.JAVA_BYTE, o + 2 + j);
            }
        }
        return new Q8Matrix(q, scales, in, out);
    }

    private static final ValueLayout.OfShort U16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    public int in() { return in; }

    public int out() { return out; }

    /** Scale blocks per column, ceil(in / 32). */
    public int blocks() { return blocks(in); }

    /** The stored value of W[i, c] as fp32 (scale x q). */
    public float get(int i, int c) {
        return scale(i / BLOCK, c) * q(i, c);
    }

    /** The int8 value stored for W[i, c]. */
    public byte q(int i, int c) { return q[Panels.index(i, c, in, out)]; }

    /** The scale of block b (inputs 32b .. 32b + 31) of column c. */
    public float scale(int b, int c) { return scales[b * out + c]; }

    /** The whole matrix dequantized, (in, out) fp32. */
    public float[] dequantize() {
        float[] w = new float[q.length];
        for (int i = 0; i < in; i++) for (int c = 0; c < out; c++) w[i * out + c] = get(i, c);
        return w;
    }

    /** Bytes a pass over the matrix reads (values and scales). */
    public long bytes() { return q.length + 4L * scales.length; }

    byte[] packed() { return q; }

    float[] scaleArray() { return scales; }
}
