package dev.kvdecode.kernels;

/**
 * Raw KV-cache ops on one layer's K or V buffer of shape (B, NH, capacity, HS): each (b, h) owns
 * a contiguous (capacity, HS) block, so the single-query attention reads its keys sequentially.
 */
public final class KvCache {
    private KvCache() {}

    // src (C) [head h at h*HS] -> cache[b, h, slot, :] for every h
    public static void kvAppend(float[] cache, int b, int slot, float[] src, int srcOff, int NH, int capacity, int HS) {
        for (int h = 0; h < NH; h++) {
            System.arraycopy(src, srcOff + h * HS, cache, ((b * NH + h) * capacity + slot) * HS, HS);
        }
    }

    // cache[b, h, 1..capacity) -> cache[b, h, 0..capacity-1) for every h, in place; slot capacity-1 keeps its old value
    /** The tutorial's overflow: every row moves left by one (arraycopy handles the overlap as memmove). */
    public static void kvShift(float[] cache, int b, int NH, int capacity, int HS) {
        for (int h = 0; h < NH; h++) {
            int base = (b * NH + h) * capacity * HS;
            System.arraycopy(cache, base + HS, cache, base, (capacity - 1) * HS);
        }
    }
}
