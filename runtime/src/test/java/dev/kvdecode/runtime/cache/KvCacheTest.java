package dev.kvdecode.runtime.cache;

import dev.kvdecode.runtime.engine.ContextFullException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Append/shift/ring semantics: after each step the cache holds the last `capacity` entries, oldest first. */
class KvCacheTest {
    static final int LAYERS = 2, B = 2, NH = 3, HS = 4, C = NH * HS;

    /** A distinctive K (or V with sign flipped) for token n of sequence b in layer l. */
    static float[] entry(int l, int b, int n, boolean value) {
        float[] e = new float[C];
        for (int i = 0; i < C; i++) e[i] = (value ? -1 : 1) * (10000f * l + 1000f * b + 10f * n + i * 0.01f + 1f);
        return e;
    }

    static void checkContents(KvCache cache, int b, List<Integer> history, String what) {
        int cap = cache.capacity();
        int len = Math.min(history.size(), cap);
        assertEquals(len, cache.length(b), what + ": length");
        for (int l = 0; l < cache.layers(); l++) for (int j = 0; j < len; j++) {
            int n = history.get(history.size() - len + j);
            float[] k = entry(l, b, n, false), v = entry(l, b, n, true);
            int slot = cache.slot(b, j);
            for (int h = 0; h < NH; h++) for (int d = 0; d < HS; d++) {
                assertEquals(k[h * HS + d], cache.key(l, b, h, slot, d), 0f, what + " layer " + l + " entry " + j + " (token " + n + ") K");
                assertEquals(v[h * HS + d], cache.value(l, b, h, slot, d), 0f, what + " layer " + l + " entry " + j + " (token " + n + ") V");
            }
        }
    }

    @Test
    void holdsTheLastCapacityEntriesInOrder() {
        for (OverflowPolicy policy : new OverflowPolicy[] {OverflowPolicy.SHIFT, OverflowPolicy.RING}) {
            for (int cap : new int[] {1, 2, 3, 5, 8}) {
                KvCache cache = new KvCache(LAYERS, B, NH, HS, cap, policy);
                List<List<Integer>> hist = List.of(new ArrayList<>(), new ArrayList<>());
                // sequence 1 gets 2 more tokens than sequence 0, so their fill levels differ; SHIFT's
                // window goes back to slot 0 every cap + 1 tokens: run it through several such moves
                for (int step = 0; step < 5 * cap + 7; step++) {
                    for (int b = 0; b < B; b++) {
                        int feeds = (b == 1 && step == 0) ? 3 : 1;
                        for (int f = 0; f < feeds; f++) {
                            int n = cache.tokens(b);
                            for (int l = 0; l < LAYERS; l++) cache.append(l, b, entry(l, b, n, false), 0, entry(l, b, n, true), 0);
                            cache.commit(b, 1);
                            hist.get(b).add(n);
                        }
                    }
                    for (int b = 0; b < B; b++) checkContents(cache, b, hist.get(b), policy + " cap " + cap + " step " + step + " seq " + b);
                }
            }
        }
    }

    /**
     * SHIFT against the tutorial's own mechanism, the flat cache that moves every row left by one
     * per token ({@code kvShift}): after every token, entry j of the sliding window holds exactly
     * the bits of slot j of the shifted cache, for thousands of tokens (many window moves).
     */
    @Test
    void shiftWindowEqualsPhysicalShiftBitForBit() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
        for (int cap : new int[] {1, 2, 7, 64}) {
            KvCache cache = new KvCache(1, B, NH, HS, cap, OverflowPolicy.SHIFT);
            assertEquals(2 * cap, cache.slots());
            float[][] refK = new float[B][NH * cap * HS], refV = new float[B][NH * cap * HS];
            boolean moved = false;
            for (int n = 0; n < 40 * cap + 13; n++) {
                for (int b = 0; b < B; b++) {
                    float[] k = new float[C], v = new float[C];
                    for (int i = 0; i < C; i++) { k[i] = (float) rnd.nextGaussian(); v[i] = (float) rnd.nextGaussian(); }
                    int before = cache.start(b);
                    cache.append(0, b, k, 0, v, 0);
                    cache.commit(b, 1);
                    if (before == cap) moved = true;
                    int slot = n;
                    if (n >= cap) {
                        dev.kvdecode.kernels.KvCache.kvShift(refK[b], 0, NH, cap, HS);
                        dev.kvdecode.kernels.KvCache.kvShift(refV[b], 0, NH, cap, HS);
                        slot = cap - 1;
                    }
                    dev.kvdecode.kernels.KvCache.kvAppend(refK[b], 0, slot, k, 0, NH, cap, HS);
                    dev.kvdecode.kernels.KvCache.kvAppend(refV[b], 0, slot, v, 0, NH, cap, HS);
                    int len = cache.length(b);
                    assertEquals(Math.min(n + 1, cap), len);
                    assertTrue(cache.start(b) + len <= cache.slots(), "the window never wraps");
                    for (int j = 0; j < len; j++) for (int h = 0; h < NH; h++) for (int d = 0; d < HS; d++) {
                        int idx = (h * cap + j) * HS + d;
                        String what = "cap " + cap + " token " + n + " seq " + b + " entry " + j + " head " + h + " dim " + d;
                        assertEquals(Float.floatToRawIntBits(refK[b][idx]), Float.floatToRawIntBits(cache.key(0, b, h, cache.slot(b, j), d)), what + " K");
                        assertEquals(Float.floatToRawIntBits(refV[b][idx]), Float.floatToRawIntBits(cache.value(0, b, h, cache.slot(b, j), d)), what + " V");
                    }
                }
            }
            assertTrue(moved, "the window must have moved back to slot 0 at least once");
        }
    }

    @Test
    void chunkAppendWritesConsecutiveSlots() {
        KvCache cache = new KvCache(LAYERS, B, NH, HS, 5, OverflowPolicy.RING);
        for (int ahead = 0; ahead < 4; ahead++)
            for (int l = 0; l < LAYERS; l++) cache.append(l, 1, ahead, entry(l, 1, ahead, false), 0, entry(l, 1, ahead, true), 0);
        cache.commit(1, 4);
        checkContents(cache, 1, List.of(0, 1, 2, 3), "chunk");
        assertEquals(0, cache.tokens(0));
        assertThrows(IllegalStateException.class, () -> cache.append(0, 1, 1, new float[C], 0, new float[C], 0),
                "a chunk that overflows must be refused");
    }

    @Test
    void stopRefusesTheTokenPastCapacity() {
        KvCache cache = new KvCache(1, 1, NH, HS, 3, OverflowPolicy.STOP);
        for (int n = 0; n < 3; n++) {
            cache.checkRoom(0, 1);
            cache.append(0, 0, entry(0, 0, n, false), 0, entry(0, 0, n, true), 0);
            cache.commit(0, 1);
        }
        var ex = assertThrows(ContextFullException.class, () -> cache.checkRoom(0, 1));
        assertEquals("context full: 3 tokens (--context); use --overflow shift or ring", ex.getMessage());
        assertThrows(ContextFullException.class, () -> cache.append(0, 0, new float[C], 0, new float[C], 0));
        checkContents(cache, 0, List.of(0, 1, 2), "after refusal");
    }

    @Test
    void resetForgetsSequences() {
        KvCache cache = new KvCache(1, 2, NH, HS, 3, OverflowPolicy.RING);
        for (int n = 0; n < 4; n++) { cache.append(0, 0, new float[C], 0, new float[C], 0); cache.commit(0, 1); }
        assertEquals(1, cache.start(0));
        cache.reset();
        assertEquals(0, cache.tokens(0));
        assertEquals(0, cache.length(0));
        assertEquals(0, cache.start(0));
    }
}
