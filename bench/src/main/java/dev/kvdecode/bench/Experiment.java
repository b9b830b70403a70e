package dev.kvdecode.bench;

import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.GenerationOptions;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.sample.Sampler;
import dev.kvdecode.runtime.sample.SamplingParams;
import me.tongfei.progressbar.ProgressBar;

/** One timed generation of N tokens, greedy, from a single start token (id 0) per sequence. */
final class Experiment {
    private Experiment() {}

    static RunResult run(Backend backend, Model model, SessionOptions opts, RunResult.Mode mode, int steps, int rep,
                         ProgressBar bar) {
        int b = opts.batch();
        int v = model.config().vocabSize();
        // The session first: it checks that B sequences fit before the per-sequence arrays below.
        try (InferenceSession session = backend.open(model, opts)) {
            long[] stepNanos = new long[steps];
            int[] contextLens = new int[steps];
            int[] tokens = new int[b];
            int[][] prompts = new int[b][];
            int[] start0 = {0};
            for (int i = 0; i < b; i++) prompts[i] = start0;
            if (mode == RunResult.Mode.LOOP) return runLoop(session, prompts, mode, steps, rep, bar, opts.contextTokens());
            long start = System.nanoTime();
            long t0 = start;
            float[] logits = session.prefill(prompts);
            for (int i = 0; ; i++) {
                argmax(logits, b, v, tokens);
                long t1 = System.nanoTime();
                stepNanos[i] = t1 - t0;
                contextLens[i] = Math.min(i + 1, opts.contextTokens());
                if (bar != null) bar.step();
                if (i + 1 == steps) break;
                t0 = t1;
                logits = session.step(tokens);
            }
            long total = System.nanoTime() - start;
            return new RunResult(mode, steps, rep, total, stepNanos, contextLens);
        }
    }

    /**
     * The session's own generate(), greedy, fixed length. Per-token times are the gaps between
     * sequence 0's tokens as they reach the host; a device loop that runs ahead delivers tokens in
     * bursts, so only the total (and the mean over a bucket) is meaningful for it.
     */
    private static RunResult runLoop(InferenceSession session, int[][] prompts, RunResult.Mode mode, int steps, int rep,
                                     ProgressBar bar, int contextTokens) {
        long[] stepNanos = new long[steps];
        int[] contextLens = new int[steps];
        for (int i = 0; i < steps; i++) contextLens[i] = Math.min(i + 1, contextTokens);
        long start = System.nanoTime();
        long[] last = {start};
        int[] count = {0};
        GenerationOptions options = new GenerationOptions(steps, SamplingParams.greedyDecoding(), -1, true);
        session.generate(prompts, options, (sequence, token) -> {
            if (sequence != 0) return;
            long now = System.nanoTime();
            int i = count[0]++;
            if (i < steps) stepNanos[i] = now - last[0];
            last[0] = now;
            if (bar != null) bar.step();
        });
        long total = System.nanoTime() - start;
        if (count[0] != steps)
            throw new IllegalStateException("generate() returned " + count[0] + " tokens for sequence 0, expected " + steps);
        return new RunResult(mode, steps, rep, total, stepNanos, contextLens);
    }

    /** Greedy choice per sequence, with the sampler's tie rule (lowest index). */
    static void argmax(float[] logits, int batch, int vocab, int[] out) {
        for (int s = 0; s < batch; s++) out[s] = Sampler.argmax(logits, s * vocab, vocab);
    }
}
