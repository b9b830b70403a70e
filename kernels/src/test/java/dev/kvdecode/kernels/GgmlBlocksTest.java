package dev.kvdecode.kernels;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Hand-built blocks with values worked out from the ggml block layouts (the runtime's GGUF tests
 * compare whole tensors with the gguf Python package's dequantization); bounds are checked
 * before anything is read.
 */
class GgmlBlocksTest {
    static ByteBuffer le(int n) { return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN); }

    static float[] deq(GgmlBlocks.Layout l, ByteBuffer b) {
        float[] out = new float[l.elements];
        GgmlBlocks.dequantize(l, MemorySegment.ofArray(b.array()), 0, 1, out, 0);
        return out;
    }

    @Test
    void q8_0IsScaleTimesInt8() {
        ByteBuffer b = le(34).putShort(Float.floatToFloat16(0.5f));
        for (int j = 0; j < 32; j++) b.put((byte) (j - 16));
        float[] w = deq(GgmlBlocks.Layout.Q8_0, b);
        for (int j = 0; j < 32; j++) assertEquals(0.5f * (j - 16), w[j], "j " + j);
    }

    @Test
    void q4_0LowNibblesFirstThenHighOnesMinus8() {
        ByteBuffer b = le(18).putShort(Float.floatToFloat16(2f));
        for (int j = 0; j < 16; j++) b.put((byte) ((j & 15) | ((15 - j) << 4)));
        float[] w = deq(GgmlBlocks.Layout.Q4_0, b);
        for (int j = 0; j < 16; j++) {
            assertEquals(2f * (j - 8), w[j], "low " + j);
            assertEquals(2f * (15 - j - 8), w[j + 16], "high " + j);
        }
    }

    @Test
    void q4_kUnpacksSixBitScalesAndMins() {
        // sub-block s: scale sc[s] = 10 + 7s (up to 59, so sub-blocks 4..7 need their top 2 bits), min m[s] = 63 - 5s
        int[] sc = new int[8], m = new int[8];
        for (int s = 0; s < 8; s++) { sc[s] = 10 + 7 * s; m[s] = 63 - 5 * s; }
        byte[] scales = new byte[12];
        for (int j = 0; j < 4; j++) {
            scales[j] = (byte) ((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
            scales[j + 4] = (byte) ((m[j] & 63) | ((m[j + 4] >> 4) << 6));
            scales[j + 8] = (byte) ((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
        }
        ByteBuffer b = le(144).putShort(Float.floatToFloat16(0.25f)).putShort(Float.floatToFloat16(0.125f)).put(scales);
        for (int k = 0; k < 4; k++) for (int j = 0; j < 32; j++) b.put((byte) ((j & 15) | ((15 - (j & 15)) << 4)));
        float[] w = deq(GgmlBlocks.Layout.Q4_K, b);
        for (int s = 0; s < 8; s++)
            for (int j = 0; j < 32; j++) {
                int q = (s & 1) == 0 ? (j & 15) : 15 - (j & 15);   // even sub-blocks: low nibbles
                assertEquals(0.25f * sc[s] * q - 0.125f * m[s], w[s * 32 + j], 1e-6f, "sub " + s + " j " + j);
            }
    }

    @Test
    void q6_kJoinsFourLowAndTwoHighBitsMinus32() {
        // element e: q = (e * 7) % 64 - 32, scale of group e / 16 = g - 8
        int[] q6 = new int[256];
        byte[] ql = new byte[128], qh = new byte[64];
        for (int e = 0; e < 256; e++) {
            q6[e] = (e * 7) % 64;
            int h = e / 128, r = e % 128;
            ql[64 * h + r % 64] |= (byte) ((q6[e] & 15) << (4 * (r / 64)));
            qh[32 * h + r % 32] |= (byte) ((q6[e] >> 4) << (2 * (r / 32)));
        }
        ByteBuffer b = le(210).put(ql).put(qh);
        for (int g = 0; g < 16; g++) b.put((byte) (g - 8));
        b.putShort(Float.floatToFloat16(0.5f));
        float[] w = deq(GgmlBlocks.Layout.Q6_K, b);
        for (int e = 0; e < 256; e++) assertEquals(0.5f * (e / 16 - 8) * (q6[e] - 32), w[e], "e " + e);
    }

    @Test
    void rangesAreCheckedBeforeReading() {
        MemorySegment src = MemorySegment.ofArray(new byte[34 * 2]);
        float[] dst = new float[64];
        GgmlBlocks.dequantize(GgmlBlocks.Layout.Q8_0, src, 0, 2, dst, 0);
        assertThrows(IndexOutOfBoundsException.class, () -> GgmlBlocks.dequantize(GgmlBlocks.Layout.Q8_0, src, 1, 2, dst, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> GgmlBlocks.dequantize(GgmlBlocks.Layout.Q8_0, src, 0, 3, new float[96], 0));
        assertThrows(IndexOutOfBoundsException.class, () -> GgmlBlocks.dequantize(GgmlBlocks.Layout.Q8_0, src, 0, 2, dst, 1));
        assertThrows(IndexOutOfBoundsException.class, () -> GgmlBlocks.dequantize(GgmlBlocks.Layout.Q8_0, src, 0, -1, dst, 0));
    }
}
