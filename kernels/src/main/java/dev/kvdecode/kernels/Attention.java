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
        CpuThreads p = CpuThreads.forWork(pool, (long) T * T * C);
        if (p == null) {
            causalHeads(out, outOff, qkv, qkvOff, scratch, T, C, NH, 0, NH);
            return;
        }
        Task task = TASK.get();
        task.set(false, out, outOff, qkv, qkvOff, null, null, scratch, T, C, NH, 0, 0, 0, 0, 0);
        try {
            p.parallelFor(NH, task);
        } finally {
            task.set(false, null, 0, null, 0, null, null, null, 0, 0, 0, 0, 0, 0, 0, 0);
        }
    }

    private static void causalHeads(float[] out, int outOff, float[] qkv, int qkvOff, float[] scratch,
                                    int T, int C, int NH, int h0, int h1) {
        int HS = C / NH;
        float scale = (float) (1.0 / Math.sqrt(HS));
        int stride = 3 * C;
        for (int h = h0; h < h1; h++) {
            int kBase = qkvOff + C + h * HS, vBase = qkvOff + 2 * C + h * HS;
            for (int t = 0; t < T; t++) {
                attendOne(out, outOff + t * C + h * HS, qkv, qkvOff + t * stride + h * HS,
                        qkv, kBase, qkv, vBase, stride, 0, t + 1, T, HS, scale, scratch, h * T);
            }
        }
    }

    // q (C) [head h at h*HS], kCache,vCache (B,NH,capacity,HS), scratch (NH*capacity) -> out (C)
    /**
     * One query per head over the count cached entries of sequence b, visited oldest first:
     * logical entry j lives in slot (start + j) mod capacity (start = 0 for a shifted cache).
     */
    public static void decodeAttention(CpuThreads pool, float[] out, int outOff, float[] q, int qOff,
                                       float[] kCache, float[] vCache, int b, int start, int count,
                                       int capacity, int NH, int HS, float[] scratch) {
        CpuThreads p = CpuThreads.forWork(pool, 2L * count * NH * HS);
        if (p == null) {
            decodeHeads(out, outOff, q, qOff, kCache, vCache, b, start, count, capacity, NH, HS, scratch, 0, NH);
            return;
        }
        Task task = TASK.get();
        task.set(true, out, outOff, q, qOff, kCache, vCache, scratch, 0, 0, NH, HS, b, start, count, capacity);
        try {
            p.parallelFor(NH, task);
        } finally {
            task.set(true, null, 0, null, 0, null, null, null, 0, 0, 0, 0, 0, 0, 0, 0);
        }
    }

    private static void decodeHeads(float[] out, int outOff, float[] q, int qOff, float[] kCache, float[] vCache,
                                    int b, int start, int count, int capacity, int NH, int HS, float[] scratch,
                                    int h0, int h1) {
        float scale = (float) (1.0 / Math.sqrt(HS));
        for (int h = h0; h < h1; h++) {
            int base = (b * NH + h) * capacity * HS;
            attendOne(out, outOff + h * HS, q, qOff + h * HS, kCache, base, vCache, base, HS,
                    start, count, capacity, HS, scale, scratch, h * capacity);
        }
    }

    private static final ThreadLocal<Task> TASK = ThreadLocal.withInitial(Task::new);

    /** Reusable per calling thread, so a parallel call allocates nothing. */
    private static final class Task implements CpuThreads.RangeTask {
        boolean decode;
        float[] out, in, k, v, scratch;
        int outOff, inOff, T, C, NH, HS, b, start, count, capacity;

        void set(boolean decode, float[] out, int outOff, float[] in, int inOff, float[] k, float[] v, float[] scratch,
                 int T, int C, int NH, int HS, int b, int start, int count, int capacity) {
            this.decode = decode; this.out = out; this.outOff = outOff; this.in = in; this.inOff = inOff;
            this.k = k; this.v = v; this.scratch = scratch; this.T = T; this.C = C; this.NH = NH; this.HS = HS;
            this.b = b; this.start = start; this.count = count; this.capacity = capacity;
        }

        @Override
        public void run(int h0, int h1) {
            if (decode) decodeHeads(out, outOff, in, inOff, k, v, b, start, count, capacity, NH, HS, scratch, h0, h1);
            else causalHeads(out, outOff, in, inOff, scratch, T, C, NH, h0, h1);
        }
    }

    // q (HS); keys/values: logical row j at base + slot(j)*stride, slot(j) = (start+j) mod capacity;
    // scores (count) scratch -> out (HS)
    /**
     * q.k uses {@link Matmul#dot} (eight fixed partial sums: independent adds the CPU overlaps;
     * C2 does not vectorize an ordered float reduction). p.v accumulates four keys per pass over
     * copies of their value rows in thread-local scratch, where C2 vectorizes it (see
     * {@link Matmul}'s scratch note); the sum per element is still over j = 0, 1, ... in order.
     */
    public static void attendOne(float[] out, int outOff, float[] q, int qOff,
                                 float[] k, int kBase, float[] v, int vBase, int stride,
                                 int start, int count, int capacity, int HS, float scale,
                                 float[] scores, int sOff) {
        for (int j = 0; j < count; j++) {
            int slot = start + j < capacity ? start + j : start + j - capacity;
            scores[sOff + j] = Matmul.dot(q, qOff, k, kBase + slot * stride, HS) * scale;
        }
        Softmax.softmax(scores, sOff, count);
        Scratch sc = scratch(HS);
        float[] acc = sc.acc, v0 = sc.v0, v1 = sc.v1, v2 = sc.v2, v3 = sc.v3;
        java.util.Arrays.fill(acc, 0, HS, 0f);
        int j = 0;
        for (; j + 4 <= count; j += 4) {
            System.arraycopy(v, vBase + slotOf(start, j, capacity) * stride, v0, 0, HS);
            System.arraycopy(v, vBase + slotOf(start, j + 1, capacity) * stride, v1, 0, HS);
            System.arraycopy(v, vBase + slotOf(start, j + 2, capacity) * stride, v2, 0, HS);
            System.arraycopy(v, vBase + slotOf(start, j + 3, capacity) * stride, v3, 0, HS);
            float p0 = scores[sOff + j], p1 = scores[sOff + j + 1], p2 = scores[sOff + j + 2], p3 = scores[sOff + j + 3];
            for (int d = 0; d < HS; d++) acc[d] = acc[d] + p0 * v0[d] + p1 * v1[d] + p2 * v2[d] + p3 * v3[d];
        }
        for (; j < count; j++) {
            System.arraycopy(v, vBase + slotOf(start, j, capacity) * stride, v0, 0, HS);
            float p = scores[sOff + j];
            for (int d = 0; d < HS; d++) acc[d] += p * v0[d];
        }
        System.arraycopy(acc, 0, out, outOff, HS);
    }

    private static int slotOf(int start, int j, int capacity) {
        return start + j < capacity ? start + j : start + j - capacity;
    }

    /** Per-thread p.v scratch: the accumulators and four value rows, grown (once) to the head size. */
    private static final class Scratch {
        float[] acc = new float[0], v0 = acc, v1 = acc, v2 = acc, v3 = acc;
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static Scratch scratch(int HS) {
        Scratch sc = SCRATCH.get();
        if (sc.acc.length < HS) {
            sc.acc = new float[HS]; sc.v0 = new float[HS]; sc.v1 = new float[HS]; sc.v2 = new float[HS]; sc.v3 = new float[HS];
        }
        return sc;
    }
}
