package dev.kvdecode.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A weight matrix W (in, out) kept in one of ggml's 4- and 6-bit block formats (Q4_0, Q4_K, Q6_K;
 * {@link GgmlBlocks}) for the CPU matmul: the same values and scales as the GGUF file, moved into
 * the column panels of {@link Panels} so that a batch-1 matmul streams them like the other packed
 * formats and widens them in registers ({@link Matmul#matmul(CpuThreads, float[], int, float[], int, GgmlMatrix, float[], int)}).
 * (Q8_0 is {@link Q8Matrix#ofQ8_0}.)
 *
 * <pre>
 * lo    4-bit values, two rows per byte: row 2m in the low nibble, 2m + 1 in the high one;
 *       panels of in/2 byte rows (Panels.index(i / 2, c, in / 2, out))
 * hi    Q6_K only: the values' top 2 bits, four rows per byte (row 4m + j at bits 2j);
 *       panels of in/4 byte rows
 * d     per block and column (block = 32 rows for Q4_0, 256 for Q4_K and Q6_K), index block * out + c
 * dmin  Q4_K: the block's min scale, as d
 * sc    Q4_K: the 6-bit scale of each 32 rows; Q6_K: the int8 scale of each 16 rows; index group * out + c
 * mn    Q4_K: the 6-bit min of each 32 rows
 *
 * W[i, c] = Q4_0: d * (q - 8)
 *           Q4_K: (d * sc) * q - (dmin * mn)
 *           Q6_K: (d * sc) * (q - 32),  q = lo | hi &lt;&lt; 4
 * </pre>
 *
 * The fp16 scales are widened exactly and {@link #get} computes each weight with the fp32
 * operations of {@link GgmlBlocks#dequantize} in the same order, so it returns the same bits.
 * Bytes per weight: Q4_0 0.625 (file 0.5625: fp32 d instead of fp16), Q4_K 0.59 (file 0.5625),
 * Q6_K 0.83 (file 0.82).
 */
public final class GgmlMatrix {
    private static final ValueLayout.OfShort U16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final GgmlBlocks.Layout layout;
    private final int in, out;
    private final byte[] lo, hi, sc, mn;
    private final float[] d, dmin;

    private GgmlMatrix(GgmlBlocks.Layout layout, int in, int out, byte[] lo, byte[] hi, float[] d, float[] dmin,
                       byte[] sc, byte[] mn) {
        this.layout = layout;
        this.in = in;
        this.out = out;
        this.lo = lo;
        this.hi = hi;
        this.d = d;
        this.dmin = dmin;
        this.sc = sc;
        this.mn = mn;
    }

    /** Rows per entry of {@link #sc}: 32 (Q4_K), 16 (Q6_K); Q4_0 has none. */
    static int groupRows(GgmlBlocks.Layout layout) { return layout == GgmlBlocks.Layout.Q6_K ? 16 : 32; }

    // src: out rows of in / E blocks (W^T row-major, ggml's layout) -> W (in, out) in panels
    /**
     * W (in, out) from the blocks of W^T (out, in) row-major, as a GGUF file stores an nn.Linear
     * weight (or an embedding read as a (C, V) head): each output column's {@code in} weights are
     * {@code in / layout.elements} consecutive blocks. {@code in} must be a multiple of the block's
     * element count; Q8_0 is {@link Q8Matrix#ofQ8_0}.
     */
    public static GgmlMatrix of(GgmlBlocks.Layout layout, MemorySegment src, int in, int out) {
        if (layout == GgmlBlocks.Layout.Q8_0)
            throw new IllegalArgumentException("Q8_0 is kept as Q8Matrix.ofQ8_0");
        int e = layout.elements;
        if (in < 1 || out < 1 || in % e != 0 || (long) in * out > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException(layout + " W shape " + in + " x " + out + ": in must be a positive multiple of " + e);
        int nb = in / e;
        long bytes = (long) out * nb * layout.sizeBytes;
        if (src.byteSize() != bytes)
            throw new IllegalArgumentException(layout + " W has " + src.byteSize() + " bytes, expected " + bytes);
        byte[] lo = new byte[in / 2 * out];
        boolean q6 = layout == GgmlBlocks.Layout.Q6_K, q4k = layout == GgmlBlocks.Layout.Q4_K;
        byte[] hi = q6 ? new byte[in / 4 * out] : null;
        float[] d = new float[nb * out];
        float[] dmin = q4k ? new float[nb * out] : null;
        byte[] sc = layout == GgmlBlocks.Layout.Q4_0 ? null : new byte[in / groupRows(layout) * out];
        byte[] mn = q4k ? new byte[in / 32 * out] : null;
        for (int c = 0; c < out; c++) {
            for (int b = 0; b < nb; b++) {
                long o = ((long) c * nb + b) * layout.sizeBytes;
                int i0 = b * e;
                switch (layout) {
                    case Q4_0 -> {
                        d[b * out + c] = f16(src, o);
                        for (int j = 0; j < 16; j++) {
                            int v = u8(src, o + 2 + j);
                            putLo(lo, i0 + j, c, in, out, v & 15);
                            putLo(lo, i0 + j + 16, c, in, out, v >> 4);
                        }
                    }
                    case Q4_K -> {
                        d[b * out + c] = f16(src, o);
                        dmin[b * out + c] = f16(src, o + 2);
                        long s = o + 4, qs = o + 16;
                        for (int sub = 0; sub < 8; sub++) {
                            int scale, min;
                            if (sub < 4) {   // GgmlBlocks.q4_k's unpacking of the 12 scale bytes
                                scale = u8(src, s + sub) & 63;
                                min = u8(src, s + sub + 4) & 63;
                            } else {
                                scale = (u8(src, s + sub + 4) & 15) | ((u8(src, s + sub - 4) >> 6) << 4);
                                min = (u8(src, s + sub + 4) >> 4) | ((u8(src, s + sub) >> 6) << 4);
                            }
                            int g = b * 8 + sub;
                            sc[g * out + c] = (byte) scale;
                            mn[g * out + c] = (byte) min;
                            int shift = (sub & 1) * 4;
                            long q0 = qs + 32L * (sub >> 1);
                            for (int j = 0; j < 32; j++) putLo(lo, i0 + sub * 32 + j, c, in, out, (u8(src, q0 + j) >> shift) & 15);
                        }
                    }
                    case Q6_K -> {
                        long ql = o, qh = o + 128, s = o + 192;
                        d[b * out + c] = f16(src, o + 208);
                        for (int g = 0; g < 16; g++) sc[(b * 16 + g) * out + c] = src.get(ValueLayout.JAVA_BYTE, s + g);
                        for (int el = 0; el < 256; el++) {   // GgmlBlocks.q6_k's element order
                            int h = el >> 7, r = el & 127;
                            int l4 = (u8(src, ql + 64L * h + (r & 63)) >> (4 * (r >> 6))) & 15;
                            int h2 = (u8(src, qh + 32L * h + (r & 31)) >> (2 * (r >> 5))) & 3;
                            putLo(lo, i0 + el, c, in, out, l4);
                            int i = i0 + el, k = Panels.index(i >> 2, c, in / 4, out);
                            hi[k] = (byte) (hi[k] | (h2 << (2 * (i & 3))));
                        }
                    }
                    default -> throw new AssertionError(layout);
                }
            }
        }
        return new GgmlMatrix(layout, in, out, lo, hi, d, dmin, sc, mn);
    }

    private static void putLo(byte[] lo, int i, int c, int in, int out, int q) {
        int k = Panels.index(i >> 1, c, in / 2, out);
        lo[k] = (byte) (lo[k] | (q << (4 * (i & 1))));
    }

    private static float f16(MemorySegment s, long off) { return Float.float16ToFloat(s.get(U16_LE, off)); }

    private static int u8(MemorySegment s, long off) { return s.get(ValueLayout.JAVA_BYTE, off) & 0xFF; }

    public GgmlBlocks.Layout layout() { return layout; }

    public int in() { return in; }

    public int out() { return out; }

    /** The stored W[i, c] as fp32: the bits {@link GgmlBlocks#dequantize} gives for it. */
    public float get(int i, int c) {
        int q = (lo[Panels.index(i >> 1, c, in / 2, out)] >> (4 * (i & 1))) & 15;
        return switch (layout) {
            case Q4_0 -> d[(i >> 5) * out + c] * (float) (q - 8);
            case Q4_K -> {
                int sb = (i >> 8) * out + c, g = (i >> 5) * out + c;
                float ds = d[sb] * (float) (sc[g] & 0xFF), dm = dmin[sb] * (float) (mn[g] & 0xFF);
                yield ds * (float) q - dm;
            }
            case Q6_K -> {
                int h2 = (hi[Panels.index(i >> 2, c, in / 4, out)] >> (2 * (i & 3))) & 3;
                float ds = d[(i >> 8) * out + c] * (float) sc[(i >> 4) * out + c];
                yield ds * (float) ((q | (h2 << 4)) - 32);
            }
            default -> throw new AssertionError(layout);
        };
    }

    // rows [i0, i0 + rows) of panel p -> dst (rows, wp) row-major from 0; i0 and rows multiples of 32
    /** Widens rows [i0, i0 + rows) of panel p into dst as fp32 ((rows, width) from 0), the bits of {@link #get}. */
    void widen(int p, int i0, int rows, float[] dst) {
        int c0 = p * Panels.WIDTH, wp = Panels.width(p, out);
        int loBase = Panels.base(p, in / 2), hiBase = Panels.base(p, in / 4);
        for (int i = i0; i < i0 + rows; i += 32) {   // one Q4_0 block / Q4_K sub-block / two Q6_K groups
            for (int r = 0; r < 32; r++) {
                int row = i + r, lk = loBase + (row >> 1) * wp, shift = 4 * (row & 1), o = (row - i0) * wp;
                switch (layout) {
                    case Q4_0 -> {
                        int so = (row >> 5) * out + c0;
                        for (int c = 0; c < wp; c++) dst[o + c] = d[so + c] * (float) (((lo[lk + c] >> shift) & 15) - 8);
                    }
                    case Q4_K -> {
                        int sb = (row >> 8) * out + c0, g = (row >> 5) * out + c0;
                        for (int c = 0; c < wp; c++) {
                            float ds = d[sb + c] * (float) (sc[g + c] & 0xFF), dm = dmin[sb + c] * (float) (mn[g + c] & 0xFF);
                            dst[o + c] = ds * (float) ((lo[lk + c] >> shift) & 15) - dm;
                        }
                    }
                    case Q6_K -> {
                        int sb = (row >> 8) * out + c0, g = (row >> 4) * out + c0;
                        int hk = hiBase + (row >> 2) * wp, hs = 2 * (row & 3);
                        for (int c = 0; c < wp; c++) {
                            float ds = d[sb + c] * (float) sc[g + c];
                            int q = ((lo[lk + c] >> shift) & 15) | (((hi[hk + c] >> hs) & 3) << 4);
                            dst[o + c] = ds * (float) (q - 32);
                        }
                    }
                    default -> throw new AssertionError(layout);
                }
            }
        }
    }

    /** The whole matrix as fp32, (in, out) row-major. */
    public float[] dequantize() {
        float[] w = new float[in * out];
        for (int i = 0; i < in; i++) for (int c = 0; c < out; c++) w[i * out + c] = get(i, c);
        return w;
    }

    /** Bytes a pass over the matrix reads (values and scales). */
    public long bytes() {
        long n = lo.length + 4L * d.length;
        if (hi != null) n += hi.length;
        if (dmin != null) n += 4L * dmin.length;
        if (sc != null) n += sc.length;
        if (mn != null) n += mn.length;
        return n;
    }

    byte[] lo() { return lo; }

    byte[] hi() { return hi; }

    float[] d() { return d; }

    float[] dmin() { return dmin; }

    byte[] sc() { return sc; }

    byte[] mn() { return mn; }
}
