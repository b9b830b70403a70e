package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.Activation;
import dev.kvdecode.kernels.Activations;
import dev.kvdecode.kernels.Residual;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

/** bias_{gelu_tanh,gelu_erf,relu}_T, bias_residual_add_T, bias_add_T against Activations and Residual. */
class CudaActivationTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    static final int[][] SHAPES = {{1, 1}, {3, 3}, {1, 31}, {2, 33}, {1, 127}, {3, 769}, {2, 1024}};

    static Stream<Arguments> activations() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (Activation act : Activation.values())
            if (act != Activation.SILU)   // the Llama family's gated MLP: no CUDA kernel yet (issue 18)
            for (DType dt : DType.values()) for (int[] s : SHAPES) b.add(Arguments.of(act, dt, s[0], s[1]));
        return b.build();
    }

    static Stream<Arguments> dtypesAndShapes() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values()) for (int[] s : SHAPES) b.add(Arguments.of(dt, s[0], s[1]));
        return b.build();
    }

    @ParameterizedTest(name = "{0} {1} N={2} D={3}")
    @MethodSource("activations")
    void biasActivationMatchesCpu(Activation act, DType dt, int N, int D) {
        long seed = 31L * N + D + act.ordinal() * 100_000L;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Dev.random(rnd, N * D, -5, 5);
        float[] bias = Num.round(dt, Dev.random(rnd, D, -1, 1));
        float[] ref = new float[N * D];
        for (int i = 0; i < N * D; i++) ref[i] = x[i] + bias[i % D];
        Activations.apply(act, ref, 0, N * D);

        var dx = dev.floats("x", x, DType.F32);
        var db = dev.floats("bias", bias, dt);
        var out = dev.poisoned("out", N * D, dt.sizeBytes());
        CudaActivation.biasActivation(dev.kernels, dev.stream, dt, act, dx.view, db.view, out.view, N, D);
        String k = dt.kernel(CudaActivation.op(act));
        dev.checkGuards(k);
        // floor 1: where 1 + tanh (or 1 + erf) cancels for x < 0 the output is tiny and its fp32
        // error is absolute (~1e-7); the CPU evaluates in double and rounds once.
        Num.assertClose(k + " N=" + N + " D=" + D + " seed=" + seed, ref, out.floats(dt), Num.tolerance(dt), 1.0);
    }

    @ParameterizedTest(name = "{0} N={1} D={2}")
    @MethodSource("dtypesAndShapes")
    void biasActivationWithoutBias(DType dt, int N, int D) {
        SplittableRandom rnd = new SplittableRandom(7L * D + N);
        float[] x = Dev.random(rnd, N * D, -3, 3);
        float[] ref = x.clone();
        Activations.relu(ref, 0, N * D);
        var dx = dev.floats("x", x, DType.F32);
        var out = dev.poisoned("out", N * D, dt.sizeBytes());
        CudaActivation.biasActivation(dev.kernels, dev.stream, dt, Activation.RELU, dx.view, null, out.view, N, D);
        dev.checkGuards(dt.kernel("bias_relu"));
        // max(0, x) is exact; the only error is the final rounding to dt
        Num.assertSame(dt.kernel("bias_relu") + " (null bias)", Num.round(dt, ref), out.floats(dt));
    }

    @ParameterizedTest(name = "{0} N={1} D={2}")
    @MethodSource("dtypesAndShapes")
    void biasResidualAddAndBiasAddAreExact(DType dt, int N, int D) {
        long seed = 17L * D + N;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] resid = Dev.random(rnd, N * D, -2, 2);
        float[] y = Dev.random(rnd, N * D, -2, 2);
        float[] bias = Num.round(dt, Dev.random(rnd, D, -1, 1));
        float[] ref = resid.clone();
        float[] yb = new float[N * D];
        for (int i = 0; i < N * D; i++) yb[i] = y[i] + bias[i % D];
        Residual.add(ref, 0, yb, 0, N * D);

        var dr = dev.floats("resid", resid, DType.F32);
        var dy = dev.floats("y", y, DType.F32);
        var db = dev.floats("bias", bias, dt);
        CudaActivation.biasResidualAdd(dev.kernels, dev.stream, dt, dr.view, dy.view, db.view, N, D);
        dev.checkGuards(dt.kernel("bias_residual_add"));
        // one or two fp32 adds per element in the CPU's order: bit-exact
        Num.assertSame(dt.kernel("bias_residual_add") + " seed=" + seed, ref, dr.floats(DType.F32));

        CudaActivation.biasAdd(dev.kernels, dev.stream, dt, dy.view, db.view, N, D);
        dev.checkGuards(dt.kernel("bias_add"));
        Num.assertSame(dt.kernel("bias_add") + " seed=" + seed, yb, dy.floats(DType.F32));
    }
}
