package dev.kvdecode.kernels;

/**
 * Scaled dot-product attention (Vaswani et al. 2017, eq. 1): softmax(q k^T / sqrt(HS)) v, per head.
 * The prompt (causal) form, the single-query form over the CPU KV cache ({@link KvCache}'s row
 * layout) and the single-query form over a flat cache (the CUDA cache's layout, the twin its tests
 * compare against) all call the same {@link #attend} on the same numbers in the same order, so the
 * query of token t gets the same bits whether its keys come from the qkv buffer of a full forward
 * or from either cache.
 *
 * <p>Why the layout: C2 (JDK 25) vectorizes {@code a[p] = a[p] + s * b[p]} only when both arrays
 * are indexed by the same expression (with different offsets they might alias, so it stays scalar;
 * docs/PERF_NOTES_CPU.md), and it never vectorizes an ordered float reduction such as a dot
 * product. So q.k is computed one key dimension at a time over all keys at once, from key rows
 * that hold dimension d of every slot (keys transposed), into scores indexed by the same slot;
 * and p.v adds whole value rows (HS floats, their own array) into the accumulators. Each score is
 * still summed over d = 0, 1, ..., HS-1 in order, and each output over the entries oldest first.
 */
public final class Attention {
    private Attention() {}

    // qkv (T,3C) [q | k | v, head h at columns h*HS..], scratch (NH*T) -> out (T,C)
    /** Causal self-attention over a prompt: query t attends to keys 0..t. Parallel over heads. */
    public static void causalSelfAttention(CpuThreads pool, float[] out, int outOff, float[] qkv, int qkvOff,
                                           float[] scratch, int T, int C, int NH) {
        causalSelfAttention(pool, out, outOff, qkv, qkvOff, scratch, T, NH, NH, C / NH);
    }

    // qkv (T, (NH+2NKV)*HS) [q: NH heads | k: NKV heads | v: NKV heads], scratch (NH*T) -> out (T, NH*HS)
    /**
     * Grouped-query causal self-attention (Ainslie et al. 2023): query head h reads KV head
     * h / (NH / NKV); NKV = NH is multi-head attention, NKV = 1 multi-query. Parallel over query heads.
     */
    public static void causalSelfAttention(CpuThreads pool, float[] out, int outOff, float[] qkv, int qkvOff,
                                           float[] scratch, int T, int NH, int NKV, int HS) {
        checkGroups(NH, NKV);
        CpuThreads p = CpuThreads.forWork(pool, (long) T * T * NH * HS);
        if (p == null) {
            causalHeads(out, outOff, qkv, qkvOff, scratch, T, NH, NKV, HS, 0, NH);
            return;
        }
        Task task = TASK.get();
        task.setCausal(out, outOff, qkv, qkvOff, scratch, T, NH, NKV, HS);
        try {
            p.parallelFor(NH, task);
        } finally {
            task.clear();
        }
    }

    private static void checkGroups(int NH, int NKV) {
        if (NKV < 1 || NH % NKV != 0)
            throw new IllegalArgumentException(NH + " query heads do not divide into " + NKV + " KV heads");
    }

    private static void causalHeads(float[] out, int outOff, float[] qkv, int qkvOff, float[] scratch,
                                    int T, int NH, int NKV, int HS, int h0, int h1) {
        float scale = (float) (1.0 / Math.sqrt(HS));
        int Q = NH * HS, KV = NKV * HS, stride = Q + 2 * KV, group = NH / NKV;
        Scratch sc = gathered(T, HS);
        for (int h = h0; h < h1; h++) {
            int kvh = h / group;
            gather(sc, qkv, qkvOff + Q + kvh * HS, qkvOff + Q + KV + kvh * HS, stride, 0, T, T, HS);
            for (int t = 0; t < T; t++) {
                attend(out, outOff + t * Q + h * HS, qkv, qkvOff + t * stride + h * HS,
                        sc.keys, 0, sc.values, 0, 0, t + 1, T, HS, scale, scratch, h * T);
            }
        }
    }

    // q (C) [head h at h*HS], keys (B*NH*HS rows of slots), values (B*NH*slots rows of HS) in
    // KvCache's row layout, scratch (NH*count) -> out (C)
    /**
     * One query per head over the count cached entries of sequence b, visited oldest first:
     * logical entry j lives in slot (start + j) mod slots. Parallel over heads.
     */
    public static void decodeAttention(CpuThreads pool, float[] out, int outOff, float[] q, int qOff,
                                       float[][] keys, float[][] values, int b, int start, int count,
                                       int slots, int NH, int HS, float[] scratch) {
        decodeAttention(pool, out, outOff, q, qOff, keys, values, b, start, count, slots, NH, NH, HS, scratch);
    }

    // q (NH*HS) [head h at h*HS], keys/values of B*NKV heads in KvCache's row layout, scratch (NH*count) -> out (NH*HS)
    /** The grouped-query form: the cache holds NKV heads per sequence; query head h reads KV head h / (NH / NKV). */
    public static void decodeAttention(CpuThreads pool, float[] out, int outOff, float[] q, int qOff,
                                       float[][] keys, float[][] values, int b, int start, int count,
                                       int slots, int NH, int NKV, int HS, float[] scratch) {
        checkGroups(NH, NKV);
        CpuThreads p = CpuThreads.forWork(pool, 2L * count * NH * HS);
        if (p == null) {
            rowHeads(out, outOff, q, qOff, keys, values, b, start, count, slots, NH, NKV, HS, scratch, 0, NH);
            return;
        }
        Task task = TASK.get();
        task.setRows(out, outOff, q, qOff, keys, values, scratch, NH, NKV, HS, b, start, count, slots);
        try {
            p.parallelFor(NH, task);
        } finally {
            task.clear();
        }
    }

    private static void rowHeads(float[] out, int outOff, float[] q, int qOff, float[][] keys, float[][] values,
                                 int b, int start, int count, int slots, int NH, int NKV, int HS, float[] scratch,
                                 int h0, int h1) {
        float scale = (float) (1.0 / Math.sqrt(HS));
        int group = NH / NKV;
        for (int h = h0; h < h1; h++) {
            int kvh = b * NKV + h / group;
            attend(out, outOff + h * HS, q, qOff + h * HS, keys, kvh * HS, values, kvh * slots,
                    start, count, slots, HS, scale, scratch, h * count);
        }
    }

    // q (C) [head h at h*HS], keys/values bf16 pairs in KvCache's bf16 layout, scratch (NH*count) -> out (C)
    /**
     * As the fp32 row-layout form, over a cache holding bfloat16 pairs (--kv-dtype bf16): each
     * element is widened exactly as it is read and the arithmetic is the fp32 form's, in the same
     * order, so it gives the bits the fp32 form gives on the widened values.
     */
    public static void decodeAttention(CpuThreads pool, float[] out, int outOff, float[] q, int qOff,
                                       int[] keys, int[] values, int b, int start, int count,
                                       int slots, int NH, int HS, float[] scratch) {
        decodeAttention(pool, out, outOff, q, qOff, keys, values, b, start, count, slots, NH, NH, HS, scratch);
    }

    /** The grouped-query form over the bf16 cache (NKV heads per sequence). */
    public static void decodeAttention(CpuThreads pool, float[] out, int outOff, float[] q, int qOff,
                                       int[] keys, int[] values, int b, int start, int count,
                                       int slots, int NH, int NKV, int HS, float[] scratch) {
        checkGroups(NH, NKV);
        CpuThreads p = CpuThreads.forWork(pool, 2L * count * NH * HS);
        if (p == null) {
            rowHeads16(out, outOff, q, qOff, keys, values, b, start, count, slots, NH, NKV, HS, scratch, 0, NH);
            return;
        }
        Task task = TASK.get();
        task.setRows16(out, outOff, q, qOff, keys, values, scratch, NH, NKV, HS, b, start, count, slots);
        try {
            p.parallelFor(NH, task);
        } finally {
            task.clear();
        }
    }

    private static void rowHeads16(float[] out, int outOff, float[] q, int qOff, int[] keys, int[] values,
                                   int b, int start, int count, int slots, int NH, int NKV, int HS, float[] scratch,
                                   int h0, int h1) {
        float scale = (float) (1.0 / Math.sqrt(HS));
        int group = NH / NKV;
        for (int h = h0; h < h1; h++) {
            int kvh = h / group;
            attend16(out, outOff + h * HS, q, qOff + h * HS, keys, KvCache.keyBase16(b, kvh, NKV, HS, slots),
                    values, KvCache.valueIndex16(b, kvh, 0, NKV, HS, slots),
                    start, count, slots, HS, scale, scratch, h * count);
        }
    }

    // attend() over the bf16 layout (keys of this head from kBase, values from vBase): the same
    // scores, softmax and p.v order, each element widened as read
    static void attend16(float[] out, int outOff, float[] q, int qOff, int[] keys, int kBase,
                         int[] values, int vBase, int start, int count, int slots, int HS, float scale,
                         float[] probs, int pOff) {
        Scratch sc = scratch(KvCache.keyBlocks(slots) * KvCache.KEY_BLOCK, HS);
        float[] s = sc.scores;
        int end = start + count;
        if (end <= slots) {
            scores16(s, q, qOff, keys, kBase, HS, scale, start, end);
            System.arraycopy(s, start, probs, pOff, count);
        } else {
            scores16(s, q, qOff, keys, kBase, HS, scale, start, slots);
            scores16(s, q, qOff, keys, kBase, HS, scale, 0, end - slots);
            System.arraycopy(s, start, probs, pOff, slots - start);
            System.arraycopy(s, 0, probs, pOff + slots - start, end - slots);
        }
        Softmax.softmax(probs, pOff, count);
        // p.v: the even dimensions (low halves) into even[], the odd ones (high halves) into odd[],
        // each the sum over j oldest first of p_j v_j[d], then interleaved into out
        int P = KvCache.pairs(HS);
        float[] even = sc.acc, odd = sc.acc2;
        int m0 = Matmul.PANEL_VECTOR ? VectorOps.pvBf16(even, odd, probs, pOff, values, vBase, start, count, slots, P) : 0;
        if (m0 < P) {
            java.util.Arrays.fill(even, m0, P, 0f);
            java.util.Arrays.fill(odd, m0, P, 0f);
            for (int j = 0; j < count; j++) {
                int o = vBase + slotOf(start, j, slots) * P;
                float p = probs[pOff + j];
                for (int m = m0; m < P; m++) {
                    even[m] += p * Float.intBitsToFloat(values[o + m] << 16);
                    odd[m] += p * Float.intBitsToFloat(values[o + m] & 0xFFFF0000);
                }
            }
        }
        for (int m = 0; m < P; m++) {
            out[outOff + 2 * m] = even[m];
            if (2 * m + 1 < HS) out[outOff + 2 * m + 1] = odd[m];
        }
    }

    // scores() over the bf16 keys of one head (from kBase) -> s[p] for p in [p0, p1); the vector
    // form computes whole blocks of 32 slots (s must hold keyBlocks(slots) * 32 floats): a slot
    // outside [p0, p1) gets the score of whatever its key holds, which no caller reads, or its own
    // score again, the same bits
    private static void scores16(float[] s, float[] q, int qOff, int[] keys, int kBase, int HS, float scale,
                                 int p0, int p1) {
        if (Matmul.PANEL_VECTOR && HS % 2 == 0) VectorOps.scoresBf16(s, q, qOff, keys, kBase, HS / 2, scale, p0, p1);
        else scalarScores16(s, q, qOff, keys, kBase, HS, scale, p0, p1);
    }

    // the scalar form: for each slot, from 0, q[d] k[d] added for d = 0, 1, ... in order, then times scale
    static void scalarScores16(float[] s, float[] q, int qOff, int[] keys, int kBase, int HS, float scale,
                               int p0, int p1) {
        int P = KvCache.pairs(HS);
        for (int p = p0; p < p1; p++) {
            float a = 0f;
            for (int d = 0; d < HS; d += 2) {
                int bits = keys[KvCache.keyIndex16(kBase, p, d / 2, P)];
                a = a + q[qOff + d] * Float.intBitsToFloat(bits << 16);
                if (d + 1 < HS) a = a + q[qOff + d + 1] * Float.intBitsToFloat(bits & 0xFFFF0000);
            }
            s[p] = a * scale;
        }
    }

    // q (C) [head h at h*HS], kCache,vCache (B,NH,capacity,HS), scratch (NH*capacity) -> out (C)
    /**
     * The same single query over a flat cache of shape (B, NH, capacity, HS), the CUDA cache's
     * layout (this is the CPU twin its tests compare with): each head's entries are first gathered
     * into the row layout, oldest first, then attended exactly as the CPU cache is.
     */
    public static void decodeAttention(CpuThreads pool, float[] out, int outOff, float[] q, int qOff,
                                       float[] kCache, float[] vCache, int b, int start, int count,
                                       int capacity, int NH, int HS, float[] scratch) {
        CpuThreads p = CpuThreads.forWork(pool, 2L * count * NH * HS);
        if (p == null) {
            flatHeads(out, outOff, q, qOff, kCache, vCache, b, start, count, capacity, NH, HS, scratch, 0, NH);
            return;
        }
        Task task = TASK.get();
        task.setFlat(out, outOff, q, qOff, kCache, vCache, scratch, NH, HS, b, start, count, capacity);
        try {
            p.parallelFor(NH, task);
        } finally {
            task.clear();
        }
    }

    private static void flatHeads(float[] out, int outOff, float[] q, int qOff, float[] kCache, float[] vCache,
                                  int b, int start, int count, int capacity, int NH, int HS, float[] scratch,
                                  int h0, int h1) {
        float scale = (float) (1.0 / Math.sqrt(HS));
        Scratch sc = gathered(count, HS);
        for (int h = h0; h < h1; h++) {
            int base = (b * NH + h) * capacity * HS;
            gather(sc, kCache, base, vCache, base, HS, start, count, capacity, HS);
            attend(out, outOff + h * HS, q, qOff + h * HS, sc.keys, 0, sc.values, 0, 0, count, count, HS, scale,
                    scratch, h * capacity);
        }
    }

    // keys/values: entry j (oldest first) at base + slot(j)*stride, slot(j) = (start+j) mod capacity
    //   -> sc.keys[d][j], sc.values[j][0..HS)
    private static void gather(Scratch sc, float[] src, int kBase, int vBase, int stride, int start, int count,
                               int capacity, int HS) {
        gather(sc, src, kBase, src, vBase, stride, start, count, capacity, HS);
    }

    private static void gather(Scratch sc, float[] k, int kBase, float[] v, int vBase, int stride, int start,
                               int count, int capacity, int HS) {
        for (int j = 0; j < count; j++) {
            int slot = start + j < capacity ? start + j : start + j - capacity;
            int ko = kBase + slot * stride;
            for (int d = 0; d < HS; d++) sc.keys[d][j] = k[ko + d];
            System.arraycopy(v, vBase + slot * stride, sc.values[j], 0, HS);
        }
    }

    // q (HS) at qOff; keys: row kRow0+d = dimension d of every slot; values: row vRow0+slot = that
    // slot's HS values; entry j (oldest first) in slot (start+j) mod slots; probs (count) scratch
    // at pOff -> out (HS) at outOff
    /**
     * The one attention kernel. Scores: s[slot] = (sum over d = 0..HS-1 in order of q[d] k[d][slot])
     * * scale, four key rows per pass over the scores (Java evaluates s + q0 k0 + ... + q3 k3 left
     * to right: the same bits as four passes). They are computed where the slots lie (one run, or
     * two when a ring wraps), so each score's bits do not depend on its slot. Then softmax over the
     * entries oldest first, and out[d] = sum over j oldest first of p_j v_j[d], four entries per
     * pass, the same grouping from j = 0 for every caller.
     */
    static void attend(float[] out, int outOff, float[] q, int qOff, float[][] keys, int kRow0,
                       float[][] values, int vRow0, int start, int count, int slots, int HS, float scale,
                       float[] probs, int pOff) {
        Scratch sc = scratch(slots, HS);
        float[] s = sc.scores;
        int end = start + count;
        if (end <= slots) {
            scores(s, q, qOff, keys, kRow0, HS, scale, start, end);
            System.arraycopy(s, start, probs, pOff, count);
        } else {
            scores(s, q, qOff, keys, kRow0, HS, scale, start, slots);
            scores(s, q, qOff, keys, kRow0, HS, scale, 0, end - slots);
            System.arraycopy(s, start, probs, pOff, slots - start);
            System.arraycopy(s, 0, probs, pOff + slots - start, end - slots);
        }
        Softmax.softmax(probs, pOff, count);
        float[] acc = sc.acc;
        java.util.Arrays.fill(acc, 0, HS, 0f);
        int j = 0;
        for (; j + 4 <= count; j += 4) {
            float[] v0 = values[vRow0 + slotOf(start, j, slots)], v1 = values[vRow0 + slotOf(start, j + 1, slots)],
                    v2 = values[vRow0 + slotOf(start, j + 2, slots)], v3 = values[vRow0 + slotOf(start, j + 3, slots)];
            float p0 = probs[pOff + j], p1 = probs[pOff + j + 1], p2 = probs[pOff + j + 2], p3 = probs[pOff + j + 3];
            for (int d = 0; d < HS; d++) acc[d] = acc[d] + p0 * v0[d] + p1 * v1[d] + p2 * v2[d] + p3 * v3[d];
        }
        for (; j < count; j++) {
            float[] v0 = values[vRow0 + slotOf(start, j, slots)];
            float p = probs[pOff + j];
            for (int d = 0; d < HS; d++) acc[d] += p * v0[d];
        }
        System.arraycopy(acc, 0, out, outOff, HS);
    }

    // q (HS), keys rows kRow0.. (HS rows indexed by slot) -> s[p] for p in [p0, p1)
    private static void scores(float[] s, float[] q, int qOff, float[][] keys, int kRow0, int HS, float scale,
                               int p0, int p1) {
        java.util.Arrays.fill(s, p0, p1, 0f);
        int d = 0;
        for (; d + 4 <= HS; d += 4) {
            float[] k0 = keys[kRow0 + d], k1 = keys[kRow0 + d + 1], k2 = keys[kRow0 + d + 2], k3 = keys[kRow0 + d + 3];
            float q0 = q[qOff + d], q1 = q[qOff + d + 1], q2 = q[qOff + d + 2], q3 = q[qOff + d + 3];
            for (int p = p0; p < p1; p++) s[p] = s[p] + q0 * k0[p] + q1 * k1[p] + q2 * k2[p] + q3 * k3[p];
        }
        for (; d < HS; d++) {
            float[] k0 = keys[kRow0 + d];
            float q0 = q[qOff + d];
            for (int p = p0; p < p1; p++) s[p] += q0 * k0[p];
        }
        for (int p = p0; p < p1; p++) s[p] *= scale;
    }

    private static int slotOf(int start, int j, int slots) {
        return start + j < slots ? start + j : start + j - slots;
    }

    private static final ThreadLocal<Task> TASK = ThreadLocal.withInitial(Task::new);

    /** Reusable per calling thread, so a parallel call allocates nothing. */
    private static final class Task implements CpuThreads.RangeTask {
        static final int CAUSAL = 0, ROWS = 1, FLAT = 2, ROWS16 = 3;
        int kind;
        float[] out, in, kFlat, vFlat, scratch;
        float[][] keys, values;
        int[] keys16, values16;
        int outOff, inOff, T, NH, NKV, HS, b, start, count, slots;

        void setCausal(float[] out, int outOff, float[] qkv, int qkvOff, float[] scratch, int T, int NH, int NKV, int HS) {
            this.kind = CAUSAL; this.out = out; this.outOff = outOff; this.in = qkv; this.inOff = qkvOff;
            this.scratch = scratch; this.T = T; this.NH = NH; this.NKV = NKV; this.HS = HS;
        }

        void setRows(float[] out, int outOff, float[] q, int qOff, float[][] keys, float[][] values, float[] scratch,
                     int NH, int NKV, int HS, int b, int start, int count, int slots) {
            this.kind = ROWS; this.out = out; this.outOff = outOff; this.in = q; this.inOff = qOff;
            this.keys = keys; this.values = values; this.scratch = scratch; this.NH = NH; this.NKV = NKV; this.HS = HS;
            this.b = b; this.start = start; this.count = count; this.slots = slots;
        }

        void setRows16(float[] out, int outOff, float[] q, int qOff, int[] keys, int[] values, float[] scratch,
                       int NH, int NKV, int HS, int b, int start, int count, int slots) {
            this.kind = ROWS16; this.out = out; this.outOff = outOff; this.in = q; this.inOff = qOff;
            this.keys16 = keys; this.values16 = values; this.scratch = scratch; this.NH = NH; this.NKV = NKV; this.HS = HS;
            this.b = b; this.start = start; this.count = count; this.slots = slots;
        }

        void setFlat(float[] out, int outOff, float[] q, int qOff, float[] k, float[] v, float[] scratch,
                     int NH, int HS, int b, int start, int count, int capacity) {
            this.kind = FLAT; this.out = out; this.outOff = outOff; this.in = q; this.inOff = qOff;
            this.kFlat = k; this.vFlat = v; this.scratch = scratch; this.NH = NH; this.HS = HS;
            this.b = b; this.start = start; this.count = count; this.slots = capacity;
        }

        void clear() {
            out = in = kFlat = vFlat = scratch = null;
            keys = values = null;
            keys16 = values16 = null;
        }

        @Override
        public void run(int h0, int h1) {
            switch (kind) {
                case CAUSAL -> causalHeads(out, outOff, in, inOff, scratch, T, NH, NKV, HS, h0, h1);
                case ROWS -> rowHeads(out, outOff, in, inOff, keys, values, b, start, count, slots, NH, NKV, HS, scratch, h0, h1);
                case ROWS16 -> rowHeads16(out, outOff, in, inOff, keys16, values16, b, start, count, slots, NH, NKV, HS, scratch, h0, h1);
                default -> flatHeads(out, outOff, in, inOff, kFlat, vFlat, b, start, count, slots, NH, HS, scratch, h0, h1);
            }
        }
    }

    /**
     * Per-thread scratch, grown (never shrunk) to the largest call: the scores by slot, the p.v
     * accumulators, and a gathered head in the row layout (keys[d][j], values[j][d]) for the
     * causal and flat-cache forms.
     */
    private static final class Scratch {
        float[] scores = new float[0], acc = new float[0], acc2 = new float[0];
        float[][] keys = new float[0][], values = new float[0][];
        int rows, hs;   // gathered capacity: keys is hs x rows, values rows x hs
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static Scratch scratch(int slots, int HS) {
        Scratch sc = SCRATCH.get();
        if (sc.scores.length < slots) sc.scores = new float[slots];
        if (sc.acc.length < HS) {
            sc.acc = new float[HS];
            sc.acc2 = new float[HS];
        }
        return sc;
    }

    /** {@link #scratch} with room to gather a head of {@code count} entries. */
    private static Scratch gathered(int count, int HS) {
        Scratch sc = scratch(count, HS);
        if (sc.rows < count || sc.hs < HS) {
            int rows = Math.max(sc.rows, count), hs = Math.max(sc.hs, HS);
            sc.keys = new float[hs][rows];
            sc.values = new float[rows][hs];
            sc.rows = rows;
            sc.hs = hs;
        }
        return sc;
    }
}
