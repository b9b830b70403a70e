package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.Activation;
import dev.kvdecode.kernels.Activations;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * swiglu_T against Activations.gated(SILU) after the bias add (the CPU's linear adds it). The CPU
 * evaluates SiLU in double and rounds once, the kernel in fp32 (expf): Num.tolerance(dt), floor 1.
 */
class CudaSwiGluTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    static final int[][] SHAPES = {{1, 1}, {3, 3}, {1, 31}, {2, 33}, {1, 127}, {3, 769}, {5, 1024}};

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values()) for (int[] s : SHAPES) for (boolean bias : new boolean[] {true, false})
            b.add(Arguments.of(dt, s[0], s[1], bias));
        return b.build();
    }

    @ParameterizedTest(name = "{0} N={1} I={2} bias={3}")
    @MethodSource("cases")
    void swigluMatchesCpu(DType dt, int N, int I, boolean withBias) {
        long seed = 4099L * I + N + (withBias ? 1 : 0);
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] gu = Dev.random(rnd, N * 2 * I, -6, 6);
        float[] bias = Num.round(dt, Dev.random(rnd, 2 * I, -1, 1));
        float[] ref = gu.clone();
        if (withBias) for (int i = 0; i < ref.length; i++) ref[i] += bias[i % (2 * I)];
        Activations.gated(Activation.SILU, ref, N, I);
        float[] want = java.util.Arrays.copyOf(ref, N * I);

        var dgu = dev.floats("gu", gu, DType.F32);
        var db = withBias ? dev.floats("bias", bias, dt) : null;
        var out = dev.poisoned("out", N * I, dt.sizeBytes());
        CudaSwiGlu.swiglu(dev.kernels, dev.stream, dt, dgu.view, db == null ? null : db.view, out.view, N, I);
        dev.checkGuards(dt.kernel("swiglu"));
        Num.assertClose(dt.kernel("swiglu") + " N=" + N + " I=" + I + " seed=" + seed, want, out.floats(dt), Num.tolerance(dt), 1.0);
    }
}
