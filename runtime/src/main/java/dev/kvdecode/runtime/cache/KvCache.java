package dev.kvdecode.runtime.cache;

import dev.kvdecode.runtime.engine.ContextFullException;

/**
 * The CPU KV cache: per layer, K and V of B*NH heads with {@link #slots()} slots each, in the
 * row layout of {@link dev.kvdecode.kernels.KvCache} (keys transposed, one array per key dimension;
 * one array per value row), allocated once (static shapes: a step never allocates or reshapes).
 * Sequence b has seen {@link #tokens(int)} tokens; the cache holds the last min(tokens, capacity).
 *
 * <p>Writing is two-phase because a token's K/V are produced one layer at a time: the forward
 * calls {@link #append} once per layer for each new token, then {@link #commit} once per token.
 * Token number n = tokens(b) + ahead is written at:
 * <ul>
 *   <li>n &lt; capacity: slot n (every policy);</li>
 *   <li>SHIFT: the entries stay contiguous, oldest first, in a window [start, start + capacity)
 *       that slides one slot to the right per token over 2 * capacity slots; when it reaches the
 *       end, its newest capacity - 1 entries are moved back to slots 0.. and the new one follows;</li>
 *   <li>RING: slot n mod capacity, no copy; the oldest entry is then in slot (n+1) mod capacity;</li>
 *   <li>STOP: {@link ContextFullException}.</li>
 * </ul>
 * {@link #start} and {@link #length} describe the logical order (oldest first) that attention
 * walks: for SHIFT the contiguous window, for RING the rotation starting at the oldest slot. Both
 * policies thus present the same entries in the same order, and give bit-identical results.
 *
 * <p>Why SHIFT slides a window instead of moving every row left by one per token (the tutorial's
 * memmove, which gives the same entries in the same order): that move copied the whole cache,
 * 2 * L * NH * capacity * HS floats, on every token once the window was full (8 MB for the
 * char-1024 model, next to 12.6 MB of weights read per token) and evicted the weights from the
 * caches. The window moves capacity - 1 entries once every capacity + 1 tokens (under one entry
 * per token, amortised) and keeps the entries contiguous and oldest first, at the cost of twice
 * the memory for SHIFT.
 */
public final class KvCache {
    private final int layers, batch, heads, headSize, capacity, slots;
    private final OverflowPolicy policy;
    private final float[][][] keys, values;   // [layer] -> rows, see the class comment; null when bf16
    private final int[][] keys16, values16;       // per layer, bf16 pairs (--kv-dtype bf16; kernels.KvCache's bf16 layout), else null
    private final int[] tokens;
    // rotary positions (null for learned ones): cos/sin of the move SHIFT's window makes, -(capacity + 1) positions
    private final float[] moveCos, moveSin;

    public KvCache(int layers, int batch, int heads, int headSize, int capacity, OverflowPolicy policy) {
        this(layers, batch, heads, headSize, capacity, policy, false);
    }

    public KvCache(int layers, int batch, int heads, int headSize, int capacity, OverflowPolicy policy, boolean bf16) {
        this(layers, batch, heads, headSize, capacity, policy, bf16, null);
    }

    /**
     * @param bf16 keep K and V as bfloat16 bits (--kv-dtype bf16): half the bytes per entry;
     *             {@link #append} rounds to nearest even, attention widens exactly
     * @param ropeInvFreq the rotary inverse frequencies (HS/2) when keys carry RoPE rotations, else
     *             null. SHIFT then keeps every key rotated to its physical slot as its position:
     *             the window [start, start + capacity) holds positions start.. in order, which
     *             differ from 0..capacity-1 by a constant, and RoPE scores depend only on
     *             differences; when the window moves back to slot 0 the moved keys are rotated
     *             back by the same distance, once (as llama.cpp's context shift does, amortised
     *             like the move itself). Queries must use {@link #writeSlot} as their position.
     */
    public KvCache(int layers, int batch, int heads, int headSize, int capacity, OverflowPolicy policy, boolean bf16,
                   float[] ropeInvFreq) {
        if (layers < 1 || batch < 1 || heads < 1 || headSize < 1 || capacity < 1)
            throw new IllegalArgumentException("KV cache dimensions must be positive");
        if (policy == null) throw new IllegalArgumentException("overflow policy is required");
        // SHIFT's window slides over twice the capacity (class comment)
        int slots = policy == OverflowPolicy.SHIFT ? 2 * capacity : capacity;
        if ((long) batch * heads * Math.max(slots, headSize) > Integer.MAX_VALUE - 16 || slots < capacity)
            throw new IllegalArgumentException("KV cache of " + batch + " x " + heads + " x " + slots + " slots exceeds a Java array");
        this.layers = layers;
        this.batch = batch;
        this.heads = heads;
        this.headSize = headSize;
        this.capacity = capacity;
        this.slots = slots;
        this.policy = policy;
        this.keys = bf16 ? null : new float[layers][][];
        this.values = bf16 ? null : new float[layers][][];
        this.keys16 = bf16 ? new int[layers][] : null;
        this.values16 = bf16 ? new int[layers][] : null;
        for (int l = 0; l < layers; l++) {
            if (bf16) {
                keys16[l] = dev.kvdecode.kernels.KvCache.newKeys16(batch, heads, headSize, slots);
                values16[l] = dev.kvdecode.kernels.KvCache.newValues16(batch, heads, headSize, slots);
            } else {
                keys[l] = dev.kvdecode.kernels.KvCache.newKeys(batch, heads, headSize, slots);
                values[l] = dev.kvdecode.kernels.KvCache.newValues(batch, heads, headSize, slots);
            }
        }
        this.tokens = new int[batch];
        if (ropeInvFreq != null) {
            if (ropeInvFreq.length != headSize / 2) throw new IllegalArgumentException("RoPE needs HS/2 inverse frequencies");
            moveCos = new float[headSize / 2];
            moveSin = new float[headSize / 2];
            dev.kvdecode.kernels.Rope.cosSin(moveCos, moveSin, 0, ropeInvFreq, -(capacity + 1));
        } else {
            moveCos = moveSin = null;
        }
    }

    /**
     * The physical slot token tokens(b) + ahead will be written to (after any move its append
     * makes): with rotary positions under SHIFT, the position its query and key are rotated to.
     */
    public int writeSlot(int b, int ahead) {
        int n = tokens[b] + ahead;
        if (n < capacity) return n;
        return switch (policy) {
            case SHIFT -> {
                int start = startAfter(n);
                yield start < capacity ? start + capacity : capacity - 1;
            }
            case RING -> n % capacity;
            case STOP -> throw contextFull(capacity);
        };
    }

    /** Forgets every sequence (the buffers keep their old bytes; nothing reads past length). */
    public void reset() { java.util.Arrays.fill(tokens, 0); }

    /** Forgets sequence b only (a slot reused by continuous batching); the others are untouched. */
    public void reset(int b) { tokens[b] = 0; }

    /** Tokens appended and committed to sequence b so far (not capped by the capacity). */
    public int tokens(int b) { return tokens[b]; }

    /** Entries sequence b holds now: min(tokens, capacity). */
    public int length(int b) { return Math.min(tokens[b], capacity); }

    /** Physical slot of sequence b's oldest entry. */
    public int start(int b) { return startAfter(tokens[b]); }

    /** Slot of the oldest entry once n tokens have been written. */
    public int startAfter(int n) {
        if (n <= capacity) return 0;
        return switch (policy) {
            case RING -> n % capacity;
            // after each overflow the window starts one slot later, until it starts at capacity
            // (it then ends at 2 * capacity); the next overflow moves it back to slot 0
            case SHIFT -> (n - capacity) % (capacity + 1);
            case STOP -> 0;
        };
    }

    /** Physical slot of logical entry j (0 = oldest) of sequence b. */
    public int slot(int b, int j) {
        int s = start(b) + j;
        return s < slots ? s : s - slots;
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
                    int start = startAfter(n);   // the window before this token: [start, start + capacity)
                    if (start < capacity) {
                        slot = start + capacity;
                    } else {
                        // the window ends at 2 * capacity: keep its newest capacity - 1 entries in
                        // slots 0..capacity-2 and write the new one after them
                        if (keys16 != null)
                            dev.kvdecode.kernels.KvCache.kvMove16(keys16[layer], values16[layer], b, start + 1, 0,
                                    capacity - 1, heads, headSize, slots);
                        else
                            dev.kvdecode.kernels.KvCache.kvMove(keys[layer], values[layer], b, start + 1, 0,
                                    capacity - 1, heads, headSize, slots);
                        if (moveCos != null) rotateMoved(layer, b);
                        slot = capacity - 1;
                    }
                }
                case RING -> slot = n % capacity;
                case STOP -> throw contextFull(capacity);
                default -> throw new AssertionError(policy);
            }
        }
        if (keys16 != null)
            dev.kvdecode.kernels.KvCache.kvAppend16(keys16[layer], values16[layer], b, slot, k, kOff, v, vOff, heads, headSize, slots);
        else
            dev.kvdecode.kernels.KvCache.kvAppend(keys[layer], values[layer], b, slot, k, kOff, v, vOff, heads, headSize, slots);
    }

    // the keys just moved to slots 0..capacity-2 turned back by capacity + 1 positions, every head
    private void rotateMoved(int layer, int b) {
        for (int h = 0; h < heads; h++) {
            if (keys16 != null)
                dev.kvdecode.kernels.Rope.rotateKeys16(keys16[layer],
                        dev.kvdecode.kernels.KvCache.keyBase16(b, h, heads, headSize, slots), 0, capacity - 1, headSize, moveCos, moveSin);
            else
                dev.kvdecode.kernels.Rope.rotateKeys(keys[layer], (b * heads + h) * headSize, 0, capacity - 1, headSize, moveCos, moveSin);
        }
    }

    /** Single-token form of {@link #append(int, int, int, float[], int, float[], int)}. */
    public void append(int layer, int b, float[] k, int kOff, float[] v, int vOff) {
        append(layer, b, 0, k, kOff, v, vOff);
    }

    /** Marks n more tokens of sequence b as written in every layer. */
    public void commit(int b, int n) { tokens[b] += n; }

    /** Whether K and V are kept as bf16 bits ({@link #keys16}, {@link #values16}) instead of floats. */
    public boolean bf16() { return keys16 != null; }

    /** Layer's keys: B*NH*HS rows of {@link #slots()} floats (transposed); read-only for callers; null when bf16. */
    public float[][] keys(int layer) { return keys == null ? null : keys[layer]; }

    /** Layer's values: B*NH*slots rows of HS floats; read-only for callers; null when bf16. */
    public float[][] values(int layer) { return values == null ? null : values[layer]; }

    /** Layer's keys as bf16 pairs (kernels.KvCache's bf16 row layout); null unless bf16. */
    public int[] keys16(int layer) { return keys16 == null ? null : keys16[layer]; }

    /** Layer's values as bf16 pairs (kernels.KvCache's bf16 row layout); null unless bf16. */
    public int[] values16(int layer) { return values16 == null ? null : values16[layer]; }

    /** Dimension d of the key of head h of sequence b in a physical slot. */
    public float key(int layer, int b, int h, int slot, int d) {
        if (keys16 != null) {
            int P = dev.kvdecode.kernels.KvCache.pairs(headSize);
            int i = dev.kvdecode.kernels.KvCache.keyIndex16(
                    dev.kvdecode.kernels.KvCache.keyBase16(b, h, heads, headSize, slots), slot, d / 2, P);
            return dev.kvdecode.kernels.HalfFormat.bf16OfPair(keys16[layer][i], d);
        }
        return keys[layer][(b * heads + h) * headSize + d][slot];
    }

    /** Dimension d of the value of head h of sequence b in a physical slot. */
    public float value(int layer, int b, int h, int slot, int d) {
        int row = (b * heads + h) * slots + slot;
        if (values16 != null)
            return dev.kvdecode.kernels.KvCache.bf16At(values16[layer],
                    dev.kvdecode.kernels.KvCache.valueIndex16(b, h, slot, heads, headSize, slots), d);
        return values[layer][row][d];
    }

    public int capacity() { return capacity; }
    /** Physical slots per head: 2 * capacity for SHIFT (its sliding window), else capacity. */
    public int slots() { return slots; }
    public int batch() { return batch; }
    public int heads() { return heads; }
    public int headSize() { return headSize; }
    public int layers() { return layers; }
    public OverflowPolicy policy() { return policy; }
}
