package dev.kvdecode.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The block-quantized weight layouts of ggml (the GGUF file format's Q8_0, Q4_0, Q4_K and Q6_K)
 * and their dequantization to fp32. A tensor row of n weights (n a multiple of the block's
 * element count) is n / elements blocks stored one after another; every field is little-endian.
 * Layouts as ggml's {@code block_q8_0}, {@code block_q4_0}, {@code block_q4_K}, {@code block_q6_K}
 * (ggml-common.h), written from their description, not copied:
 *
 * <pre>
 * Q8_0  34 B / 32:  f16 d, i8 q[32]                          w[j] = q[j] * d
 * Q4_0  18 B / 32:  f16 d, u8 qs[16]                         w[j] = d * ((qs[j] &amp; 15) - 8), w[j+16] = d * ((qs[j] &gt;&gt; 4) - 8)
 * Q4_K 144 B / 256: f16 d, f16 dmin, u8 scales[12], u8 qs[128]
 *                   8 sub-blocks of 32, each a 6-bit scale sc and min m packed in scales;
 *                   sub-block 2k holds the low nibbles of qs[32k..32k+31], 2k+1 the high ones;
 *                   w = (d * sc) * q - (dmin * m)
 * Q6_K 210 B / 256: u8 ql[128], u8 qh[64], i8 scales[16], f16 d
 *                   element e (h = e / 128, r = e % 128): low 4 bits from ql[64h + r % 64] &gt;&gt; 4 (r / 64),
 *                   high 2 bits from qh[32h + r % 32] &gt;&gt; 2 (r / 32); q = that 6-bit value - 32;
 *                   w = (d * scales[e / 16]) * q
 * </pre>
 *
 * Each value is computed with the same fp32 operations in the same order as the reference
 * dequantization of the {@code gguf} Python package (gguf/quants.py), so the results are the same
 * bits (tested against it in the runtime's GGUF tests); no fused multiply-add, which would round
 * once instead of twice.
 */
public final class GgmlBlocks {
    private GgmlBlocks() {}

    /** A block layout: weights per block and bytes per block. */
    public enum Layout {
        Q8_0(32, 34), Q4_0(32, 18), Q4_K(256, 144), Q6_K(256, 210);

        /** Weights per block. */
        public final int elements;
        /** Bytes per block. */
        public final int sizeBytes;

        Layout(int elements, int sizeBytes) {
            this.elements = elements;
            this.sizeBytes = sizeBytes;
        }
    }

    private static final ValueLayout.OfShort U16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static float f16(MemorySegment s, long off) { return Float.float16ToFloat(s.get(U16_LE, off)); }

    private static int u8(MemorySegment s, long off) { return s.get(ValueLayout.JAVA_BYTE, off) & 0xFF; }

    // src: blocks * layout.sizeBytes bytes at srcOff -> dst (blocks * layout.elements) fp32 at dstOff
    /**
     * Dequantizes {@code blocks} consecutive blocks. Bounds are checked up front: an
     * {@link IndexOutOfBoundsException} before anything is read if either range does not fit.
     */
    public static void dequantize(Layout layout, MemorySegment src, long srcOff, int blocks, float[] dst, int dstOff) {
        long bytes = (long) blocks * layout.sizeBytes, n = (long) blocks * layout.elements;
        if (blocks < 0 || srcOff < 0 || srcOff > src.byteSize() - bytes || dstOff < 0 || dstOff > dst.length - n)
            throw new IndexOutOfBoundsException(blocks + " " + layout + " blocks at byte " + srcOff + " of "
                    + src.byteSize() + " into " + dst.length + " floats at " + dstOff);
        for (int b = 0; b < blocks; b++) {
            long o = srcOff + (long) b * layout.sizeBytes;
            int d0 = dstOff + b * layout.elements;
            switch (layout) {
                case Q8_0 -> q8_0(src, o, dst, d0);
                case Q4_0 -> q4_0(src, o, dst, d0);
                case Q4_K -> q4_k(src, o, dst, d0);
                case Q6_K -> q6_k(src, o, dst, d0);
            }
        }
    }

    private static void q8_0(MemorySegment s, long o, float[] dst, int d0) {
        float d = f16(s, o);
        for (int j = 0; j < 32; j++) dst[d0 + j] = (float) s.get(ValueLayout.JAVA_BYTE, o + 2 + j) * d;
    }

    private static void q4_0(MemorySegment s, long o, float[] dst, int d0) {
        float d = f16(s, o);
        for (int j = 0; j < 16; j++) {
            int b = u8(s, o + 2 + j);
            dst[d0 + j] = d * (float) ((b & 15) - 8);
            dst[d0 + j + 16] = d * (float) ((b >> 4) - 8);
        }
    }

    private static void q4_k(MemorySegment s, long o, float[] dst, int d0) {
        float d = f16(s, o), dmin = f16(s, o + 2);
        long sc = o + 4, qs = o + 16;
        for (int sub = 0; sub < 8; sub++) {
            int scale, min;
            if (sub < 4) {           // 6 low bits of bytes 0..3 (scales) and 4..7 (mins)
                scale = u8(s, sc + sub) & 63;
                min = u8(s, sc + sub + 4) & 63;
            } else {                 // 4 bits from bytes 8..11, the top 2 from the top bits of bytes 0..7
                scale = (u8(s, sc + sub + 4) & 15) | ((u8(s, sc + sub - 4) >> 6) << 4);
                min = (u8(s, sc + sub + 4) >> 4) | ((u8(s, sc + sub) >> 6) << 4);
            }
            float ds = d * (float) scale, dm = dmin * (float) min;
            int shift = (sub & 1) * 4;
            long q0 = qs + 32L * (sub >> 1);
            for (int j = 0; j < 32; j++) {
                int q = (u8(s, q0 + j) >> shift) & 15;
                dst[d0 + sub * 32 + j] = ds * (float) q - dm;
            }
        }
    }

    private static void q6_k(MemorySegment s, long o, float[] dst, int d0) {
        long ql = o, qh = o + 128, sc = o + 192;
        float d = f16(s, o + 208);
        for (int e = 0; e < 256; e++) {
            int h = e >> 7, r = e & 127;
            int lo = (u8(s, ql + 64L * h + (r & 63)) >> (4 * (r >> 6))) & 15;
            int hi = (u8(s, qh + 32L * h + (r & 31)) >> (2 * (r >> 5))) & 3;
            float ds = d * (float) s.get(ValueLayout.JAVA_BYTE, sc + (e >> 4));
            dst[d0 + e] = ds * (float) ((lo | (hi << 4)) - 32);
        }
    }
}
