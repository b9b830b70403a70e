package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.LayerNorm;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

/** layernorm_T and residual_layernorm_T against LayerNorm.layerNorm (the CPU spec). */
class CudaLayerNormTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    static Stream<Arguments> shapes() {
        Stream.Builder<Arguments> b = Stream.builder();
        int[][] nc = {{1, 1}, {3, 3}, {2, 31}, {1, 33}, {3, 127}, {2, 769}, {4, 256}, {9, 33}};  // 9 rows: a partial last block of 4
        for (DType dt : DType.values()) for (int[] s : nc) b.add(Arguments.of(dt, s[0], s[1]));
        return b.build();
    }

    @ParameterizedTest(name = "{0} N={1} C={2}")
    @MethodSource("shapes")
    void layerNormMatchesCpu(DType dt, int N, int C) {
        // an offset mean (+3) exercises the two-pass variance; tiny zero-mean rows (variance ~3e-7,
        // below eps = 1e-5) make the output depend on where eps enters (inside the square root)
        for (boolean tiny : new boolean[] {false, true}) {
            long seed = 1000L * N + C + (tiny ? 1 : 0);
            SplittableRandom rnd = new SplittableRandom(seed);
            float[] x = tiny ? Dev.random(rnd, N * C, -1e-3, 1e-3) : Dev.random(rnd, N * C, 2, 4);
            float[] gamma = Num.round(dt, Dev.random(rnd, C, 0.5, 1.5));
            float[] beta = Num.round(dt, Dev.random(rnd, C, -0.5, 0.5));
            float eps = 1e-5f;
            float[] ref = new float[N * C];
            LayerNorm.layerNorm(ref, 0, x, 0, gamma, beta, N, C, eps);

            var dx = dev.floats("x", x, DType.F32);
            var dg = dev.floats("gamma", gamma, dt);
            var db = dev.floats("beta", beta, dt);
            var out = dev.poisoned("out", N * C, dt.sizeBytes());
            CudaLayerNorm.layerNorm(dev.kernels, dev.stream, dt, dx.view, dg.view, db.view, out.view, N, C, eps);
            dev.checkGuards(dt.kernel("layernorm"));
            // floor 1: outputs are O(1) (normalized, gamma ~ 1); near-zero outputs get an absolute bound
            Num.assertClose(dt.kernel("layernorm") + " N=" + N + " C=" + C + (tiny ? " tiny variance" : "") + " seed=" + seed,
                    ref, out.floats(dt), Num.tolerance(dt), 1.0);
            Num.assertSame("layernorm must not write x", x, dx.floats(DType.F32));
            dev.freeBuffers();
        }
    }

    @ParameterizedTest(name = "{0} N={1} C={2}")
    @MethodSource("shapes")
    void residualLayerNormMatchesCpu(DType dt, int N, int C) {
        long seed = 2000L * N + C;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] resid = Dev.random(rnd, N * C, -2, 2);
        float[] y = Dev.random(rnd, N * C, -1, 1);
        float[] ybias = Num.round(dt, Dev.random(rnd, C, -0.5, 0.5));
        float[] gamma = Num.round(dt, Dev.random(rnd, C, 0.5, 1.5));
        float[] beta = Num.round(dt, Dev.random(rnd, C, -0.5, 0.5));
        float eps = 1e-5f;
        // resid + (projection output + its bias), the order the CPU forward uses
        float[] refResid = resid.clone();
        for (int i = 0; i < N * C; i++) refResid[i] = resid[i] + (y[i] + ybias[i % C]);
        float[] ref = new float[N * C];
        LayerNorm.layerNorm(ref, 0, refResid, 0, gamma, beta, N, C, eps);

        var dr = dev.floats("resid", resid, DType.F32);
        var dy = dev.floats("y", y, DType.F32);
        var dyb = dev.floats("ybias", ybias, dt);
        var dg = dev.floats("gamma", gamma, dt);
        var db = dev.floats("beta", beta, dt);
        var out = dev.poisoned("out", N * C, dt.sizeBytes());
        CudaLayerNorm.residualLayerNorm(dev.kernels, dev.stream, dt, dr.view, dy.view, dyb.view, dg.view, db.view, out.view, N, C, eps);
        String k = dt.kernel("residual_layernorm");
        dev.checkGuards(k);
        // the residual sum is one fp32 add per element in the same order: bit-exact
        Num.assertSame(k + " resid seed=" + seed, refResid, dr.floats(DType.F32));
        Num.assertClose(k + " out N=" + N + " C=" + C + " seed=" + seed, ref, out.floats(dt), Num.tolerance(dt), 1.0);
    }
}
