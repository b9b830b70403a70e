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
 * <p><b>Flat layout</b> (B, NH, capacity, HS): one HS-row per (b, h, slot) in one float[]; the CUDA
 * cache's layout, kept here as the CPU twin its tests compare with.
 */
public final class KvCache {
    private KvCache() {}

    // -> keys (B*NH*HS rows of slots floats), row layout
    public static float[][] newKeys(int B, int NH, int HS, int slots) {
        return new float[Math.multiplyExact(B * NH, HS)][slots];
    }

    // -> values (B*NH*slots rows of HS floats), row layout
    public static float[][] newValues(int B, int NH, int HS, int slots) {
        return new float[Math.multiplyExact(B * NH, slots)][HS];
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
    // (rows of either cache: float[] for fp32, short[] of bf16 bits; System.arraycopy moves both)
    public static void kvMove(Object[] keys, Object[] values, int b, int from, int to, int n, int NH, int HS, int slots) {
        if (to > from) throw new IllegalArgumentException("kvMove moves entries towards slot 0 only");
        for (int h = 0; h < NH; h++) {
            int kRow = (b * NH + h) * HS;
            for (int d = 0; d < HS; d++) System.arraycopy(keys[kRow + d], from, keys[kRow + d], to, n);
            int vRow = (b * NH + h) * slots;
            for (int j = 0; j < n; j++) System.arraycopy(values[vRow + from + j], 0, values[vRow + to + j], 0, HS);
        }
    }

    // -> keys as bf16 bits (B*NH*HS rows of slots), row layout
    public static short[][] newKeys16(int B, int NH, int HS, int slots) {
        return new short[Math.multiplyExact(B * NH, HS)][slots];
    }

    // -> values as bf16 bits (B*NH*slots rows of HS), row layout
    public static short[][] newValues16(int B, int NH, int HS, int slots) {
        return new short[Math.multiplyExact(B * NH, slots)][HS];
    }

    // k, v (C) fp32 -> bf16 bits (nearest even) at keys[(b,h,d)][slot], values[(b,h,slot)], row layout
    public static void kvAppend16(short[][] keys, short[][] values, int b, int slot, float[] k, int kOff,
                                  float[] v, int vOff, int NH, int HS, int slots) {
        for (int h = 0; h < NH; h++) {
            int kRow = (b * NH + h) * HS, src = kOff + h * HS;
            for (int d = 0; d < HS; d++) keys[kRow + d][slot] = HalfFormat.BF16.narrow(k[src + d]);
            short[] vr = values[(b * NH + h) * slots + slot];
            for (int d = 0; d < HS; d++) vr[d] = HalfFormat.BF16.narrow(v[vOff + h * HS + d]);
        }
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
