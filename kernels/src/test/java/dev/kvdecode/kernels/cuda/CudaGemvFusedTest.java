package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.LayerNorm;
import dev.kvdecode.kernels.Matmul;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The GEMVs with a following op fused in (issue 17), against the COMPOSITION of the CPU ops they
 * replace:
 * <ul>
 *   <li>gemv(_ln)_qkv_append_*: (LayerNorm then) Matmul.matmul with the qkv bias, then the split into
 *   q and the cache slot the overflow policy gives each row's seen (SHIFT_FLAT's once-per-window
 *   move, RING's wrap, STOP's full window), GQA-shaped, odd and even head sizes;</li>
 *   <li>gemv(_ln)_bias_argmax_* + sample_argmax_partials: the logits (Matmul) and the token of the
 *   CPU's argmax (first maximum) over the device's own logits, with planted exact ties inside one
 *   block, across blocks and at the last column.</li>
 * </ul>
 * Outputs NaN-poisoned, guard bands checked, seeds 1-3 (kernels/pom.xml). Cache entries the step
 * must not touch are compared bit for bit.
 */
class CudaGemvFusedTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    // M, K, NH, NKV, HS, cap
    static final int[][] QKV_SHAPES = {{1, 31, 3, 3, 15, 4}, {3, 64, 4, 2, 8, 3}, {8, 769, 2, 1, 6, 2}, {5, 40, 3, 1, 17, 5},
            {2, 33, 1, 1, 1, 1}};

    static Stream<Arguments> qkvCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values())
            for (boolean ln : new boolean[] {true, false})
                for (int policy : new int[] {CudaKvCache.SHIFT_FLAT, CudaKvCache.RING, CudaKvCache.STOP})
                    for (int[] s : QKV_SHAPES) b.add(Arguments.of(dt, ln, policy, s[0], s[1], s[2], s[3], s[4], s[5]));
        return b.build();
    }

    /** seen per row: empty, filling, exactly full, the flat move's tokens (2cap, 3cap+1), wraps. */
    static int[] seenFor(int M, int cap) {
        int[] pick = {0, 2 * cap, cap - 1, cap, 2 * cap - 1, 3 * cap + 1, 2 * cap + 1, 7 * cap + 3};
        int[] seen = new int[M];
        for (int m = 0; m < M; m++) seen[m] = pick[m % pick.length];
        return seen;
    }

    @ParameterizedTest(name = "{0} ln={1} policy={2} M={3} K={4} NH={5} NKV={6} HS={7} cap={8}")
    @MethodSource("qkvCases")
    void qkvAppendMatchesTheCpuComposition(DType dt, boolean ln, int policy, int M, int K, int NH, int NKV, int HS, int cap) {
        long seed = 4099L * K + 37L * HS + 7L * M + policy + (ln ? 1000 : 0);
        SplittableRandom rnd = new SplittableRandom(seed);
        int N = (NH + 2 * NKV) * HS, slots = CudaKvCache.rowSlots(cap, policy);
        float[] x = ln ? Dev.random(rnd, M * K, -3, 5) : Num.round(dt, Dev.random(rnd, M * K, -1, 1));
        float[] gamma = Num.round(dt, Dev.random(rnd, K, 0.5, 1.5));
        float[] beta = Num.round(dt, Dev.random(rnd, K, -0.2, 0.2));
        float[] wKn = Num.round(dt, Dev.random(rnd, K * N, -1, 1));
        float[] bias = Num.round(dt, Dev.random(rnd, N, -0.5, 0.5));
        float[] wNk = new float[N * K];
        for (int i = 0; i < K; i++) for (int j = 0; j < N; j++) wNk[j * K + i] = wKn[i * N + j];
        int cacheLen = M * NKV * slots * HS;
        float[] kc0 = Num.round(dt, Dev.random(rnd, cacheLen, -2, 2));   // earlier tokens' entries
        float[] vc0 = Num.round(dt, Dev.random(rnd, cacheLen, -2, 2));
        int[] seen = seenFor(M, cap);

        // CPU: (LayerNorm, rounded as layernorm_T stores it) -> Matmul with bias -> split.
        float[] in = x;
        if (ln) {
            in = new float[M * K];
            LayerNorm.layerNorm(in, 0, x, 0, gamma, beta, M, K, 1e-5f);
            in = Num.round(dt, in);
        }
        float[] qkv = new float[M * N];
        Matmul.matmul(null, qkv, 0, in, 0, wKn, bias, M, K, N);
        float[] qRef = new float[M * NH * HS];
        float[] kRef = kc0.clone(), vRef = vc0.clone();
        boolean[] written = new boolean[cacheLen];
        for (int m = 0; m < M; m++) {
            System.arraycopy(qkv, m * N, qRef, m * NH * HS, NH * HS);
            int n = seen[m];
            int slot = slot(n, cap, policy);
            for (int g = 0; g < NKV; g++) {
                int row = (m * NKV + g) * slots * HS;
                if (policy == CudaKvCache.SHIFT_FLAT && n >= 2 * cap && slot == cap - 1) {
                    System.arraycopy(kRef, row + (cap + 1) * HS, kRef, row, (cap - 1) * HS);
                    System.arraycopy(vRef, row + (cap + 1) * HS, vRef, row, (cap - 1) * HS);
                    for (int e = 0; e < (cap - 1) * HS; e++) written[row + e] = true;
                }
                if (slot < 0) continue;
                for (int d = 0; d < HS; d++) {
                    kRef[row + slot * HS + d] = Num.round(dt, qkv[m * N + (NH + g) * HS + d]);
                    vRef[row + slot * HS + d] = Num.round(dt, qkv[m * N + (NH + NKV + g) * HS + d]);
                    written[row + slot * HS + d] = true;
                }
            }
        }

        var dx = ln ? dev.floats("x", x, DType.F32) : dev.floats("x", x, dt);
        var dg = dev.floats("gamma", gamma, dt);
        var dbeta = dev.floats("beta", beta, dt);
        var dw = dev.floats("w", wNk, dt);
        var db = dev.floats("bias", bias, dt);
        var q = dev.poisoned("q", M * NH * HS, 4);
        var kc = dev.floats("kc", kc0, dt);
        var vc = dev.floats("vc", vc0, dt);
        var ds = dev.ints("seen", seen);
        CudaGemv.qkvAppend(dev.kernels, dev.stream, dt, dx.view, ln ? dg.view : null, ln ? dbeta.view : null, 1e-5f, dw.view,
                db.view, q.view, kc.view, vc.view, ds.view, M, K, NH, NKV, HS, cap, policy);
        String what = dt.kernel(ln ? "gemv_ln_qkv_append" : "gemv_qkv_append") + " policy=" + policy + " M=" + M + " K=" + K
                + " NH=" + NH + " NKV=" + NKV + " HS=" + HS + " cap=" + cap + " seed=" + seed + " [" + Dev.where() + "]";
        dev.checkGuards(what);
        // As CudaGemvTest: fp32 sums in another order; a dtype-rounded LayerNorm input may round the other way.
        double tolQ = dt == DType.F32 ? 1e-5 : ln ? Num.tolerance(dt) : 1e-5;
        double tolKv = dt == DType.F32 ? 1e-5 : (ln ? 2 : 1) * Num.tolerance(dt);
        double floor = Math.max(1.0, Math.sqrt(K));
        Num.assertClose(what + " q", qRef, q.floats(DType.F32), tolQ, floor);
        float[] kGot = kc.floats(dt), vGot = vc.floats(dt);
        Num.assertClose(what + " K", kRef, kGot, tolKv, floor);
        Num.assertClose(what + " V", vRef, vGot, tolKv, floor);
        for (int e = 0; e < cacheLen; e++)
            if (!written[e] && (Float.floatToIntBits(kGot[e]) != Float.floatToIntBits(kc0[e])
                    || Float.floatToIntBits(vGot[e]) != Float.floatToIntBits(vc0[e])))
                fail(what + ": cache element " + e + " changed, but this step writes only its slot (and the flat move)");
    }

    /** The slot rule of kv_append (CudaKvCache's javadoc), written out independently of the kernel. */
    static int slot(int n, int cap, int policy) {
        if (policy == CudaKvCache.SHIFT_FLAT) return CudaKvCache.flatSlot(n, cap);
        if (n < cap) return n;
        return policy == CudaKvCache.RING ? n % cap : -1;
    }

    @Test
    void qkvAppendRefusesTheInPlaceShiftAndUnevenGroups() {
        var buf = dev.poisoned("any", 4096, 4);
        assertThrows(IllegalArgumentException.class, () -> CudaGemv.qkvAppend(dev.kernels, dev.stream, DType.F32, buf.view, null, null,
                1e-5f, buf.view, null, buf.view, buf.view, buf.view, buf.view, 1, 4, 2, 2, 2, 2, CudaKvCache.SHIFT));
        assertThrows(IllegalArgumentException.class, () -> CudaGemv.qkvAppend(dev.kernels, dev.stream, DType.F32, buf.view, null, null,
                1e-5f, buf.view, null, buf.view, buf.view, buf.view, buf.view, 1, 4, 3, 2, 2, 2, CudaKvCache.RING));
    }

    // M, K, N
    static final int[][] ARGMAX_SHAPES = {{1, 1, 1}, {3, 31, 9}, {8, 64, 97}, {2, 769, 33}, {5, 40, 1000}};

    static Stream<Arguments> argmaxCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : DType.values())
            for (boolean ln : new boolean[] {true, false})
                for (int[] s : ARGMAX_SHAPES) b.add(Arguments.of(dt, ln, s[0], s[1], s[2]));
        return b.build();
    }

    @ParameterizedTest(name = "{0} ln={1} M={2} K={3} N={4}")
    @MethodSource("argmaxCases")
    void argmaxMatchesTheCpuArgmaxOfTheLogits(DType dt, boolean ln, int M, int K, int N) {
        long seed = 3001L * K + 13L * N + M + (ln ? 500 : 0);
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = ln ? Dev.random(rnd, M * K, -3, 5) : Num.round(dt, Dev.random(rnd, M * K, -1, 1));
        float[] gamma = Num.round(dt, Dev.random(rnd, K, 0.5, 1.5));
        float[] beta = Num.round(dt, Dev.random(rnd, K, -0.2, 0.2));
        float[] wNk = Num.round(dt, Dev.random(rnd, N * K, -1, 1));
        float[] bias = Num.round(dt, Dev.random(rnd, N, -0.5, 0.5));
        // Planted exact ties: identical weight rows and biases give identical logits bit for bit,
        // and a large bias makes them the maximum (of rows where x agrees in sign, i.e. usually;
        // the test checks against the logits the device produced either way).
        int[][] ties = {{2, N - 1}, {0, N / 2}, {N / 3, N / 3 + 1}};  // the last one is every row's winner
        for (int[] t : ties) {
            if (t[0] == t[1] || t[0] >= N || t[1] >= N) continue;
            System.arraycopy(wNk, t[0] * K, wNk, t[1] * K, K);
            bias[t[1]] = bias[t[0]];
        }
        if (N > 2) { bias[N / 3] = 200f; bias[N / 3 + 1] = 200f; }  // larger than any |x . w| here: a tie in every row
        int P = CudaGemv.argmaxPartials(N), ringCap = 5;
        int[] seen = new int[M];
        for (int m = 0; m < M; m++) seen[m] = 3 * m + 1;

        float[] in = x;
        if (ln) {
            in = new float[M * K];
            LayerNorm.layerNorm(in, 0, x, 0, gamma, beta, M, K, 1e-5f);
            in = Num.round(dt, in);
        }
        float[] wKn = new float[K * N];
        for (int i = 0; i < K; i++) for (int j = 0; j < N; j++) wKn[i * N + j] = wNk[j * K + i];
        float[] ref = new float[M * N];
        Matmul.matmul(null, ref, 0, in, 0, wKn, bias, M, K, N);

        var dx = ln ? dev.floats("x", x, DType.F32) : dev.floats("x", x, dt);
        var dg = dev.floats("gamma", gamma, dt);
        var dbeta = dev.floats("beta", beta, dt);
        var dw = dev.floats("w", wNk, dt);
        var db = dev.floats("bias", bias, dt);
        var out = dev.poisoned("logits", M * N, 4);
        var pmax = dev.poisoned("pmax", M * P, 4);
        var pidx = dev.poisoned("pidx", M * P, 4);
        var tokens = dev.poisoned("tokens", M, 4);
        var ring = dev.ints("ring", new int[M * ringCap]);
        var ds = dev.ints("seen", seen);
        CudaGemv.biasArgmax(dev.kernels, dev.stream, dt, dx.view, ln ? dg.view : null, ln ? dbeta.view : null, 1e-5f, dw.view,
                db.view, out.view, pmax.view, pidx.view, M, K, N);
        CudaSampling.argmaxPartials(dev.kernels, dev.stream, pmax.view, pidx.view, tokens.view, ring.view, ds.view, M, P, N, ringCap);
        String what = dt.kernel(ln ? "gemv_ln_bias_argmax" : "gemv_bias_argmax") + " + sample_argmax_partials M=" + M + " K=" + K
                + " N=" + N + " seed=" + seed + " [" + Dev.where() + "]";
        dev.checkGuards(what);
        float[] logits = out.floats(DType.F32);
        Num.assertClose(what + " logits", ref, logits, dt == DType.F32 ? 1e-5 : ln ? Num.tolerance(dt) : 1e-5, Math.max(1.0, Math.sqrt(K)));
        int[] tok = tokens.ints(), rg = ring.ints();
        for (int m = 0; m < M; m++) {
            int want = firstMax(logits, m * N, N);
            assertEquals(want, tok[m], what + ": row " + m + " token (CPU argmax, first maximum, of the device's logits)");
            assertEquals(want, rg[m * ringCap + seen[m] % ringCap], what + ": row " + m + " ring slot");
            if (N > 2) assertEquals(N / 3, tok[m], what + ": row " + m + " planted tie at " + N / 3 + ", " + (N / 3 + 1));
        }
    }

    /** The CPU's greedy rule (runtime Sampler.argmax): the first index of the maximum. */
    static int firstMax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }
}
