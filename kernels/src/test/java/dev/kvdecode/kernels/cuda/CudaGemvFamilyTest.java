package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.Activation;
import dev.kvdecode.kernels.Activations;
import dev.kvdecode.kernels.RmsNorm;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * The Llama family's GEMVs (issue 18): gemv_rms_bias_T (RMSNorm prologue), gemv_swiglu_T and
 * gemv_rms_swiglu_T (SwiGLU epilogue) against the composition of the CPU ops they replace:
 * RmsNorm.rmsNorm rounded to the dtype, the matmul x W^T + b (summed in double from the
 * dtype-rounded inputs), Activations.gated(SILU) rounded to the dtype. Also that each fused launch
 * gives the bits of the unfused kernels the session would otherwise run (rmsnorm_T + gemv_bias_T;
 * gemv_bias_T + swiglu_T). Outputs NaN-poisoned, guards checked, seeds 1-3. Tolerance as
 * CudaGemvTest's gemv_ln: fp32 1e-5, f16/bf16 2 x Num.tolerance (a normed input may round the
 * other way), relative with a floor of sqrt(K).
 */
class CudaGemvFamilyTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    // M, K, N (I for the SwiGLU forms)
    static final int[][] SHAPES = {{1, 1, 1}, {3, 31, 33}, {8, 64, 17}, {1, 127, 3}, {5, 256, 40}, {2, 769, 9}};

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values()) for (int[] s : SHAPES) b.add(Arguments.of(dt, s[0], s[1], s[2]));
        return b.build();
    }

    static double tol(DType dt) { return dt == DType.F32 ? 1e-5 : 2 * Num.tolerance(dt); }

    /** (M, N) = x (M, K) . w (N, K)^T + bias, in double from the given floats. */
    static float[] matmul(float[] x, float[] w, float[] bias, int M, int K, int N) {
        float[] y = new float[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double acc = 0;
                for (int i = 0; i < K; i++) acc += (double) x[m * K + i] * w[n * K + i];
                y[m * N + n] = (float) (acc + (bias == null ? 0 : bias[n]));
            }
        return y;
    }

    @ParameterizedTest(name = "{0} M={1} K={2} N={3}")
    @MethodSource("cases")
    void rmsPrologueMatchesTheCpuComposition(DType dt, int M, int K, int N) {
        long seed = 6007L * K + 13L * N + M;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Dev.random(rnd, M * K, -2, 2);
        float[] wn = Num.round(dt, Dev.random(rnd, K, 0.5, 1.5));
        float[] w = Num.round(dt, Dev.random(rnd, N * K, -1, 1));
        float[] bias = Num.round(dt, Dev.random(rnd, N, -0.5, 0.5));
        float[] xn = new float[M * K];
        RmsNorm.rmsNorm(xn, 0, x, 0, wn, M, K, 1e-5f);
        float[] ref = matmul(Num.round(dt, xn), w, bias, M, K, N);

        var dx = dev.floats("x", x, DType.F32);
        var dwn = dev.floats("wNorm", wn, dt);
        var dw = dev.floats("w", w, dt);
        var db = dev.floats("bias", bias, dt);
        var out = dev.poisoned("out", M * N, 4);
        CudaGemv.gemvRmsNorm(dev.kernels, dev.stream, dt, dx.view, dwn.view, 1e-5f, dw.view, db.view, out.view, M, K, N);
        String what = dt.kernel("gemv_rms_bias") + " M=" + M + " K=" + K + " N=" + N + " seed=" + seed;
        dev.checkGuards(what);
        float[] got = out.floats(DType.F32);
        Num.assertClose(what, ref, got, tol(dt), Math.max(1.0, Math.sqrt(K)));

        // the same bits as rmsnorm_T then gemv_bias_T
        var ln = dev.poisoned("ln", M * K, dt.sizeBytes());
        var out2 = dev.poisoned("out2", M * N, 4);
        CudaRmsNorm.rmsNorm(dev.kernels, dev.stream, dt, dx.view, dwn.view, ln.view, M, K, 1e-5f);
        CudaGemv.gemv(dev.kernels, dev.stream, dt, CudaGemv.Epilogue.BIAS, ln.view, dw.view, db.view, out2.view, M, K, N);
        dev.checkGuards("rmsnorm + gemv_bias");
        Num.assertSame(what + " vs rmsnorm + gemv_bias", out2.floats(DType.F32), got);
    }

    @ParameterizedTest(name = "{0} M={1} K={2} I={3}")
    @MethodSource("cases")
    void swigluEpilogueMatchesTheCpuComposition(DType dt, int M, int K, int I) {
        long seed = 7013L * K + 17L * I + M;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Dev.random(rnd, M * K, -2, 2);
        float[] wn = Num.round(dt, Dev.random(rnd, K, 0.5, 1.5));
        float[] w = Num.round(dt, Dev.random(rnd, 2 * I * K, -1, 1));   // rows [gate (I) | up (I)]
        float[] bias = Num.round(dt, Dev.random(rnd, 2 * I, -0.5, 0.5));
        float[] xn = new float[M * K];
        RmsNorm.rmsNorm(xn, 0, x, 0, wn, M, K, 1e-5f);
        float[] xr = Num.round(dt, xn);
        float[] gu = matmul(xr, w, bias, M, K, 2 * I);
        Activations.gated(Activation.SILU, gu, M, I);
        float[] ref = Num.round(dt, java.util.Arrays.copyOf(gu, M * I));

        var dx = dev.floats("x", x, DType.F32);
        var dxr = dev.floats("xr", xr, dt);
        var dwn = dev.floats("wNorm", wn, dt);
        var dw = dev.floats("w", w, dt);
        var db = dev.floats("bias", bias, dt);
        var fused = dev.poisoned("fused", M * I, dt.sizeBytes());
        var plain = dev.poisoned("plain", M * I, dt.sizeBytes());
        CudaGemv.gemvSwiGlu(dev.kernels, dev.stream, dt, dx.view, dwn.view, 1e-5f, dw.view, db.view, fused.view, M, K, I);
        dev.checkGuards(dt.kernel("gemv_rms_swiglu"));
        CudaGemv.gemvSwiGlu(dev.kernels, dev.stream, dt, dxr.view, null, 0f, dw.view, db.view, plain.view, M, K, I);
        dev.checkGuards(dt.kernel("gemv_swiglu"));
        String what = "M=" + M + " K=" + K + " I=" + I + " seed=" + seed;
        Num.assertClose(dt.kernel("gemv_rms_swiglu") + " " + what, ref, fused.floats(dt), tol(dt), Math.max(1.0, Math.sqrt(K)));
        Num.assertClose(dt.kernel("gemv_swiglu") + " " + what, ref, plain.floats(dt), tol(dt), Math.max(1.0, Math.sqrt(K)));

        // gemv_swiglu gives the bits of gemv_bias into [gate | up] f32 then swiglu_T
        var f = dev.poisoned("gu", M * 2 * I, 4);
        var split = dev.poisoned("split", M * I, dt.sizeBytes());
        CudaGemv.gemv(dev.kernels, dev.stream, dt, CudaGemv.Epilogue.BIAS, dxr.view, dw.view, null, f.view, M, K, 2 * I);
        CudaSwiGlu.swiglu(dev.kernels, dev.stream, dt, f.view, db.view, split.view, M, I);
        dev.checkGuards("gemv_bias + swiglu");
        Num.assertSame(dt.kernel("gemv_swiglu") + " vs gemv_bias + swiglu " + what, split.floats(dt), plain.floats(dt));
    }
}
