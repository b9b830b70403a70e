package dev.kvdecode.kernels;

/**
 * Raw KV-cache ops, in two layouts.
 *
 * <p><b>Row layout</b> (the CPU cache; {@link Attention#decodeAttention(CpuThreads, float[], int,
 * float[], int, float[][], float[][], int, int, int, int, int, int, float[])}): one layer's keys
 * are B*NH*HS rows of {@code slots} floats, row (b*NH + h)*HS + d holding dimension d of every
 * slot (keys transposed), and its values are B*NH*slots rows of HS floats, row (b*NH + h)*slots +
 * slot holding that slot's value vector. Each row is its own array, so the attention loops index
 * both of their arrays by the same variable, which is what lets C2 vectorize them (see
 * {@link Attention}): q.k runs over a contiguous key row per dimension, p.v adds contiguous value rows.
 *
 * <p><b>bf16 layout</b> (--kv-dtype bf16): two bf16 values per int, the even dimension in the
 * low half and the odd one in the high half (0 past an odd last dimension), P = ceil(HS/2) ints
 * per entry, one int[] per layer for keys and one for values. Values: entry (b, h, slot) at
 * ((b*NH + h)*slots + slot)*P, its P ints contiguous. Keys: transposed in blocks of
 * {@link #KEY_BLOCK} slots, ((b*NH + h)*blocks + slot/32)*P*32 + m*32 + slot%32 for pair m, so a
 * block of 32 slots is one contiguous run of P*32 ints that q.k reads front to back with its 32
 * scores in registers. A 256-bit load widens to two vectors of floats with one shift and one
 * mask. Measured against one array per row (docs/PERF_NOTES_CPU.md section 11): q.k 34 -> 16 us
 * and p.v 20 -> 12 us per char-1024 layer at 1,024 entries, one thread.
 *
 * <p><b>Flat layout</b> (B, NH, capacity, HS): one HS-row per (b, h, slot) in one float[]; the CUDA
 * cache's layout, kept here as the CPU twin its tests compare with.
 */
public final class KvCache {
    private KvCache() {}

    // -> keys (B*NH*HS rows of slots floats), row layout
    public static float[][] newKeys(int B, int NH, int HS, int slots) {
        return new float[Math.multiplyExact(Math.multiplyExact(B, NH), HS)][slots];
    }

    // -> values (B*NH*slots rows of HS floats), row layout
    public static float[][] newValues(int B, int NH, int HS, int slots) {
        return new float[Math.multiplyExact(Math.multiplyExact(B, NH), slots)][HS];
    }

    // k, v (C) [head h at h*HS] -> keys[(b,h,d)][slot], values[(b,h,slot)] for every h, row layout
    public static void kvAppend(float[][] keys, float[][] values, int b, int slot, float[] k, int kOff,
                                float[] v, int vOff, int NH, int HS, int slots) {
        for (int h = 0; h < NH; h++) {
            int kRow = (b * NH + h) * HS, src = kOff + h * HS;
            for (int d = 0; d < HS; d++) keys[kRow + d][slot] = k[src + d];
            System.arraycopy(v, vOff + h * HS, values[(b * NH + h) * slots + slot], 0, HS);
        }
    }

    // entries [from, from+n) of sequence b -> [to, to+n), every head, row layout; to <= from
    /** Moves a run of entries towards slot 0 (the copy goes front to back, so runs may overlap). */
    public static void kvMove(float[][] keys, float[][] values, int b, int from, int to, int n, int NH, int HS, int slots) {
        if (to > from) throw new IllegalArgumentException("kvMove moves entries towards slot 0 only");
        for (int h = 0; h < NH; h++) {
            int kRow = (b * NH + h) * HS;
            for (int d = 0; d < HS; d++) System.arraycopy(keys[kRow + d], from, keys[kRow + d], to, n);
            int vRow = (b * NH + h) * slots;
            for (int j = 0; j < n; j++) System.arraycopy(values[vRow + from + j], 0, values[vRow + to + j], 0, HS);
        }
    }

    /** Ints holding HS bf16 values in pairs: ceil(HS / 2). */
    public static int pairs(int HS) { return (HS + 1) / 2; }

    /** Slots per transposed block of the bf16 keys. */
    public static final int KEY_BLOCK = 32;

    /** Key blocks covering {@code slots} slots. */
    public static int keyBlocks(int slots) { return (slots + KEY_BLOCK - 1) / KEY_BLOCK; }

    /** Value i of the bf16 pairs starting at row[off], as fp32 (exact). */
    public static float bf16At(int[] row, int off, int i) {
        return HalfFormat.bf16OfPair(row[off + (i >> 1)], i);
    }

    /** First int of (b, h)'s keys in the bf16 layout. */
    public static int keyBase16(int b, int h, int NH, int HS, int slots) {
        return (b * NH + h) * keyBlocks(slots) * pairs(HS) * KEY_BLOCK;
    }

    /** The int holding dimensions 2m, 2m+1 of a slot's key, from its head's keyBase16. */
    public static int keyIndex16(int base, int slot, int m, int P) {
        return base + (slot / KEY_BLOCK) * P * KEY_BLOCK + m * KEY_BLOCK + slot % KEY_BLOCK;
    }

    /** First int of (b, h, slot)'s value in the bf16 layout. */
    public static int valueIndex16(int b, int h, int slot, int NH, int HS, int slots) {
        return ((b * NH + h) * slots + slot) * pairs(HS);
    }

    // -> one layer's keys as bf16 pairs, bf16 layout
    public static int[] newKeys16(int B, int NH, int HS, int slots) {
        return new int[Math.multiplyExact(Math.multiplyExact(Math.multiplyExact(B, NH), keyBlocks(slots)), Math.multiplyExact(pairs(HS), KEY_BLOCK))];
    }

    // -> one layer's values as bf16 pairs, bf16 layout
    public static int[] newValues16(int B, int NH, int HS, int slots) {
        return new int[Math.multiplyExact(Math.multiplyExact(Math.multiplyExact(B, NH), slots), pairs(HS))];
    }

    // k, v (C) fp32 -> bf16 (nearest even) pairs at the slot's key and value of every head, bf16 layout
    public static void kvAppend16(int[] keys, int[] values, int b, int slot, float[] k, int kOff,
                                  float[] v, int vOff, int NH, int HS, int slots) {
        int P = pairs(HS);
        for (int h = 0; h < NH; h++) {
            int kBase = keyBase16(b, h, NH, HS, slots), src = kOff + h * HS;
            for (int m = 0; m < P; m++) keys[keyIndex16(kBase, slot, m, P)] = pair(k, src, 2 * m, HS);
            int vo = valueIndex16(b, h, slot, NH, HS, slots);
            for (int m = 0; m < P; m++) values[vo + m] = pair(v, vOff + h * HS, 2 * m, HS);
        }
    }

    // entries [from, from+n) of sequence b -> [to, to+n), every head, bf16 layout; to <= from
    /** {@link #kvMove} for the bf16 layout (front to back, so runs may overlap). */
    public static void kvMove16(int[] keys, int[] values, int b, int from, int to, int n, int NH, int HS, int slots) {
        if (to > from) throw new IllegalArgumentException("kvMove moves entries towards slot 0 only");
        int P = pairs(HS);
        for (int h = 0; h < NH; h++) {
            int kBase = keyBase16(b, h, NH, HS, slots);
            for (int j = 0; j < n; j++)
                for (int m = 0; m < P; m++) keys[keyIndex16(kBase, to + j, m, P)] = keys[keyIndex16(kBase, from + j, m, P)];
            System.arraycopy(values, valueIndex16(b, h, from, NH, HS, slots), values, valueIndex16(b, h, to, NH, HS, slots), n * P);
        }
    }

    // x[off + d] and x[off + d + 1] (0 past HS) rounded to bf16, low and high half of one int
    private static int pair(float[] x, int off, int d, int HS) {
        int lo = HalfFormat.BF16.narrow(x[off + d]) & 0xFFFF;
        int hi = d + 1 < HS ? HalfFormat.BF16.narrow(x[off + d + 1]) & 0xFFFF : 0;
        return lo | hi << 16;
    }

    // src (C) [head h at h*HS] -> cache[b, h, slot, :] for every h, flat layout
    public static void kvAppend(float[] cache, int b, int slot, float[] src, int srcOff, int NH, int capacity, int HS) {
        for (int h = 0; h < NH; h++) {
            System.arraycopy(src, srcOff + h * HS, cache, ((b * NH + h) * capacity + slot) * HS, HS);
        }
    }

    // cache[b, h, 1..capacity) -> cache[b, h, 0..capacity-1) for every h, in place; slot capacity-1 keeps its old value
    /** The tutorial's overflow on the flat layout: every row moves left by one (arraycopy handles the overlap as memmove). */
    public static void kvShift(float[] cache, int b, int NH, int capacity, int HS) {
        for (int h = 0; h < NH; h++) {
            int base = (b * NH + h) * capacity * HS;
            System.arraycopy(cache, base + HS, cache, base, (capacity - 1) * HS);
        }
    }
}
