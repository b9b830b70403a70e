package dev.kvdecode.kernels;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static dev.kvdecode.kernels.Check.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The Llama-family ops (RMSNorm, RoPE, the gated MLP, grouped-query attention) against
 * straightforward float64 references written from their papers / transformers' definitions.
 */
class LlamaOpsTest {
    static final long SEED = 20261207L;
    static final double U = Math.ulp(1f) / 2;
    static final CpuThreads POOL = new CpuThreads(3);

    @AfterAll
    static void closePool() { POOL.close(); }

    @Test
    void rmsNormMatchesFp64() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        for (int C : new int[] {1, 3, 31, 33, 127, 769}) for (int T : new int[] {1, 3}) {
            float[] x = random(rnd, T * C, 3), w = random(rnd, C, 2);
            float eps = 1e-6f;
            float[] out = output(T * C);
            RmsNorm.rmsNorm(out, GUARD, guarded(x), GUARD, w, T, C, eps);
            double[] want = new double[T * C], tol = new double[T * C];
            for (int t = 0; t < T; t++) {
                double ss = 0;
                for (int i = 0; i < C; i++) ss += (double) x[t * C + i] * x[t * C + i];
                double r = 1 / Math.sqrt(ss / C + eps);
                for (int i = 0; i < C; i++) {
                    want[t * C + i] = w[i] * x[t * C + i] * r;
                    tol[t * C + i] = (C + 8) * U * Math.abs(want[t * C + i]) + 1e-30;
                }
            }
            String what = "rmsNorm C=" + C + " T=" + T + " seed=" + SEED;
            close(out, GUARD, want, tol, what);
            guardsIntact(out, T * C, what);
        }
    }

    @Test
    void invFreqMatchesTransformersFormulas() {
        // transformers: inv_freq = 1 / theta^(arange(0, HS, 2) / HS); linear: / factor; llama3 bands
        int HS = 64;
        double theta = 500000, factor = 8, low = 1, high = 4;
        int orig = 8192;
        float[] base = Rope.invFreq(HS, theta), lin = Rope.linear(base, 2), l3 = Rope.llama3(base, factor, low, high, orig);
        int kept = 0, divided = 0, smoothed = 0;
        for (int i = 0; i < HS / 2; i++) {
            double f = 1 / Math.pow(theta, 2.0 * i / HS);
            assertEquals(f, base[i], 4 * U * f, "invFreq " + i);
            assertEquals(f / 2, lin[i], 6 * U * f, "linear " + i);
            double wl = 2 * Math.PI / f, want;
            if (wl < orig / high) { want = f; kept++; }
            else if (wl > orig / low) { want = f / factor; divided++; }
            else {
                double s = (orig / wl - low) / (high - low);
                want = (1 - s) * f / factor + s * f;
                smoothed++;
            }
            assertEquals(want, l3[i], 1e-5 * want, "llama3 " + i);
        }
        assertTrue(kept > 0 && divided > 0 && smoothed > 0, "all three llama3 bands exercised");
    }

    @Test
    void ropeRotatesHalvesByPositionTimesFrequency() {
        SplittableRandom rnd = new SplittableRandom(SEED + 1);
        for (int HS : new int[] {2, 8, 16, 64}) for (int pos : new int[] {0, 1, 7, 127, 4000}) {
            int heads = 3;
            float[] inv = Rope.invFreq(HS, 10000);
            float[] x = random(rnd, heads * HS, 2);
            float[] cos = new float[HS / 2], sin = new float[HS / 2];
            Rope.cosSin(cos, sin, 0, inv, pos);
            float[] y = guarded(x);
            Rope.apply(y, GUARD, heads, HS, cos, sin, 0);
            double[] want = new double[heads * HS], tol = new double[heads * HS];
            for (int h = 0; h < heads; h++) for (int i = 0; i < HS / 2; i++) {
                double a = (double) pos * inv[i];
                double x1 = x[h * HS + i], x2 = x[h * HS + i + HS / 2];
                want[h * HS + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
                want[h * HS + i + HS / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
                // the fp32 angle pos * inv[i] is off by up to U * a: its cos/sin move by that much
                double e = (4 + a) * U * 2 * (Math.abs(x1) + Math.abs(x2));
                tol[h * HS + i] = e;
                tol[h * HS + i + HS / 2] = e;
            }
            String what = "rope HS=" + HS + " pos=" + pos;
            close(y, GUARD, want, tol, what);
            guardsIntact(y, heads * HS, what);
        }
    }

    @Test
    void rotatingCachedKeysByADeltaEqualsRotatingAtTheSum() {
        SplittableRandom rnd = new SplittableRandom(SEED + 2);
        int HS = 16, slots = 40, NKV = 2;
        float[] inv = Rope.invFreq(HS, 10000);
        float[][] keys = KvCache.newKeys(1, NKV, HS, slots);
        float[][] values = KvCache.newValues(1, NKV, HS, slots);
        float[][] raw = new float[slots][];
        float[] c = new float[HS / 2], s = new float[HS / 2];
        for (int p = 0; p < slots; p++) {
            raw[p] = random(rnd, NKV * HS, 1);
            float[] k = raw[p].clone();
            Rope.cosSin(c, s, 0, inv, p + 21);   // stored rotated to position p + 21
            Rope.apply(k, 0, NKV, HS, c, s, 0);
            KvCache.kvAppend(keys, values, 0, p, k, 0, k, 0, NKV, HS, slots);
        }
        Rope.cosSin(c, s, 0, inv, -21);
        for (int h = 0; h < NKV; h++) Rope.rotateKeys(keys, h * HS, 3, 30, HS, c, s);
        for (int p = 0; p < slots; p++) {
            float[] k = raw[p].clone();
            Rope.cosSin(c, s, 0, inv, (p >= 3 && p < 33) ? p : p + 21);
            Rope.apply(k, 0, NKV, HS, c, s, 0);
            for (int h = 0; h < NKV; h++) for (int d = 0; d < HS; d++)
                assertEquals(k[h * HS + d], keys[h * HS + d][p], 1e-5, "slot " + p + " head " + h + " dim " + d);
        }
        // the bf16 layout: the same rotation, to bf16's precision
        int[] k16 = KvCache.newKeys16(1, 1, HS, slots), v16 = KvCache.newValues16(1, 1, HS, slots);
        float[] k = raw[5].clone();
        Rope.cosSin(c, s, 0, inv, 26);
        Rope.apply(k, 0, 1, HS, c, s, 0);
        KvCache.kvAppend16(k16, v16, 0, 5, k, 0, k, 0, 1, HS, slots);
        Rope.cosSin(c, s, 0, inv, -21);
        Rope.rotateKeys16(k16, KvCache.keyBase16(0, 0, 1, HS, slots), 5, 1, HS, c, s);
        float[] want = raw[5].clone();
        Rope.cosSin(c, s, 0, inv, 5);
        Rope.apply(want, 0, 1, HS, c, s, 0);
        int P = KvCache.pairs(HS);
        for (int d = 0; d < HS; d++)
            assertEquals(want[d], HalfFormat.bf16OfPair(k16[KvCache.keyIndex16(0, 5, d / 2, P)], d), 2e-2, "bf16 dim " + d);
    }

    @Test
    void gatedMlpIsSiluOfGateTimesUpInPlace() {
        SplittableRandom rnd = new SplittableRandom(SEED + 3);
        for (int I : new int[] {1, 3, 33}) for (int T : new int[] {1, 2, 5}) {
            float[] gu = random(rnd, T * 2 * I, 4);
            float[] y = gu.clone();
            Activations.gated(Activation.SILU, y, T, I);
            double[] want = new double[T * I], tol = new double[T * I];
            for (int t = 0; t < T; t++) for (int i = 0; i < I; i++) {
                double g = gu[t * 2 * I + i], u = gu[t * 2 * I + I + i];
                want[t * I + i] = g / (1 + Math.exp(-g)) * u;
                tol[t * I + i] = 4 * U * Math.abs(want[t * I + i]) + 1e-30;
            }
            close(y, 0, want, tol, "gated SiLU I=" + I + " T=" + T);
        }
    }

    @Test
    void groupedQueryAttentionMatchesFp64WithSharedKvHeads() {
        SplittableRandom rnd = new SplittableRandom(SEED + 4);
        int[][] shapes = {{4, 4, 8}, {4, 2, 8}, {10, 2, 6}, {4, 1, 16}, {6, 3, 5}};   // NH, NKV, HS
        for (int[] sh : shapes) for (int T : new int[] {1, 3, 33}) {
            int NH = sh[0], NKV = sh[1], HS = sh[2], Q = NH * HS, KV = NKV * HS, W = Q + 2 * KV, G = NH / NKV;
            float[] qkv = random(rnd, T * W, 2);
            float[] out = output(T * Q);
            Attention.causalSelfAttention(POOL, out, GUARD, guarded(qkv), GUARD, new float[NH * T], T, NH, NKV, HS);
            double[] want = new double[T * Q], tol = new double[T * Q];
            for (int h = 0; h < NH; h++) for (int t = 0; t < T; t++) {
                int g = h / G;
                float[][] ks = new float[t + 1][HS], vs = new float[t + 1][HS];
                for (int j = 0; j <= t; j++) for (int i = 0; i < HS; i++) {
                    ks[j][i] = qkv[j * W + Q + g * HS + i];
                    vs[j][i] = qkv[j * W + Q + KV + g * HS + i];
                }
                double[] tl = new double[HS];
                double[] o = OpsTest.refAttend(qkv, t * W + h * HS, ks, vs, HS, tl);
                System.arraycopy(o, 0, want, t * Q + h * HS, HS);
                System.arraycopy(tl, 0, tol, t * Q + h * HS, HS);
            }
            String what = "GQA causal NH=" + NH + " NKV=" + NKV + " HS=" + HS + " T=" + T + " seed=" + (SEED + 4);
            close(out, GUARD, want, tol, what);
            guardsIntact(out, T * Q, what);

            // the cached single-query form over a cache of NKV heads gives the causal form's last row, bit for bit
            int slots = T + 5, start = 2;
            float[][] keys = KvCache.newKeys(2, NKV, HS, slots), values = KvCache.newValues(2, NKV, HS, slots);
            int[] k16 = KvCache.newKeys16(2, NKV, HS, slots), v16 = KvCache.newValues16(2, NKV, HS, slots);
            for (int j = 0; j < T; j++) {
                KvCache.kvAppend(keys, values, 1, start + j, qkv, j * W + Q, qkv, j * W + Q + KV, NKV, HS, slots);
                KvCache.kvAppend16(k16, v16, 1, start + j, qkv, j * W + Q, qkv, j * W + Q + KV, NKV, HS, slots);
            }
            float[] one = output(Q);
            Attention.decodeAttention(POOL, one, GUARD, qkv, (T - 1) * W, keys, values, 1, start, T, slots, NH, NKV, HS, new float[NH * T]);
            for (int i = 0; i < Q; i++)
                assertEquals(Float.floatToRawIntBits(out[GUARD + (T - 1) * Q + i]), Float.floatToRawIntBits(one[GUARD + i]), what + " cached, i=" + i);
            guardsIntact(one, Q, what + " cached");
            float[] one16 = output(Q);
            Attention.decodeAttention(POOL, one16, GUARD, qkv, (T - 1) * W, k16, v16, 1, start, T, slots, NH, NKV, HS, new float[NH * T]);
            for (int i = 0; i < Q; i++) assertEquals(one[GUARD + i], one16[GUARD + i], 0.05, what + " bf16 cache, i=" + i);
        }
    }
}
