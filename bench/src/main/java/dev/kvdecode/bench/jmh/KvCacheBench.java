package dev.kvdecode.bench.jmh;

import dev.kvdecode.kernels.KvCache;
import org.openjdk.jmh.annotations.*;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The cost of keeping a full window: shifting the whole cache left by one
 * (the tutorial's overflow, a copy of capacity rows per head) vs a ring (append at a slot, no copy).
 * One layer's K buffer of the GPT-2 shape (NH=12, HS=64).
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

    @Setup
    public void setup() {
        cache = AttentionBench.rand(new SplittableRandom(3), NH * capacity * HS);
        row = AttentionBench.rand(new SplittableRandom(4), C);
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
}
