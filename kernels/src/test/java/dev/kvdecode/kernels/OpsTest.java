package dev.kvdecode.kernels;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static dev.kvdecode.kernels.Check.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Every CPU op against a straightforward fp64 reference written from the math, on seeded random
 * inputs with awkward sizes, outputs pre-filled with NaN and guarded against stray writes.
 * Tolerances: an fp32 sum of n terms is off by at most n * 2^-24 * sum|terms| (Higham, Accuracy
 * and Stability, eq. 3.5, first order), which is what the dot-product ops are held to; elementwise
 * ops are held to a few ulps.
 */
class OpsTest {
    static final long SEED = 20261125L;
    static final double U = Math.ulp(1f) / 2; // 2^-24, fp32 unit roundoff
    static final int[] SIZES = {1, 3, 31, 33, 127, 769};
    static final CpuThreads POOL = new CpuThreads(3);

    @AfterAll
    static void closePool() { POOL.close(); }

    @Test
    void matmulMatchesFp64() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        int[] rows = {1, 3, 5, 33};
        for (int T : rows) for (int in : SIZES) for (int out : new int[] {1, 3, 33, 127, 769}) {
            if ((long) T * in * out > 3_000_000) continue;
            for (boolean bias : new boolean[] {true, false}) {
                float[] x = random(rnd, T * in, 1), w = random(rnd, in * out, 0.5);
                float[] b = bias ? random(rnd, out, 1) : null;
                float[] y = output(T * out);
                float[] xg = guarded(x);
                Matmul.matmul(POOL, y, GUARD, xg, GUARD, w, b, T, in, out);
                double[] want = new double[T * out], tol = new double[T * out];
                for (int t = 0; t < T; t++) for (int o = 0; o < out; o++) {
                    double s = bias ? b[o] : 0, abs = bias ? Math.abs(b[o]) : 0;
                    for (int i = 0; i < in; i++) {
                        double term = (double) x[t * in + i] * w[i * out + o];
                        s += term;
                        abs += Math.abs(term);
                    }
                    want[t * out + o] = s;
                    tol[t * out + o] = (in + 1) * U * abs + 1e-30;
                }
                String what = "matmul T=" + T + " in=" + in + " out=" + out + " bias=" + bias + " seed=" + SEED;
                close(y, GUARD, want, tol, what);
                guardsIntact(y, T * out, what);
            }
        }
    }

    @Test
    void matmulRowsGiveTheSameBitsAsOneRowAndAnyThreadCount() {
        SplittableRandom rnd = new SplittableRandom(SEED + 1);
        int T = 37, in = 300, out = 769;
        float[] x = random(rnd, T * in, 1), w = random(rnd, in * out, 0.3), b = random(rnd, out, 1);
        float[] all = new float[T * out];
        Matmul.matmul(POOL, all, 0, x, 0, w, b, T, in, out);
        float[] one = new float[out];
        for (int t = 0; t < T; t++) {
            Matmul.matmul(null, one, 0, x, t * in, w, b, 1, in, out);
            for (int o = 0; o < out; o++)
                assertEquals(Float.floatToIntBits(one[o]), Float.floatToIntBits(all[t * out + o]),
                        "row " + t + " col " + o + ": batch-1 path and blocked path differ");
        }
        float[] serial = new float[T * out];
        try (CpuThreads two = new CpuThreads(2)) {
            Matmul.matmul(two, serial, 0, x, 0, w, b, T, in, out);
        }
        assertArrayEquals(all, serial, 0f);
    }

    @Test
    void lmHeadMatchesFp64() {
        SplittableRandom rnd = new SplittableRandom(SEED + 2);
        for (int rows : new int[] {1, 3}) for (int C : new int[] {1, 7, 33, 769}) for (int V : new int[] {1, 65, 1031}) {
            for (boolean bias : new boolean[] {true, false}) {
                float[] x = random(rnd, rows * C, 1), head = random(rnd, V * C, 0.5);
                float[] b = bias ? random(rnd, V, 1) : null;
                float[] y = output(rows * V);
                Matmul.lmHead(POOL, y, GUARD, x, 0, head, b, rows, C, V);
                double[] want = new double[rows * V], tol = new double[rows * V];
                for (int r = 0; r < rows; r++) for (int v = 0; v < V; v++) {
                    double s = bias ? b[v] : 0, abs = bias ? Math.abs(b[v]) : 0;
                    for (int i = 0; i < C; i++) {
                        double term = (double) x[r * C + i] * head[v * C + i];
                        s += term;
                        abs += Math.abs(term);
                    }
                    want[r * V + v] = s;
                    tol[r * V + v] = (C + 1) * U * abs + 1e-30;
                }
                String what = "lmHead rows=" + rows + " C=" + C + " V=" + V + " seed=" + (SEED + 2);
                close(y, GUARD, want, tol, what);
                guardsIntact(y, rows * V, what);
            }
        }
    }

    @Test
    void layerNormMatchesFp64() {
        SplittableRandom rnd = new SplittableRandom(SEED + 3);
        for (int T : new int[] {1, 3, 33}) for (int C : SIZES) for (double offset : new double[] {0, 300}) {
            float[] x = random(rnd, T * C, 2);
            for (int i = 0; i < x.length; i++) x[i] += (float) offset;
            float[] g = random(rnd, C, 1.5), be = random(rnd, C, 0.5);
            float eps = 1e-5f;
            float[] y = output(T * C);
            LayerNorm.layerNorm(y, GUARD, guarded(x), GUARD, g, be, T, C, eps);
            double[] want = new double[T * C], tol = new double[T * C];
            for (int t = 0; t < T; t++) {
                double m = 0;
                for (int i = 0; i < C; i++) m += x[t * C + i];
                m /= C;
                double var = 0;
                for (int i = 0; i < C; i++) var += (x[t * C + i] - m) * (x[t * C + i] - m);
                var /= C;
                double rstd = 1 / Math.sqrt(var + eps);
                for (int i = 0; i < C; i++) {
                    double xhat = (x[t * C + i] - m) * rstd;
                    want[t * C + i] = xhat * g[i] + be[i];
                    // fp32 rounding of the mean (|mean| * U) scaled by rstd, plus a few ulps per operation
                    double meanErr = (Math.abs(m) + 1) * 4 * U * rstd;
                    tol[t * C + i] = (meanErr + 16 * U * (Math.abs(xhat) + 1)) * Math.abs(g[i]) + 4 * U * Math.abs(be[i]) + 1e-30;
                }
            }
            String what = "layerNorm T=" + T + " C=" + C + " offset=" + offset + " seed=" + (SEED + 3);
            close(y, GUARD, want, tol, what);
            guardsIntact(y, T * C, what);
        }
    }

    @Test
    void layerNormInPlace() {
        SplittableRandom rnd = new SplittableRandom(SEED + 4);
        int C = 33;
        float[] x = random(rnd, 2 * C, 1), g = random(rnd, C, 1), be = random(rnd, C, 1);
        float[] y = new float[2 * C];
        LayerNorm.layerNorm(y, 0, x, 0, g, be, 2, C, 1e-5f);
        LayerNorm.layerNorm(x, 0, x, 0, g, be, 2, C, 1e-5f);
        assertArrayEquals(y, x, 0f);
    }

    @Test
    void activationsMatchFp64() {
        SplittableRandom rnd = new SplittableRandom(SEED + 5);
        int[] sizes = Arrays.copyOf(SIZES, SIZES.length + 1);
        sizes[SIZES.length] = 3073;   // above Activations.MIN_PARALLEL_ELEMENTS: the pool splits it
        for (int n : sizes) for (Activation act : Activation.values()) {
            float[] x = random(rnd, n, 6);
            float[] y = guarded(x);
            Activations.apply(act, y, GUARD, n);
            double[] want = new double[n], tol = new double[n];
            for (int i = 0; i < n; i++) {
                double v = x[i];
                want[i] = switch (act) {
                    case GELU_NEW -> 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
                    case GELU -> v * normalCdf(v);
                    case RELU -> Math.max(0, v);
                    case SILU -> v / (1 + Math.exp(-v));
                };
                tol[i] = 2 * U * Math.abs(want[i]) + 1e-30; // rounded once from double
            }
            String what = "activation " + act + " n=" + n + " seed=" + (SEED + 5);
            close(y, GUARD, want, tol, what);
            guardsIntact(y, n, what);
            // split over the pool: the same bits
            float[] z = guarded(x);
            Activations.apply(POOL, act, z, GUARD, n);
            for (int i = 0; i < n; i++)
                assertEquals(Float.floatToRawIntBits(y[GUARD + i]), Float.floatToRawIntBits(z[GUARD + i]), what + " pool, i=" + i);
            guardsIntact(z, n, what + " pool");
        }
    }

    /** Phi(x) by Simpson integration of the normal density, independent of the erf under test. */
    static double normalCdf(double x) {
        if (x < -14) return 0;
        int n = 40000;
        double a = -14, h = (x - a) / n, s = 0; // Phi(-14) ~ 1e-44: negligible
        for (int i = 0; i <= n; i++) {
            double t = a + i * h, f = Math.exp(-t * t / 2);
            s += (i == 0 || i == n) ? f : (i % 2 == 1 ? 4 * f : 2 * f);
        }
        return s * h / 3 / Math.sqrt(2 * Math.PI);
    }

    @Test
    void erfKnownValues() {
        // Abramowitz & Stegun table 7.1 / high-precision values
        double[][] cases = {{0, 0}, {0.5, 0.5204998778130465}, {1, 0.8427007929497149}, {2, 0.9953222650189527},
                {3, 0.9999779095030014}, {4, 0.9999999845827421}, {-1.5, -0.9661051464753108}, {2.5, 0.9995930479825550}, {3.5, 0.9999992569016276}};
        for (double[] c : cases) assertEquals(c[1], Activations.erf(c[0]), 1e-13, "erf(" + c[0] + ")");
        // erfc in the tail, where 1 - erf would have cancelled: erfc(5) = 1.5374597944280349e-12
        assertEquals(1.5374597944280349e-12, Activations.erfc(5), 1e-24);
    }

    @Test
    void softmaxExpIsWithinAnUlpOfMathExp() {
        // every 2^-10 of the range softmax uses, plus random points
        SplittableRandom rnd = new SplittableRandom(SEED + 16);
        for (int i = 0; i <= 86 * 1024 + 1024; i++) {
            float x = i < 86 * 1024 + 512 ? -i / 1024f : (float) (rnd.nextDouble() * Softmax.EXP_LO);
            if (x < Softmax.EXP_LO) continue;
            double want = Math.exp(x);
            assertEquals(want, Softmax.exp(x), Math.ulp((float) want), "exp(" + x + ")");
        }
        assertEquals(1f, Softmax.exp(0f));
        assertEquals(0f, Softmax.exp(Math.nextDown(Softmax.EXP_LO)));   // below the cut-off: nothing next to the max's 1
        assertEquals(0f, Softmax.exp(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(Softmax.exp(Float.NaN)), "a NaN score stays NaN");
    }

    @Test
    void softmaxMatchesFp64() {
        SplittableRandom rnd = new SplittableRandom(SEED + 6);
        for (int n : SIZES) for (double offset : new double[] {0, 1000, -1000}) {
            float[] x = random(rnd, n, 20);
            for (int i = 0; i < n; i++) x[i] += (float) offset;
            float[] y = guarded(x);
            Softmax.softmax(y, GUARD, n);
            double max = Double.NEGATIVE_INFINITY;
            for (float v : x) max = Math.max(max, v);
            double sum = 0;
            double[] want = new double[n], tol = new double[n];
            for (int i = 0; i < n; i++) sum += Math.exp(x[i] - max);
            for (int i = 0; i < n; i++) {
                want[i] = Math.exp(x[i] - max) / sum;
                // x - max is rounded in fp32 (abs error |x - max| U, a relative error of exp), then exp
                // rounding and an n-term fp32 sum
                tol[i] = ((n + 8) * U + 2 * Math.abs(x[i] - max) * U) * want[i] + 1e-30;
            }
            String what = "softmax n=" + n + " offset=" + offset + " seed=" + (SEED + 6);
            close(y, GUARD, want, tol, what);
            guardsIntact(y, n, what);
        }
    }

    /** fp64 attention of one query over an explicit list of key/value rows. */
    static double[] refAttend(float[] q, int qOff, float[][] keys, float[][] values, int HS, double[] tolOut) {
        int n = keys.length;
        double[] s = new double[n];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            double d = 0;
            for (int i = 0; i < HS; i++) d += (double) q[qOff + i] * keys[j][i];
            s[j] = d / Math.sqrt(HS);
            max = Math.max(max, s[j]);
        }
        double sum = 0;
        for (int j = 0; j < n; j++) { s[j] = Math.exp(s[j] - max); sum += s[j]; }
        double[] out = new double[HS];
        for (int j = 0; j < n; j++) for (int i = 0; i < HS; i++) out[i] += s[j] / sum * values[j][i];
        // tolerance: the scores carry ~HS*U*sum|q k| error, which moves each weight by that much
        // relatively; the weighted sum then adds n*U*max|v|.
        double maxQk = 0, maxV = 0;
        for (int j = 0; j < n; j++) {
            double a = 0;
            for (int i = 0; i < HS; i++) { a += Math.abs((double) q[qOff + i] * keys[j][i]); maxV = Math.max(maxV, Math.abs(values[j][i])); }
            maxQk = Math.max(maxQk, a / Math.sqrt(HS));
        }
        double weightErr = (HS + 8) * U * maxQk * 2 + (n + 8) * U;
        for (int i = 0; i < HS; i++) tolOut[i] = (weightErr + (n + 4) * U) * maxV * 2 + 1e-30;
        return out;
    }

    @Test
    void causalSelfAttentionMatchesFp64() {
        SplittableRandom rnd = new SplittableRandom(SEED + 7);
        int[][] shapes = {{1, 1}, {3, 1}, {48, 3}, {32, 4}, {33, 3}, {8, 8}};
        for (int[] sh : shapes) for (int T : new int[] {1, 3, 31, 33}) {
            int C = sh[0], NH = sh[1], HS = C / NH;
            float[] qkv = random(rnd, T * 3 * C, 2);
            float[] out = output(T * C);
            float[] scratch = new float[NH * T];
            Attention.causalSelfAttention(POOL, out, GUARD, guarded(qkv), GUARD, scratch, T, C, NH);
            double[] want = new double[T * C], tol = new double[T * C];
            for (int h = 0; h < NH; h++) for (int t = 0; t < T; t++) {
                float[][] ks = new float[t + 1][HS], vs = new float[t + 1][HS];
                for (int j = 0; j <= t; j++) for (int i = 0; i < HS; i++) {
                    ks[j][i] = qkv[j * 3 * C + C + h * HS + i];
                    vs[j][i] = qkv[j * 3 * C + 2 * C + h * HS + i];
                }
                double[] tl = new double[HS];
                double[] o = refAttend(qkv, t * 3 * C + h * HS, ks, vs, HS, tl);
                System.arraycopy(o, 0, want, t * C + h * HS, HS);
                System.arraycopy(tl, 0, tol, t * C + h * HS, HS);
            }
            String what = "causalSelfAttention C=" + C + " NH=" + NH + " T=" + T + " seed=" + (SEED + 7);
            close(out, GUARD, want, tol, what);
            guardsIntact(out, T * C, what);
        }
    }

    @Test
    void decodeAttentionVisitsRingEntriesOldestFirst() {
        SplittableRandom rnd = new SplittableRandom(SEED + 8);
        int B = 2, NH = 3, HS = 16, C = NH * HS;
        for (int capacity : new int[] {1, 3, 31, 33}) for (int count : new int[] {1, capacity}) for (int start = 0; start < capacity; start += Math.max(1, capacity / 3)) {
            float[] k = random(rnd, B * NH * capacity * HS, 1), v = random(rnd, B * NH * capacity * HS, 1);
            float[] q = random(rnd, C, 2);
            int b = 1;
            float[] out = output(C);
            Attention.decodeAttention(POOL, out, GUARD, q, 0, k, v, b, start, count, capacity, NH, HS, new float[NH * capacity]);
            double[] want = new double[C], tol = new double[C];
            for (int h = 0; h < NH; h++) {
                float[][] ks = new float[count][HS], vs = new float[count][HS];
                for (int j = 0; j < count; j++) {
                    int slot = (start + j) % capacity, base = ((b * NH + h) * capacity + slot) * HS;
                    for (int i = 0; i < HS; i++) { ks[j][i] = k[base + i]; vs[j][i] = v[base + i]; }
                }
                double[] tl = new double[HS];
                double[] o = refAttend(q, h * HS, ks, vs, HS, tl);
                System.arraycopy(o, 0, want, h * HS, HS);
                System.arraycopy(tl, 0, tol, h * HS, HS);
            }
            String what = "decodeAttention capacity=" + capacity + " count=" + count + " start=" + start + " seed=" + (SEED + 8);
            close(out, GUARD, want, tol, what);
            guardsIntact(out, C, what);
        }
    }

    @Test
    void decodeAttentionOverCacheEqualsCausalRowBitForBit() {
        SplittableRandom rnd = new SplittableRandom(SEED + 9);
        int T = 33, NH = 3, HS = 16, C = NH * HS;
        float[] qkv = random(rnd, T * 3 * C, 2);
        float[] causal = new float[T * C];
        Attention.causalSelfAttention(POOL, causal, 0, qkv, 0, new float[NH * T], T, C, NH);
        float[] kc = new float[NH * T * HS], vc = new float[NH * T * HS];
        float[] one = new float[C];
        float[][] keys = KvCache.newKeys(1, NH, HS, 2 * T), values = KvCache.newValues(1, NH, HS, 2 * T);
        for (int t = 0; t < T; t++) {
            KvCache.kvAppend(kc, 0, t, qkv, t * 3 * C + C, NH, T, HS);
            KvCache.kvAppend(vc, 0, t, qkv, t * 3 * C + 2 * C, NH, T, HS);
            Attention.decodeAttention(null, one, 0, qkv, t * 3 * C, kc, vc, 0, 0, t + 1, T, NH, HS, new float[NH * T]);
            for (int i = 0; i < C; i++)
                assertEquals(Float.floatToIntBits(causal[t * C + i]), Float.floatToIntBits(one[i]), "t=" + t + " i=" + i);
            // the CPU cache's row layout, entries from slot 5 on (a window at an offset)
            KvCache.kvAppend(keys, values, 0, 5 + t, qkv, t * 3 * C + C, qkv, t * 3 * C + 2 * C, NH, HS, 2 * T);
            Arrays.fill(one, Float.NaN);
            Attention.decodeAttention(null, one, 0, qkv, t * 3 * C, keys, values, 0, 5, t + 1, 2 * T, NH, HS, new float[NH * T]);
            for (int i = 0; i < C; i++)
                assertEquals(Float.floatToIntBits(causal[t * C + i]), Float.floatToIntBits(one[i]), "rows t=" + t + " i=" + i);
        }
    }

    /**
     * The CPU cache's row layout against the flat layout: the same entries, placed at the same
     * logical positions (contiguous at an offset, as the SHIFT window, or wrapping, as a ring),
     * give the same bits; the flat form is itself checked against fp64 above. Parallel and serial.
     */
    @Test
    void decodeAttentionRowLayoutEqualsFlatBitForBit() {
        SplittableRandom rnd = new SplittableRandom(SEED + 11);
        int B = 2, NH = 3, C = 0;
        for (int HS : new int[] {1, 3, 16, 33}) for (int count : new int[] {1, 3, 31, 33, 700}) for (int slots : new int[] {count, 2 * count + 1}) {
            C = NH * HS;
            for (int start : new int[] {0, slots / 3, slots - 1}) {
                int b = 1;
                float[] k = random(rnd, B * NH * count * HS, 1), v = random(rnd, B * NH * count * HS, 1);
                float[] q = random(rnd, C, 2);
                float[][] keys = KvCache.newKeys(B, NH, HS, slots), values = KvCache.newValues(B, NH, HS, slots);
                for (float[] row : keys) java.util.Arrays.fill(row, Float.NaN);      // unused slots must not be read
                for (float[] row : values) java.util.Arrays.fill(row, Float.NaN);
                for (int j = 0; j < count; j++) {
                    float[] kj = new float[C], vj = new float[C];
                    for (int h = 0; h < NH; h++) {
                        System.arraycopy(k, ((b * NH + h) * count + j) * HS, kj, h * HS, HS);
                        System.arraycopy(v, ((b * NH + h) * count + j) * HS, vj, h * HS, HS);
                    }
                    KvCache.kvAppend(keys, values, b, (start + j) % slots, kj, 0, vj, 0, NH, HS, slots);
                }
                for (CpuThreads pool : new CpuThreads[] {null, POOL}) {
                    float[] flat = output(C), rows = output(C);
                    Attention.decodeAttention(pool, flat, GUARD, q, 0, k, v, b, 0, count, count, NH, HS, new float[NH * count]);
                    Attention.decodeAttention(pool, rows, GUARD, q, 0, keys, values, b, start, count, slots, NH, HS, new float[NH * count]);
                    String what = "HS=" + HS + " count=" + count + " slots=" + slots + " start=" + start + " pool=" + (pool != null);
                    for (int i = 0; i < C; i++)
                        assertEquals(Float.floatToRawIntBits(flat[GUARD + i]), Float.floatToRawIntBits(rows[GUARD + i]), what + " i=" + i);
                    guardsIntact(rows, C, what);
                }
            }
        }
    }

    /**
     * The bf16 cache (--kv-dtype bf16: two values per int) gives the bits of the fp32 row cache
     * holding the same bf16-rounded values, for head sizes that take the vector kernels' 32- and
     * 8-wide blocks and their scalar tails (odd sizes), rings that wrap, and 1 or 2 threads;
     * unused slots hold NaN, so reading one shows.
     */
    @Test
    void bf16CacheEqualsFp32CacheOnTheRoundedValuesBitForBit() {
        SplittableRandom rnd = new SplittableRandom(SEED + 17);
        int B = 2, NH = 3, b = 1;
        for (int HS : new int[] {1, 3, 16, 33, 64, 128}) for (int count : new int[] {1, 3, 31, 33, 700})
            for (int slots : new int[] {count, 2 * count + 1}) for (int start : new int[] {0, slots / 3, slots - 1}) {
                int C = NH * HS;
                float[][] keys = KvCache.newKeys(B, NH, HS, slots), values = KvCache.newValues(B, NH, HS, slots);
                int[] keys16 = KvCache.newKeys16(B, NH, HS, slots), values16 = KvCache.newValues16(B, NH, HS, slots);
                java.util.Arrays.fill(keys16, 0x7FC07FC0);   // two bf16 NaNs
                java.util.Arrays.fill(values16, 0x7FC07FC0);
                for (int j = 0; j < count; j++) {
                    float[] kj = bf16Rounded(random(rnd, C, 1));
                    float[] vj = bf16Rounded(random(rnd, C, 1));
                    int slot = (start + j) % slots;
                    KvCache.kvAppend(keys, values, b, slot, kj, 0, vj, 0, NH, HS, slots);
                    KvCache.kvAppend16(keys16, values16, b, slot, kj, 0, vj, 0, NH, HS, slots);
                }
                float[] q = random(rnd, C, 2);
                for (CpuThreads pool : new CpuThreads[] {null, POOL}) {
                    float[] want = output(C), got = output(C);
                    Attention.decodeAttention(pool, want, GUARD, q, 0, keys, values, b, start, count, slots, NH, HS, new float[NH * count]);
                    Attention.decodeAttention(pool, got, GUARD, q, 0, keys16, values16, b, start, count, slots, NH, HS, new float[NH * count]);
                    String what = "bf16 cache HS=" + HS + " count=" + count + " slots=" + slots + " start=" + start + " pool=" + (pool != null);
                    for (int i = 0; i < C; i++)
                        assertEquals(Float.floatToRawIntBits(want[GUARD + i]), Float.floatToRawIntBits(got[GUARD + i]), what + " i=" + i);
                    guardsIntact(got, C, what);
                }
            }
    }

    private static float[] bf16Rounded(float[] x) {
        for (int i = 0; i < x.length; i++) x[i] = HalfFormat.BF16.widen(HalfFormat.BF16.narrow(x[i]));
        return x;
    }

    /** A value naming a slot and an element that bf16 holds exactly (an integer below 256). */
    private static float tag(int slot, int i) { return (slot % 64) * 4 + i % 4; }

    @Test
    void kvMoveMovesBf16PairsTowardsSlotZero() {
        int B = 2, NH = 3, HS = 5, P = KvCache.pairs(HS), C = NH * HS;
        // {slots, from, to, n}: overlapping runs inside one key block and across blocks of 32
        for (int[] mv : new int[][] {{9, 5, 1, 4}, {70, 40, 1, 30}, {70, 35, 0, 34}}) {
            int slots = mv[0], from = mv[1], to = mv[2], n = mv[3];
            int[] keys = KvCache.newKeys16(B, NH, HS, slots), values = KvCache.newValues16(B, NH, HS, slots);
            for (int slot = 0; slot < slots; slot++) {
                float[] k = new float[C + 1], v = new float[C + 1];
                for (int i = 0; i < C; i++) { k[1 + i] = tag(slot, i); v[1 + i] = -tag(slot, i); }
                KvCache.kvAppend16(keys, values, 1, slot, k, 1, v, 1, NH, HS, slots);
            }
            KvCache.kvMove16(keys, values, 1, from, to, n, NH, HS, slots);
            for (int h = 0; h < NH; h++) for (int slot = 0; slot < slots; slot++) for (int d = 0; d < HS; d++) {
                int src = slot >= to && slot < to + n ? slot - to + from : slot;
                String what = "slots=" + slots + " move " + from + "->" + to + " n=" + n + " slot " + slot + " d " + d;
                int kBits = keys[KvCache.keyIndex16(KvCache.keyBase16(1, h, NH, HS, slots), slot, d / 2, P)];
                float key = Float.intBitsToFloat((d & 1) == 0 ? kBits << 16 : kBits & 0xFFFF0000);
                assertEquals(tag(src, h * HS + d), key, 0f, "K " + what);
                assertEquals(-tag(src, h * HS + d), KvCache.bf16At(values, KvCache.valueIndex16(1, h, slot, NH, HS, slots), d), 0f, "V " + what);
                assertEquals(0, keys[KvCache.keyIndex16(KvCache.keyBase16(0, h, NH, HS, slots), slot, d / 2, P)], "sequence 0 untouched");
                assertEquals(0, values[KvCache.valueIndex16(0, h, slot, NH, HS, slots) + d / 2], "sequence 0 untouched");
            }
            assertThrows(IllegalArgumentException.class, () -> KvCache.kvMove16(keys, values, 0, 1, 2, 1, NH, HS, slots));
        }
    }

    @Test
    void kvMoveMovesEntriesTowardsSlotZero() {
        int B = 2, NH = 3, HS = 5, slots = 9, C = NH * HS;
        float[][] keys = KvCache.newKeys(B, NH, HS, slots), values = KvCache.newValues(B, NH, HS, slots);
        for (int slot = 0; slot < slots; slot++) {
            float[] k = new float[C + 1], v = new float[C + 1];
            for (int i = 0; i < C; i++) { k[1 + i] = 100 * slot + i; v[1 + i] = -(100 * slot + i); }
            KvCache.kvAppend(keys, values, 1, slot, k, 1, v, 1, NH, HS, slots);
        }
        KvCache.kvMove(keys, values, 1, 5, 1, 4, NH, HS, slots);   // overlapping runs [5, 9) -> [1, 5)
        for (int h = 0; h < NH; h++) for (int slot = 0; slot < slots; slot++) for (int d = 0; d < HS; d++) {
            int from = slot >= 1 && slot < 5 ? slot + 4 : slot;
            assertEquals(100 * from + h * HS + d, keys[(NH + h) * HS + d][slot], 0f, "K slot " + slot);
            assertEquals(-(100 * from + h * HS + d), values[(NH + h) * slots + slot][d], 0f, "V slot " + slot);
            assertEquals(0f, keys[h * HS + d][slot], 0f, "sequence 0 must be untouched");
            assertEquals(0f, values[h * slots + slot][d], 0f, "sequence 0 must be untouched");
        }
        assertThrows(IllegalArgumentException.class, () -> KvCache.kvMove(keys, values, 0, 1, 2, 1, NH, HS, slots));
    }

    @Test
    void embeddingAndResidualAreExact() {
        SplittableRandom rnd = new SplittableRandom(SEED + 10);
        int V = 31, maxT = 33, C = 769, T = 3;
        float[] wte = random(rnd, V * C, 1), wpe = random(rnd, maxT * C, 1);
        int[] tokens = {5, 30, 0, 7};
        float[] out = output(T * C);
        Embedding.embed(out, GUARD, wte, wpe, tokens, 1, 30, T, C);
        for (int t = 0; t < T; t++) for (int i = 0; i < C; i++)
            assertEquals(wte[tokens[1 + t] * C + i] + wpe[(30 + t) * C + i], out[GUARD + t * C + i], 0f);
        guardsIntact(out, T * C, "embed");
        float[] a = random(rnd, 127, 1), bb = random(rnd, 127, 1);
        float[] ag = guarded(a);
        Residual.add(ag, GUARD, bb, 0, 127);
        for (int i = 0; i < 127; i++) assertEquals(a[i] + bb[i], ag[GUARD + i], 0f);
        guardsIntact(ag, 127, "residual");
    }

    @Test
    void kvAppendAndShift() {
        int B = 2, NH = 3, cap = 4, HS = 5, C = NH * HS;
        float[] cache = new float[B * NH * cap * HS];
        for (int slot = 0; slot < cap; slot++) {
            float[] src = new float[C + 2];
            for (int i = 0; i < C; i++) src[2 + i] = 100 * slot + i;
            KvCache.kvAppend(cache, 1, slot, src, 2, NH, cap, HS);
        }
        for (int h = 0; h < NH; h++) for (int slot = 0; slot < cap; slot++) for (int d = 0; d < HS; d++) {
            assertEquals(100 * slot + h * HS + d, cache[((NH + h) * cap + slot) * HS + d], 0f);
            assertEquals(0f, cache[(h * cap + slot) * HS + d], 0f, "sequence 0 must be untouched");
        }
        KvCache.kvShift(cache, 1, NH, cap, HS);
        for (int h = 0; h < NH; h++) for (int slot = 0; slot < cap - 1; slot++) for (int d = 0; d < HS; d++)
            assertEquals(100 * (slot + 1) + h * HS + d, cache[((NH + h) * cap + slot) * HS + d], 0f);
    }

    /**
     * Many back-to-back small jobs with a non-idempotent task: every index must run exactly once
     * per job and nothing may hang. (A late worker once paired a finished job's generation with the
     * next job's chunk count and ran a phantom chunk, which double-counted and then hung.)
     *
     * <p>A hang is a job that does not finish, not a slow run: the jobs run on a thread of their
     * own and the test fails only when no job has finished for {@code STALL_SECONDS}. (It used a
     * 120 s bound on all 300,000 jobs, which a correct build can exceed on a loaded 2-core machine,
     * where each hand-off between the pool's threads may wait for a time slice; issue 16.)
     */
    @Test
    void parallelForSurvivesManyBackToBackJobs() throws Exception {
        final int jobs = 300_000, stallSeconds = 60;
        java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        long[] hits = new long[16];
        long[] expected = new long[16];
        Thread runner = new Thread(() -> {
            try (CpuThreads pool = new CpuThreads(2)) {
                for (int it = 0; it < jobs; it++) {
                    int n = 2 + it % 13;
                    pool.parallelFor(n, (s, e) -> { for (int i = s; i < e; i++) hits[i]++; });
                    for (int i = 0; i < n; i++) expected[i]++;
                    done.incrementAndGet();
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "parallelFor-back-to-back");
        runner.setDaemon(true); // a hung pool must not keep the test JVM alive
        runner.start();
        int seen = -1;
        while (runner.isAlive()) {
            runner.join(stallSeconds * 1000L);
            int now = done.get();
            if (runner.isAlive() && now == seen)
                fail("parallelFor hung: no job finished in " + stallSeconds + " s, " + now + " of " + jobs + " done");
            seen = now;
        }
        if (failure.get() != null) throw new AssertionError(failure.get());
        assertEquals(jobs, done.get());
        assertArrayEquals(expected, hits);
    }

    @Test
    void parallelForCoversEveryIndexOnceAndPropagatesFailures() {
        for (int threads = 1; threads <= 4; threads++) {
            try (CpuThreads pool = new CpuThreads(threads)) {
                for (int n = 0; n <= 50; n++) {
                    int[] hits = new int[n];
                    pool.parallelFor(n, (s, e) -> { for (int i = s; i < e; i++) hits[i]++; });
                    for (int i = 0; i < n; i++) assertEquals(1, hits[i], "threads=" + threads + " n=" + n + " i=" + i);
                }
                if (threads > 1) {
                    RuntimeException ex = assertThrows(IllegalStateException.class, () -> pool.parallelFor(8, (s, e) -> {
                        if (e == 8) throw new IllegalStateException("boom");
                    }));
                    assertEquals("boom", ex.getMessage());
                    int[] after = new int[1];
                    pool.parallelFor(4, (s, e) -> { synchronized (after) { after[0] += e - s; } });
                    assertEquals(4, after[0], "pool must still work after a failure");
                }
            }
        }
    }
}
