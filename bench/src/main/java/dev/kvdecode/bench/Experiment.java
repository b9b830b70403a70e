package dev.kvdecode.bench;

import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.sample.Sampler;
import me.tongfei.progressbar.ProgressBar;

/** One timed generation of N tokens, greedy, from a single start token (id 0) per sequence. */
final class Experiment {
    private Experiment() {}

    static RunResult run(Backend backend, Model model, SessionOptions opts, RunResult.Mode mode, int steps, int rep,
                         ProgressBar bar) {
        int b = opts.batch();
        int v = model.config().vocabSize();
        long[] stepNanos = new long[steps];
        int[] contextLens = new int[steps];
        int[] tokens = new int[b];
        int[][] prompts = new int[b][];
        for (int i = 0; i < b; i++) prompts[i] = new int[] {0};
        try (InferenceSession session = backend.open(model, opts)) {
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

    /** Greedy choice per sequence, with the sampler's tie rule (lowest index). */
    static void argmax(float[] logits, int batch, int vocab, int[] out) {
        for (int s = 0; s < batch; s++) out[s] = Sampler.argmax(logits, s * vocab, vocab);
    }
}
