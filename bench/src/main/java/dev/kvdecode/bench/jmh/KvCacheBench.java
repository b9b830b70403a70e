package dev.kvdecode.bench.jmh;

import dev.kvdecode.kernels.KvCache;
import org.openjdk.jmh.annotations.*;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The cost of keeping a full window: shifting the whole cache left by one
 * (the tutorial's overflow, a copy of capacity rows per head) vs a ring (append at a slot, no copy)
 * on one layer's K buffer in the flat layout, and the CPU cache's SHIFT (K and V in the row layout,
 * a window sliding over 2 x capacity slots, moved back once every capacity + 1 tokens).
 * GPT-2 head shape (NH=12, HS=64).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class KvCacheBench {
    static final int NH = 12, HS = 64, C = NH * HS;

    @Param({"256", "1024", "4096"})
    int capacity;

    float[] cache, row;
    int next;
    float[][] keys, values;   // row layout, 2 x capacity slots
    int windowStart;

    @Setup
    public void setup() {
        cache = AttentionBench.rand(new SplittableRandom(3), NH * capacity * HS);
        row = AttentionBench.rand(new SplittableRandom(4), C);
        keys = KvCache.newKeys(1, NH, HS, 2 * capacity);
        values = KvCache.newValues(1, NH, HS, 2 * capacity);
    }

    @Benchmark
    public float[] shiftThenAppend() {
        KvCache.kvShift(cache, 0, NH, capacity, HS);
        KvCache.kvAppend(cache, 0, capacity - 1, row, 0, NH, capacity, HS);
        return cache;
    }

    @Benchmark
    public float[] ringAppend() {
        KvCache.kvAppend(cache, 0, next, row, 0, NH, capacity, HS);
        next = next + 1 == capacity ? 0 : next + 1; // the ring's whole overflow cost: this index
        return cache;
    }

    /** K and V of one full-window token, amortised (runtime.cache.KvCache's SHIFT). */
    @Benchmark
    public float[][] slidingWindowAppend() {
        int slot;
        if (windowStart < capacity) {
            slot = windowStart + capacity;
            windowStart++;
        } else {
            KvCache.kvMove(keys, values, 0, windowStart + 1, 0, capacity - 1, NH, HS, 2 * capacity);
            slot = capacity - 1;
            windowStart = 0;
        }
        KvCache.kvAppend(keys, values, 0, slot, row, 0, row, 0, NH, HS, 2 * capacity);
        return keys;
    }
}
