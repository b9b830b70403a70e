package dev.kvdecode.kernels.cuda;

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
 * rmsnorm_T and residual_rmsnorm_T against RmsNorm.rmsNorm (and an fp32 residual add). Tolerance:
 * Num.tolerance(dt) with floor 1 (outputs are O(1)); the block sums the squares in another order
 * than the CPU's loop, the rest (eps in fp32, the reciprocal root in double, x*r then *w) is the
 * CPU's order.
 */
class CudaRmsNormTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    static final int[][] SHAPES = {{1, 1}, {3, 3}, {1, 31}, {2, 33}, {1, 127}, {3, 769}, {2, 1024}};

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values()) for (int[] s : SHAPES) b.add(Arguments.of(dt, s[0], s[1]));
        return b.build();
    }

    @ParameterizedTest(name = "{0} N={1} C={2}")
    @MethodSource("cases")
    void rmsNormMatchesCpu(DType dt, int N, int C) {
        long seed = 977L * C + N;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Dev.random(rnd, N * C, -3, 3);
        float[] w = Num.round(dt, Dev.random(rnd, C, 0.5, 1.5));
        float eps = 1e-6f;
        float[] ref = new float[N * C];
        RmsNorm.rmsNorm(ref, 0, x, 0, w, N, C, eps);

        var dx = dev.floats("x", x, DType.F32);
        var dw = dev.floats("w", w, dt);
        var out = dev.poisoned("out", N * C, dt.sizeBytes());
        CudaRmsNorm.rmsNorm(dev.kernels, dev.stream, dt, dx.view, dw.view, out.view, N, C, eps);
        dev.checkGuards(dt.kernel("rmsnorm"));
        Num.assertClose(dt.kernel("rmsnorm") + " N=" + N + " C=" + C + " seed=" + seed, ref, out.floats(dt), Num.tolerance(dt), 1.0);
        Num.assertSame("rmsnorm leaves x alone", x, dx.floats(DType.F32));
    }

    @ParameterizedTest(name = "{0} N={1} C={2}")
    @MethodSource("cases")
    void residualRmsNormMatchesCpu(DType dt, int N, int C) {
        long seed = 131L * C + N;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] resid = Dev.random(rnd, N * C, -2, 2);
        float[] y = Dev.random(rnd, N * C, -2, 2);
        float[] ybias = Num.round(dt, Dev.random(rnd, C, -0.5, 0.5));
        float[] w = Num.round(dt, Dev.random(rnd, C, 0.5, 1.5));
        float eps = 1e-5f;
        float[] sum = new float[N * C];
        for (int i = 0; i < N * C; i++) sum[i] = resid[i] + (y[i] + ybias[i % C]);
        float[] ref = new float[N * C];
        RmsNorm.rmsNorm(ref, 0, sum, 0, w, N, C, eps);

        for (boolean withBias : new boolean[] {true, false}) {
            float[] want = ref, wantSum = sum;
            if (!withBias) {
                wantSum = new float[N * C];
                for (int i = 0; i < N * C; i++) wantSum[i] = resid[i] + y[i];
                want = new float[N * C];
                RmsNorm.rmsNorm(want, 0, wantSum, 0, w, N, C, eps);
            }
            var dr = dev.floats("resid", resid, DType.F32);
            var dy = dev.floats("y", y, DType.F32);
            var db = withBias ? dev.floats("ybias", ybias, dt) : null;
            var dw = dev.floats("w", w, dt);
            var out = dev.poisoned("out", N * C, dt.sizeBytes());
            CudaRmsNorm.residualRmsNorm(dev.kernels, dev.stream, dt, dr.view, dy.view, db == null ? null : db.view, dw.view,
                    out.view, N, C, eps);
            String k = dt.kernel("residual_rmsnorm") + (withBias ? "" : " (null bias)");
            dev.checkGuards(k);
            Num.assertSame(k + ": resid += y + ybias", wantSum, dr.floats(DType.F32));
            Num.assertClose(k + " N=" + N + " C=" + C + " seed=" + seed, want, out.floats(dt), Num.tolerance(dt), 1.0);
        }
    }
}
