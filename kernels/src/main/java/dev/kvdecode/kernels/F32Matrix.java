package dev.kvdecode.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A weight matrix W (in, out) in fp32, stored packed in column panels ({@link Panels}): the CPU
 * backend's fp32 matmul weights. The values are the checkpoint's, bit for bit; only the order
 * changes, so that a batch-1 matmul streams each thread's share of W as one contiguous region and
 * keeps a panel's 64 accumulators in registers over all {@code in} rows.
 *
 * <p>Why not the checkpoint's flat (in, out) order: measured on the 2-core build machine
 * (docs/PERF_NOTES_CPU.md section 13), GPT-2's 48 layer matrices streamed by 2 threads at
 * 27-29 GB/s packed against 20-22 GB/s flat (one column run per thread, four rows per pass), the
 * same for the flat rows read in place from the mapped file. The loader packs each matrix as it
 * reads it, so the model holds one copy of its weights, in this layout.
 */
public final class F32Matrix {
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    private final float[] w;    // panel layout
    private final int in, out;

    private F32Matrix(float[] w, int in, int out) {
        this.w = w;
        this.in = in;
        this.out = out;
    }

    // w (in, out) row-major -> panel layout
    /** Packs the flat row-major W (in, out); {@code flat} is not kept. */
    public static F32Matrix of(float[] flat, int in, int out) {
        Panels.checkShape(in, out, flat.length);
        float[] w = new float[flat.length];
        for (int p = 0, np = Panels.count(out); p < np; p++) {
            int c0 = p * Panels.WIDTH, wp = Panels.width(p, out), base = Panels.base(p, in);
            for (int i = 0; i < in; i++) System.arraycopy(flat, i * out + c0, w, base + i * wp, wp);
        }
        return new F32Matrix(w, in, out);
    }

    // little-endian fp32 (in, out) row-major at src -> panel layout
    /**
     * Packs W (in, out) from {@code src}, little-endian fp32 row-major (a tensor of a mapped
     * checkpoint), with no flat copy in between; {@code src} need not be aligned.
     */
    public static F32Matrix of(MemorySegment src, int in, int out) {
        if (in < 1 || out < 1 || (long) in * out > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("W shape " + in + " x " + out + " does not fit one array");
        long bytes = 4L * in * out;
        if (src.byteSize() != bytes)
            throw new IllegalArgumentException("W has " + src.byteSize() + " bytes, expected " + in + " x " + out + " x 4");
        float[] w = new float[in * out];
        for (int p = 0, np = Panels.count(out); p < np; p++) {
            int c0 = p * Panels.WIDTH, wp = Panels.width(p, out), base = Panels.base(p, in);
            for (int i = 0; i < in; i++)
                MemorySegment.copy(src, F32_LE, 4L * ((long) i * out + c0), w, base + i * wp, wp);
        }
        return new F32Matrix(w, in, out);
    }

    public int in() { return in; }

    public int out() { return out; }

    /** W[i, c]. */
    public float get(int i, int c) {
        if (i < 0 || i >= in || c < 0 || c >= out)
            throw new IndexOutOfBoundsException("W[" + i + ", " + c + "] outside " + in + " x " + out);
        return w[Panels.index(i, c, in, out)];
    }

    /** A new flat row-major copy of W (in, out), for consumers of that layout (device upload, re-quantization, tests). */
    public float[] flat() {
        float[] flat = new float[w.length];
        for (int p = 0, np = Panels.count(out); p < np; p++) {
            int c0 = p * Panels.WIDTH, wp = Panels.width(p, out), base = Panels.base(p, in);
            for (int i = 0; i < in; i++) System.arraycopy(w, base + i * wp, flat, i * out + c0, wp);
        }
        return flat;
    }

    /** Bytes a pass over the matrix reads. */
    public long bytes() { return 4L * w.length; }

    /** The panel layout. */
    float[] packed() { return w; }
}
