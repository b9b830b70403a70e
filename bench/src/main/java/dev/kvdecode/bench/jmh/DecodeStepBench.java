package dev.kvdecode.bench.jmh;

import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.Backends;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.RandomWeights;
import org.openjdk.jmh.annotations.*;

import java.util.concurrent.TimeUnit;

/**
 * One full cached decode step (batch 1, greedy feed of a fixed token) at a context of 512
 * tokens, on the CPU backend; the ring policy keeps the context fixed however many
 * iterations JMH runs. Run with {@code -prof gc} to see the allocation per step.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
public class DecodeStepBench {
    @Param({"char-1024", "gpt2"})
    String preset;

    /** cpu, cuda (BenchmarksMain adds cuda where a driver is present) or cuda-emu. */
    @Param({"cpu"})
    String backend;

    /** --dtype: fp32, fp16, bf16 or int8 (CPU only). */
    @Param({"fp32"})
    String dtype;

    Backend be;
    InferenceSession session;
    int[] token = {11};

    @Setup
    public void setup() {
        RandomWeights.Preset p = RandomWeights.Preset.fromCli(preset);
        ModelConfig cfg = p.config();
        Model model = new Model(preset, cfg, RandomWeights.create(cfg, 1), null);
        be = Backends.create(backend, dtype);
        session = be.open(model, new SessionOptions(1, 512, OverflowPolicy.RING, true));
        int[] prompt = new int[511];
        for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 7) % cfg.vocabSize();
        session.prefill(new int[][] {prompt});
    }

    @TearDown
    public void tearDown() {
        session.close();
        be.close();
    }

    @Benchmark
    public float[] decodeStep() {
        return session.step(token);
    }
}
