package dev.kvdecode.kernels;

/**
 * Scaled dot-product attention (Vaswani et al. 2017, eq. 1): softmax(q k^T / sqrt(HS)) v, per head.
 * Both the prompt (causal) form and the single-query form over the KV cache call the same
 * {@link #attendOne} on the same numbers in the same order, so the query of token t gets the
 * same bits whether its keys come from the qkv buffer of a full forward or from the cache.
 */
public final class Attention {
    private Attention() {}

    // qkv (T,3C) [q | k | v, head h at columns h*HS..], scratch (NH*T) -> out (T,C)
    /** Causal self-attention over a prompt: query t attends to keys 0..t. Parallel over heads. */
    public static void causalSelfAttention(CpuThreads pool, float[] out, int outOff, float[] qkv, int qkvOff,
                                           float[] scratch, int T, int C, int NH) {
        int HS = C / NH;
        float scale = (float) (1.0 / Math.sqrt(HS));
        int stride = 3 * C;
        CpuThreads.parallelFor(pool, NH, (h0, h1) -> {
            for (int h = h0; h < h1; h++) {
                int kBase = qkvOff + C + h * HS, vBase = qkvOff + 2 * C + h * HS;
                for (int t = 0; t < T; t++) {
                    attendOne(out, outOff + t * C + h * HS, qkv, qkvOff + t * stride + h * HS,
                            qkv, kBase, qkv, vBase, stride, 0, t + 1, T, HS, scale, scratch, h * T);
                }
            }
        });
    }

    // q (C) [head h at h*HS], kCache,vCache (B,NH,capacity,HS), scratch (NH*capacity) -> out (C)
    /**
     * One query per head over the count cached entries of sequence b, visited oldest first:
     * logical entry j lives in slot (start + j) mod capacity (start = 0 for a shifted cache).
     */
    public static void decodeAttention(CpuThreads pool, float[] out, int outOff, float[] q, int qOff,
                                       float[] kCache, float[] vCache, int b, int start, int count,
                                       int capacity, int NH, int HS, float[] scratch) {
        float scale = (float) (1.0 / Math.sqrt(HS));
        CpuThreads.parallelFor(pool, NH, (h0, h1) -> {
            for (int h = h0; h < h1; h++) {
                int base = (b * NH + h) * capacity * HS;
                attendOne(out, outOff + h * HS, q, qOff + h * HS, kCache, base, vCache, base, HS,
                        start, count, capacity, HS, scale, scratch, h * capacity);
            }
        });
    }

    // q (HS); keys/values: logical row j at base + slot(j)*stride, slot(j) = (start+j) mod capacity;
    // scores (count) scratch -> out (HS)
    public static void attendOne(float[] out, int outOff, float[] q, int qOff,
                                 float[] k, int kBase, float[] v, int vBase, int stride,
                                 int start, int count, int capacity, int HS, float scale,
                                 float[] scores, int sOff) {
        for (int j = 0; j < count; j++) {
            int slot = start + j < capacity ? start + j : start + j - capacity;
            int ko = kBase + slot * stride;
            float s = 0f;
            for (int d = 0; d < HS; d++) s += q[qOff + d] * k[ko + d];
            scores[sOff + j] = s * scale;
        }
        Softmax.softmax(scores, sOff, count);
        for (int d = 0; d < HS; d++) out[outOff + d] = 0f;
        for (int j = 0; j < count; j++) {
            int slot = start + j < capacity ? start + j : start + j - capacity;
            int vo = vBase + slot * stride;
            float p = scores[sOff + j];
            for (int d = 0; d < HS; d++) out[outOff + d] += p * v[vo + d];
        }
    }
}
