package dev.kvdecode.runtime.sample;

import java.util.random.RandomGenerator;

/**
 * Picks a token from a logits row: greedy argmax, or temperature, then top-k, then top-p, then a
 * draw (the order Hugging Face applies them). Buffers are allocated once for the vocabulary, so
 * a call allocates nothing. Not thread-safe: one sampler per decoding thread.
 */
public final class Sampler {
    private final SamplingParams params;
    private final int vocabSize;
    private final float[] probs;   // (V)
    private final int[] order;     // (V) candidate ids, most probable first after sorting

    public Sampler(SamplingParams params, int vocabSize) {
        if (vocabSize < 1) throw new IllegalArgumentException("vocabulary size must be >= 1");
        this.params = params;
        this.vocabSize = vocabSize;
        this.probs = new float[vocabSize];
        this.order = new int[vocabSize];
    }

    public SamplingParams params() { return params; }

    /** The next token from logits[off .. off+V), drawing from rng when sampling. */
    public int sample(float[] logits, int off, RandomGenerator rng) {
        if (params.isArgmax()) return argmax(logits, off, vocabSize);
        int V = vocabSize;
        // p = softmax(logits / temperature), shifted by the max so no exp overflows
        float invT = 1f / params.temperature();
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < V; i++) max = Math.max(max, logits[off + i]);
        double sum = 0;
        for (int i = 0; i < V; i++) {
            float e = (float) Math.exp((logits[off + i] - max) * invT);
            probs[i] = e;
            sum += e;
        }
        int k = params.topK() > 0 ? Math.min(params.topK(), V) : V;
        boolean nucleus = params.topP() < 1f;
        if (k == V && !nucleus) return draw(rng, sum);

        int n;
        if (k < V) {
            n = topK(k);
        } else {
            // Nucleus only: a token with p < (1 - topP) / (V - 1) can never be inside the nucleus
            // (all the tokens below it together cannot reach 1 - topP), so skip sorting those.
            double cutoff = (1.0 - params.topP()) / Math.max(1, V - 1) * sum;
            n = 0;
            for (int i = 0; i < V; i++) if (probs[i] >= cutoff) order[n++] = i;
            if (n == 0) { // only when p < 1/V-ish and nearly uniform: the bound excludes even the top token
                for (int i = 0; i < V; i++) order[i] = i;
                n = V;
            }
            sortByProbability(n);
        }
        double kept = 0;
        for (int j = 0; j < n; j++) kept += probs[order[j]];
        if (nucleus) {
            double target = params.topP() * kept, cum = 0;
            int m = 0;
            while (m < n) {
                cum += probs[order[m++]];
                if (cum >= target) break;
            }
            n = m;
            kept = cum;
        }
        double r = rng.nextDouble() * kept, cum = 0;
        for (int j = 0; j < n; j++) {
            cum += probs[order[j]];
            if (r < cum) return order[j];
        }
        return order[n - 1];
    }

    /** Lowest index among the maxima (deterministic ties). */
    public static int argmax(float[] x, int off, int n) {
        int best = 0;
        float bv = x[off];
        for (int i = 1; i < n; i++) {
            if (x[off + i] > bv) {
                bv = x[off + i];
                best = i;
            }
        }
        return best;
    }

    private int draw(RandomGenerator rng, double sum) {
        double r = rng.nextDouble() * sum, cum = 0;
        for (int i = 0; i < vocabSize; i++) {
            cum += probs[i];
            if (r < cum) return i;
        }
        // rounding left r at the very top: return the last token with nonzero probability
        for (int i = vocabSize - 1; i > 0; i--) if (probs[i] > 0) return i;
        return 0;
    }

    /** Puts the k most probable ids into order[0..k), most probable first; returns k. */
    private int topK(int k) {
        // a min-heap of the best k seen so far, its root the worst of them
        for (int i = 0; i < k; i++) {
            order[i] = i;
            siftUp(i);
        }
        for (int i = k; i < vocabSize; i++) {
            if (before(i, order[0])) {
                order[0] = i;
                siftDown(0, k);
            }
        }
        // heap sort: repeatedly move the worst to the end, leaving the best first
        for (int end = k - 1; end > 0; end--) {
            int t = order[0]; order[0] = order[end]; order[end] = t;
            siftDown(0, end);
        }
        return k;
    }

    /** Sorts order[0..n) most probable first (ties: lower id first), via the same min-heap. */
    private void sortByProbability(int n) {
        for (int i = 1; i < n; i++) siftUp(i);
        for (int end = n - 1; end > 0; end--) {
            int t = order[0]; order[0] = order[end]; order[end] = t;
            siftDown(0, end);
        }
    }

    /** Whether token a ranks before token b: more probable, or equally probable with a lower id. */
    private boolean before(int a, int b) {
        return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
    }

    // min-heap on rank: the parent ranks after (is worse than) its children
    private void siftUp(int i) {
        while (i > 0) {
            int p = (i - 1) >>> 1;
            if (before(order[p], order[i])) {
                int t = order[p]; order[p] = order[i]; order[i] = t;
                i = p;
            } else {
                return;
            }
        }
    }

    private void siftDown(int i, int n) {
        while (true) {
            int l = 2 * i + 1, r = l + 1, worst = i;
            if (l < n && before(order[worst], order[l])) worst = l;
            if (r < n && before(order[worst], order[r])) worst = r;
            if (worst == i) return;
            int t = order[worst]; order[worst] = order[i]; order[i] = t;
            i = worst;
        }
    }
}
