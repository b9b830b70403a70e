package dev.kvdecode.runtime.cache;

import dev.kvdecode.runtime.engine.ContextFullException;

/**
 * The CPU KV cache: per layer, K and V of shape (B, NH, capacity, HS), allocated once at full
 * capacity (static shapes: a step never allocates or reshapes). Sequence b has seen
 * {@link #tokens(int)} tokens; the cache holds the last min(tokens, capacity) of them.
 *
 * <p>Writing is two-phase because a token's K/V are produced one layer at a time: the forward
 * calls {@link #append} once per layer for each new token, then {@link #commit} once per token.
 * Token number n = tokens(b) + ahead is written at:
 * <ul>
 *   <li>n &lt; capacity: slot n (every policy);</li>
 *   <li>SHIFT: every row moves left by one in place, the new entry goes in slot capacity-1;</li>
 *   <li>RING: slot n mod capacity, no copy; the oldest entry is then in slot (n+1) mod capacity;</li>
 *   <li>STOP: {@link ContextFullException}.</li>
 * </ul>
 * {@link #start} and {@link #length} describe the logical order (oldest first) that attention
 * walks: for SHIFT the physical order, for RING the rotation starting at the oldest slot. Both
 * policies thus present the same entries in the same order, and give bit-identical results.
 */
public final class KvCache {
    private final int layers, batch, heads, headSize, capacity;
    private final OverflowPolicy policy;
    private final float[][] keys, values;
    private final int[] tokens;

    public KvCache(int layers, int batch, int heads, int headSize, int capacity, OverflowPolicy policy) {
        if (layers < 1 || batch < 1 || heads < 1 || headSize < 1 || capacity < 1)
            throw new IllegalArgumentException("KV cache dimensions must be positive");
        if (policy == null) throw new IllegalArgumentException("overflow policy is required");
        long perLayer = (long) batch * heads * capacity * headSize;
        if (perLayer > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("KV cache layer of " + perLayer + " floats exceeds a Java array");
        this.layers = layers;
        this.batch = batch;
        this.heads = heads;
        this.headSize = headSize;
        this.capacity = capacity;
        this.policy = policy;
        this.keys = new float[layers][(int) perLayer];
        this.values = new float[layers][(int) perLayer];
        this.tokens = new int[batch];
    }

    /** Forgets every sequence (the buffers keep their old bytes; nothing reads past length). */
    public void reset() { java.util.Arrays.fill(tokens, 0); }

    /** Tokens appended and committed to sequence b so far (not capped by the capacity). */
    public int tokens(int b) { return tokens[b]; }

    /** Entries sequence b holds now: min(tokens, capacity). */
    public int length(int b) { return Math.min(tokens[b], capacity); }

    /** Physical slot of sequence b's oldest entry. */
    public int start(int b) { return startAfter(tokens[b]); }

    /** Slot of the oldest entry once n tokens have been written. */
    public int startAfter(int n) {
        return policy == OverflowPolicy.RING && n > capacity ? n % capacity : 0;
    }

    /** Physical slot of logical entry j (0 = oldest) of sequence b. */
    public int slot(int b, int j) {
        int s = start(b) + j;
        return s < capacity ? s : s - capacity;
    }

    /** Throws ContextFullException if STOP and sequence b cannot take n more tokens; checked before a forward. */
    public void checkRoom(int b, int n) {
        if (policy == OverflowPolicy.STOP && tokens[b] + n > capacity) throw contextFull(capacity);
    }

    public static ContextFullException contextFull(int capacity) {
        return new ContextFullException("context full: " + capacity
                + " tokens (--context); use --overflow shift or ring");
    }

    // k, v (C) [head h at h*HS] -> layer's K, V at the slot of token tokens(b) + ahead
    /**
     * Writes one new token's K and V for one layer. {@code ahead} counts the tokens of the same
     * forward pass before this one (for a prompt chunk); a chunk must not overflow the cache,
     * because later tokens of it would evict entries that earlier tokens still attend to.
     */
    public void append(int layer, int b, int ahead, float[] k, int kOff, float[] v, int vOff) {
        int n = tokens[b] + ahead;
        int slot;
        if (n < capacity) {
            slot = n;
        } else {
            if (ahead > 0) throw new IllegalStateException("a multi-token chunk must not overflow the KV cache");
            switch (policy) {
                case SHIFT -> {
                    dev.kvdecode.kernels.KvCache.kvShift(keys[layer], b, heads, capacity, headSize);
                    dev.kvdecode.kernels.KvCache.kvShift(values[layer], b, heads, capacity, headSize);
                    slot = capacity - 1;
                }
                case RING -> slot = n % capacity;
                case STOP -> throw contextFull(capacity);
                default -> throw new AssertionError(policy);
            }
        }
        dev.kvdecode.kernels.KvCache.kvAppend(keys[layer], b, slot, k, kOff, heads, capacity, headSize);
        dev.kvdecode.kernels.KvCache.kvAppend(values[layer], b, slot, v, vOff, heads, capacity, headSize);
    }

    /** Single-token form of {@link #append(int, int, int, float[], int, float[], int)}. */
    public void append(int layer, int b, float[] k, int kOff, float[] v, int vOff) {
        append(layer, b, 0, k, kOff, v, vOff);
    }

    /** Marks n more tokens of sequence b as written in every layer. */
    public void commit(int b, int n) { tokens[b] += n; }

    /** Layer's K buffer (B, NH, capacity, HS); read-only for callers. */
    public float[] keys(int layer) { return keys[layer]; }

    /** Layer's V buffer (B, NH, capacity, HS); read-only for callers. */
    public float[] values(int layer) { return values[layer]; }

    public int capacity() { return capacity; }
    public int batch() { return batch; }
    public int heads() { return heads; }
    public int headSize() { return headSize; }
    public int layers() { return layers; }
    public OverflowPolicy policy() { return policy; }
}
