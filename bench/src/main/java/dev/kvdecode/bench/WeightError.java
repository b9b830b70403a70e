package dev.kvdecode.bench;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.CpuSession;
import dev.kvdecode.runtime.cpu.CpuWeightFormat;
import dev.kvdecode.runtime.cpu.PackedHalfWeights;
import dev.kvdecode.runtime.cpu.MatmulWeights;
import dev.kvdecode.runtime.cpu.Q8Weights;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.RandomWeights;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * How far the CPU's reduced-precision weight formats move the logits on a full-size shape (issue 9
 * asks for "logits vs fp32 on GPT-2 shapes"): seeded random weights of a bench preset, one random
 * token sequence fed to an fp32 session and to one session per format, the same tokens to all
 * (teacher forcing), then per position max |logit - fp32 logit| / max |fp32 logit| and whether the
 * argmax agrees. Usage:
 * <pre>java -cp bench/target/kvdecode-cli.jar dev.kvdecode.bench.WeightError [preset] [tokens] [threads]</pre>
 */
public final class WeightError {
    private WeightError() {}

    public static void main(String[] args) {
        String preset = args.length > 0 ? args[0] : "gpt2";
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        RandomWeights.Preset p = RandomWeights.Preset.fromCli(preset);
        if (p == null) throw new IllegalArgumentException("unknown preset " + preset);
        ModelConfig cfg = p.config();
        Gpt2Weights w = RandomWeights.create(cfg, 1234);
        int[] tokens = new SplittableRandom(7).ints(n, 0, cfg.vocabSize()).toArray();
        try (CpuThreads pool = new CpuThreads(threads)) {
            float[][] ref = run(w, null, tokens, pool);
            for (CpuWeightFormat f : new CpuWeightFormat[] {CpuWeightFormat.FP16, CpuWeightFormat.BF16, CpuWeightFormat.INT8}) {
                MatmulWeights mw = f == CpuWeightFormat.INT8 ? Q8Weights.of(w) : PackedHalfWeights.of(w, f.half());
                float[][] got = run(w, mw, tokens, pool);
                double worst = 0, sum = 0;
                int agree = 0;
                for (int t = 0; t < n; t++) {
                    double maxAbs = 0, maxDiff = 0;
                    for (int v = 0; v < ref[t].length; v++) {
                        maxAbs = Math.max(maxAbs, Math.abs(ref[t][v]));
                        maxDiff = Math.max(maxDiff, Math.abs(got[t][v] - ref[t][v]));
                    }
                    double e = maxDiff / maxAbs;
                    worst = Math.max(worst, e);
                    sum += e;
                    if (argmax(got[t]) == argmax(ref[t])) agree++;
                }
                System.out.printf(Locale.ROOT, "%s %s vs fp32, %d positions: rel err mean %.2e, worst %.2e; argmax agrees at %d/%d%n",
                        preset, f.flag(), n, sum / n, worst, agree, n);
            }
        }
    }

    private static float[][] run(Gpt2Weights w, MatmulWeights mw, int[] tokens, CpuThreads pool) {
        CpuSession s = new CpuSession(w, new SessionOptions(1, tokens.length, OverflowPolicy.STOP, true), pool, mw);
        float[][] out = new float[tokens.length][];
        out[0] = s.prefill(new int[][] {{tokens[0]}}).clone();
        for (int t = 1; t < tokens.length; t++) out[t] = s.step(new int[] {tokens[t]}).clone();
        return out;
    }

    private static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
        return best;
    }
}
