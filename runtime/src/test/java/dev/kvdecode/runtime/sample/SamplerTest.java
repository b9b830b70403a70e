package dev.kvdecode.runtime.sample;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class SamplerTest {
    static final long SEED = 7;

    @Test
    void greedyIsArgmaxWithLowestIndexOnTies() {
        assertEquals(1, Sampler.argmax(new float[] {0, 3, 3, -1}, 0, 4));
        assertEquals(0, Sampler.argmax(new float[] {5, 5}, 0, 2));
        assertEquals(2, Sampler.argmax(new float[] {9, 0, 1, 7, 1}, 1, 4), "offset respected");
        Sampler s = new Sampler(SamplingParams.greedyDecoding(), 4);
        assertEquals(2, s.sample(new float[] {1, 2, 4, 4}, 0, new SplittableRandom(SEED)));
        Sampler t0 = new Sampler(SamplingParams.of(0f, 0, 1f, SEED), 4);
        assertEquals(2, t0.sample(new float[] {1, 2, 4, 4}, 0, new SplittableRandom(SEED)), "temperature 0 = argmax");
        // 1/T overflows a float: the T -> 0 limit (argmax), not NaN probabilities (issue 21: request fields)
        for (float tiny : new float[] {Float.MIN_VALUE, 1e-40f}) {
            Sampler st = new Sampler(SamplingParams.of(tiny, 0, 0.5f, SEED), 5);
            for (int i = 0; i < 20; i++)
                assertEquals(3, st.sample(new float[] {1, 2, -4, 4.5f, 4}, 0, new SplittableRandom(SEED + i)), "T=" + tiny);
        }
    }

    /** Frequencies of 40,000 draws match softmax(logits / T) within 5 standard errors. */
    @Test
    void temperatureSamplingFollowsTheSoftmax() {
        float[] logits = {1.0f, 2.0f, 0.5f, -1.0f, 2.2f};
        for (float temp : new float[] {0.7f, 1.0f, 2.0f}) {
            double[] p = softmax(logits, temp);
            int[] counts = draw(new Sampler(SamplingParams.of(temp, 0, 1f, SEED), logits.length), logits, 40_000);
            assertFrequencies(p, counts, "T=" + temp);
        }
    }

    @Test
    void topKKeepsOnlyTheKMostProbable() {
        float[] logits = {0.1f, 3f, 2f, 2.5f, -4f, 2f};
        int[] counts = draw(new Sampler(SamplingParams.of(1f, 3, 1f, SEED), logits.length), logits, 30_000);
        // top 3: ids 1, 3 and (tie at 2.0 between 2 and 5) the lower id 2
        double[] full = softmax(logits, 1f);
        double z = full[1] + full[3] + full[2];
        assertFrequencies(new double[] {0, full[1] / z, full[2] / z, full[3] / z, 0, 0}, counts, "top-k 3");
        assertEquals(0, counts[5], "tie broken towards the lower id");
        Sampler k1 = new Sampler(SamplingParams.of(1.5f, 1, 1f, SEED), logits.length);
        assertEquals(1, k1.sample(logits, 0, new SplittableRandom(1)), "top-k 1 = argmax");
    }

    @Test
    void topPKeepsTheSmallestNucleus() {
        // probabilities 0.5, 0.3, 0.15, 0.05 (as logs)
        float[] logits = {(float) Math.log(0.15), (float) Math.log(0.5), (float) Math.log(0.05), (float) Math.log(0.3)};
        // p = 0.7: 0.5 < 0.7 <= 0.8, so the nucleus is {1, 3}
        int[] counts = draw(new Sampler(SamplingParams.of(1f, 0, 0.7f, SEED), 4), logits, 30_000);
        assertFrequencies(new double[] {0, 0.5 / 0.8, 0, 0.3 / 0.8}, counts, "top-p 0.7");
        // p = 0.96: 0.95 < 0.96, so everything
        counts = draw(new Sampler(SamplingParams.of(1f, 0, 0.96f, SEED), 4), logits, 30_000);
        assertFrequencies(new double[] {0.15, 0.5, 0.05, 0.3}, counts, "top-p 0.96");
        // a tiny p keeps only the top token, even when the distribution is nearly flat
        assertEquals(1, new Sampler(SamplingParams.of(1f, 0, 0.01f, SEED), 4).sample(logits, 0, new SplittableRandom(3)));
        float[] flat = {0f, 1e-6f};
        assertEquals(1, new Sampler(SamplingParams.of(1f, 0, 0.1f, SEED), 2).sample(flat, 0, new SplittableRandom(3)));
    }

    @Test
    void topKThenTopP() {
        float[] logits = {(float) Math.log(0.4), (float) Math.log(0.3), (float) Math.log(0.2), (float) Math.log(0.1)};
        // top-k 3 renormalizes to 4/9, 3/9, 2/9; top-p 0.7 then keeps {0, 1} (4/9 < 0.7 <= 7/9)
        int[] counts = draw(new Sampler(SamplingParams.of(1f, 3, 0.7f, SEED), 4), logits, 30_000);
        assertFrequencies(new double[] {4 / 7.0, 3 / 7.0, 0, 0}, counts, "top-k 3 + top-p 0.7");
    }

    @Test
    void sameSeedSameTokens() {
        float[] logits = new float[1000];
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < logits.length; i++) logits[i] = (float) r.nextGaussian();
        Sampler s = new Sampler(SamplingParams.of(0.9f, 50, 0.9f, SEED), logits.length);
        SplittableRandom a = new SplittableRandom(5), b = new SplittableRandom(5);
        for (int i = 0; i < 100; i++) assertEquals(s.sample(logits, 0, a), s.sample(logits, 0, b));
    }

    @Test
    void paramsAreValidated() {
        assertThrows(IllegalArgumentException.class, () -> SamplingParams.of(-0.1f, 0, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> SamplingParams.of(Float.NaN, 0, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> SamplingParams.of(1f, -1, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> SamplingParams.of(1f, 0, 0f, 0));
        assertThrows(IllegalArgumentException.class, () -> SamplingParams.of(1f, 0, 1.01f, 0));
        var ex = assertThrows(IllegalArgumentException.class, () -> SamplingParams.of(1f, 0, 1.5f, 0));
        assertEquals("top-p must be in (0, 1], got 1.5", ex.getMessage());
    }

    static double[] softmax(float[] logits, float temp) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float l : logits) max = Math.max(max, l / (double) temp);
        double[] p = new double[logits.length];
        for (int i = 0; i < p.length; i++) { p[i] = Math.exp(logits[i] / (double) temp - max); sum += p[i]; }
        for (int i = 0; i < p.length; i++) p[i] /= sum;
        return p;
    }

    static int[] draw(Sampler s, float[] logits, int n) {
        SplittableRandom rng = new SplittableRandom(SEED);
        int[] counts = new int[logits.length];
        for (int i = 0; i < n; i++) counts[s.sample(logits, 0, rng)]++;
        return counts;
    }

    static void assertFrequencies(double[] p, int[] counts, String what) {
        int n = 0;
        for (int c : counts) n += c;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 0) {
                assertEquals(0, counts[i], what + ": id " + i + " must never be drawn");
                continue;
            }
            double f = counts[i] / (double) n, se = Math.sqrt(p[i] * (1 - p[i]) / n);
            assertTrue(Math.abs(f - p[i]) <= 5 * se + 1e-12,
                    what + ": id " + i + " frequency " + f + " expected " + p[i] + " (seed " + SEED + ")");
        }
    }
}
