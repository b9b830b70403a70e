package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.Activation;
import dev.kvdecode.kernels.Activations;
import dev.kvdecode.kernels.LayerNorm;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.kernels.Residual;
import dev.kvdecode.kernels.cuda.CudaGemv.Epilogue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * gemv_* against the COMPOSITION of the CPU ops each one replaces: Matmul.matmul (x W + b, W (K,N))
 * then Activations.apply (rounded to the dtype, as the unfused bias_act kernel stores) or
 * Residual.add. Inputs are dtype-rounded on both sides. Outputs NaN-poisoned, guard bands checked,
 * seeds 1-3 (kernels/pom.xml). Tolerance: fp32 1e-5 relative with an absolute floor of 1e-5 x
 * sqrt(K) (sums of K products in another order: the GPU adds 32 lane partials in a tree); f16/bf16
 * outputs of the activations: Num.tolerance, the final rounding.
 */
class CudaGemvTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    // M, K, N
    static final int[][] SHAPES = {{1, 1, 1}, {3, 31, 33}, {8, 64, 17}, {1, 127, 3}, {5, 256, 40}, {2, 33, 129}, {8, 769, 9}};

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values())
            for (Epilogue e : Epilogue.values())
                for (int[] s : SHAPES) b.add(Arguments.of(dt, e, s[0], s[1], s[2]));
        return b.build();
    }

    @ParameterizedTest(name = "{0} {1} M={2} K={3} N={4}")
    @MethodSource("cases")
    void matchesTheCpuComposition(DType dt, Epilogue e, int M, int K, int N) {
        long seed = 7919L * K + 31L * N + M + 101L * e.ordinal();
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Num.round(dt, Dev.random(rnd, M * K, -1, 1));
        float[] wKn = Num.round(dt, Dev.random(rnd, K * N, -1, 1));   // (K, N), the CPU's layout
        float[] bias = Num.round(dt, Dev.random(rnd, N, -0.5, 0.5));
        float[] resid = Dev.random(rnd, M * N, -2, 2);
        float[] wNk = new float[N * K];                                 // (N, K), the GEMV's layout
        for (int i = 0; i < K; i++) for (int j = 0; j < N; j++) wNk[j * K + i] = wKn[i * N + j];

        float[] ref = new float[M * N];
        Matmul.matmul(null, ref, 0, x, 0, wKn, bias, M, K, N);
        switch (e) {
            case BIAS -> { }
            case BIAS_RESIDUAL -> {
                float[] r = resid.clone();
                Residual.add(r, 0, ref, 0, M * N);
                ref = r;
            }
            default -> {
                Activations.apply(activation(e), ref, 0, M * N);
                ref = Num.round(dt, ref);
            }
        }
        var dx = dev.floats("x", x, dt);
        var dw = dev.floats("w", wNk, dt);
        var db = dev.floats("bias", bias, dt);
        var out = e == Epilogue.BIAS_RESIDUAL ? dev.floats("resid", resid, DType.F32) : dev.poisoned("out", M * N, e.outBytes(dt));
        CudaGemv.gemv(dev.kernels, dev.stream, dt, e, dx.view, dw.view, db.view, out.view, M, K, N);
        dev.checkGuards(e.kernel(dt));
        float[] got = out.floats(e.outBytes(dt) == 4 ? DType.F32 : dt);
        double tol = e.outBytes(dt) == 4 || dt == DType.F32 ? 1e-5 : Num.tolerance(dt);
        double floor = Math.max(1.0, Math.sqrt(K));
        Num.assertClose(e.kernel(dt) + " M=" + M + " K=" + K + " N=" + N + " seed=" + seed + " [" + Dev.where() + "]",
                ref, got, tol, floor);
    }

    static Stream<Arguments> layerNormCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values())
            for (Epilogue e : new Epilogue[] {Epilogue.BIAS, Epilogue.BIAS_GELU_TANH, Epilogue.BIAS_RELU})
                for (int[] s : new int[][] {{1, 1, 1}, {3, 31, 33}, {8, 64, 17}, {2, 769, 9}, {8, 256, 40}})
                    b.add(Arguments.of(dt, e, s[0], s[1], s[2]));
        return b.build();
    }

    /** gemv_ln_*: LayerNorm (rounded to the dtype, as layernorm_T stores it), matmul, epilogue, composed on the CPU. */
    @ParameterizedTest(name = "{0} ln+{1} M={2} K={3} N={4}")
    @MethodSource("layerNormCases")
    void layerNormPrologueMatchesTheCpuComposition(DType dt, Epilogue e, int M, int K, int N) {
        long seed = 6007L * K + 17L * N + M + 3L * e.ordinal();
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Dev.random(rnd, M * K, -3, 5);   // an offset mean, as a residual stream has
        float[] gamma = Num.round(dt, Dev.random(rnd, K, 0.5, 1.5));
        float[] beta = Num.round(dt, Dev.random(rnd, K, -0.2, 0.2));
        float[] wKn = Num.round(dt, Dev.random(rnd, K * N, -1, 1));
        float[] bias = Num.round(dt, Dev.random(rnd, N, -0.5, 0.5));
        float[] wNk = new float[N * K];
        for (int i = 0; i < K; i++) for (int j = 0; j < N; j++) wNk[j * K + i] = wKn[i * N + j];
        float[] ln = new float[M * K];
        LayerNorm.layerNorm(ln, 0, x, 0, gamma, beta, M, K, 1e-5f);
        ln = Num.round(dt, ln);
        float[] ref = new float[M * N];
        Matmul.matmul(null, ref, 0, ln, 0, wKn, bias, M, K, N);
        if (e != Epilogue.BIAS) {
            Activations.apply(activation(e), ref, 0, M * N);
            ref = Num.round(dt, ref);
        }
        var dx = dev.floats("x", x, DType.F32);
        var dg = dev.floats("gamma", gamma, dt);
        var dbeta = dev.floats("beta", beta, dt);
        var dw = dev.floats("w", wNk, dt);
        var db = dev.floats("bias", bias, dt);
        var out = dev.poisoned("out", M * N, e.outBytes(dt));
        CudaGemv.gemvLayerNorm(dev.kernels, dev.stream, dt, e, dx.view, dg.view, dbeta.view, 1e-5f, dw.view, db.view, out.view, M, K, N);
        dev.checkGuards("gemv_ln " + e);
        float[] got = out.floats(e.outBytes(dt) == 4 ? DType.F32 : dt);
        // A dtype-rounded LayerNorm output may round the other way on the device (fp32 sums in
        // another order): one ulp of the dtype in an input, times |w| <= 1, over K terms.
        double tol = dt == DType.F32 ? 1e-5 : e.outBytes(dt) == 4 ? Num.tolerance(dt) : 2 * Num.tolerance(dt);
        Num.assertClose("gemv_ln " + e.kernel(dt) + " M=" + M + " K=" + K + " N=" + N + " seed=" + seed + " [" + Dev.where() + "]",
                ref, got, tol, Math.max(1.0, Math.sqrt(K)));
    }

    static Activation activation(Epilogue e) {
        return switch (e) {
            case BIAS_GELU_TANH -> Activation.GELU_NEW;
            case BIAS_GELU_ERF -> Activation.GELU;
            case BIAS_RELU -> Activation.RELU;
            default -> throw new IllegalArgumentException(e.name());
        };
    }

    /** Row b of a batch of 8 has the same bits as the same row alone or in a batch of 3. */
    @Test
    void batchInvariant() {
        for (DType dt : DType.values()) {
            int K = 200, N = 70;
            SplittableRandom rnd = new SplittableRandom(99);
            float[] x = Num.round(dt, Dev.random(rnd, 8 * K, -1, 1));
            float[] w = Num.round(dt, Dev.random(rnd, N * K, -1, 1));
            float[] bias = Num.round(dt, Dev.random(rnd, N, -0.5, 0.5));
            float[] eight = run(dt, x, w, bias, 8, K, N);
            float[] three = run(dt, Arrays.copyOf(x, 3 * K), w, bias, 3, K, N);
            Num.assertSame(dt + " rows 0-2 in batches of 8 and 3", Arrays.copyOf(eight, 3 * N), three);
            for (int b : new int[] {0, 2, 7}) {
                float[] one = run(dt, Arrays.copyOfRange(x, b * K, (b + 1) * K), w, bias, 1, K, N);
                Num.assertSame(dt + " row " + b + " alone and in a batch of 8", Arrays.copyOfRange(eight, b * N, (b + 1) * N), one);
            }
        }
    }

    private static float[] run(DType dt, float[] x, float[] w, float[] bias, int M, int K, int N) {
        var dx = dev.floats("x", x, dt);
        var dw = dev.floats("w", w, dt);
        var db = dev.floats("bias", bias, dt);
        var out = dev.poisoned("out", M * N, 4);
        CudaGemv.gemv(dev.kernels, dev.stream, dt, Epilogue.BIAS, dx.view, dw.view, db.view, out.view, M, K, N);
        return out.floats(DType.F32);
    }

    @Test
    void refusesMoreThanEightRows() {
        var buf = dev.poisoned("any", 4096, 4);
        assertThrows(IllegalArgumentException.class, () -> CudaGemv.gemv(dev.kernels, dev.stream, DType.F32, Epilogue.BIAS,
                buf.view, buf.view, null, buf.view, 9, 4, 4));
    }
}
