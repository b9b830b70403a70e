package dev.kvdecode.bench.jmh;

import dev.kvdecode.kernels.Attention;
import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.KvCache;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * What one new token costs in attention: the cached single query over n entries (linear in n)
 * against recomputing causal attention for the whole window of n tokens (quadratic in n).
 * GPT-2 head shape: NH=12, HS=64 (C=768).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class AttentionBench {
    static final int NH = 12, HS = 64, C = NH * HS;

    @Param({"64", "256", "1024", "4096"})
    int context;

    float[] q, qkv, out, scratch, outAll, scratchAll;
    float[][] kCache, vCache;   // the CPU cache's row layout (kernels.KvCache)
    CpuThreads pool;

    @Setup
    public void setup() {
        SplittableRandom r = new SplittableRandom(7);
        q = rand(r, C);
        kCache = KvCache.newKeys(1, NH, HS, context);
        vCache = KvCache.newValues(1, NH, HS, context);
        for (float[] row : kCache) System.arraycopy(rand(r, context), 0, row, 0, context);
        for (float[] row : vCache) System.arraycopy(rand(r, HS), 0, row, 0, HS);
        out = new float[C];
        scratch = new float[NH * context];
        pool = CpuThreads.common();
    }

    @Benchmark
    public float[] cachedDecodeAttention() {
        Attention.decodeAttention(pool, out, 0, q, 0, kCache, vCache, 0, 0, context, context, NH, HS, scratch);
        return out;
    }

    @State(Scope.Thread)
    public static class Recompute {
        float[] qkv, out, scratch;

        @Setup
        public void setup(AttentionBench b) {
            if (b.context > 1024) { qkv = null; return; } // 4096^2 x 12 heads per call is minutes of JMH time
            SplittableRandom r = new SplittableRandom(8);
            qkv = rand(r, b.context * 3 * C);
            out = new float[b.context * C];
            scratch = new float[NH * b.context];
        }
    }

    @Benchmark
    public void recomputedCausalAttention(Recompute s, Blackhole bh) {
        if (s.qkv == null) return; // skipped above 1024: reported as ~0, see BENCHMARKS.md
        Attention.causalSelfAttention(pool, s.out, 0, s.qkv, 0, s.scratch, context, C, NH);
        bh.consume(s.out);
    }

    static float[] rand(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }
}
