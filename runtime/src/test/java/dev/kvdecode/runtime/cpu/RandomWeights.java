package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.F32Matrix;

import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random checkpoints for tests. Scales are chosen so that activations stay O(1) and logits are
 * peaked (embeddings ~1, linear weights ~1/sqrt(fan_in)): a model whose logits are nearly flat
 * would make "same greedy tokens" a weak check.
 */
public final class RandomWeights {
    private RandomWeights() {}

    public static Gpt2Weights create(ModelConfig cfg, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int C = cfg.nEmbd(), V = cfg.vocabSize(), T = cfg.nPositions();
        float[] wte = uniform(rnd, V * C, 1.0);
        float[] wpe = uniform(rnd, T * C, 0.5);
        List<LayerWeights> layers = new ArrayList<>();
        double s1 = 1.7 / Math.sqrt(C), s4 = 1.7 / Math.sqrt(4 * C);
        for (int l = 0; l < cfg.nLayer(); l++) {
            layers.add(new LayerWeights(
                    around1(rnd, C), uniform(rnd, C, 0.1),
                    F32Matrix.of(uniform(rnd, C * 3 * C, s1), C, 3 * C), cfg.qkvBias() ? uniform(rnd, 3 * C, 0.1) : null,
                    F32Matrix.of(uniform(rnd, C * C, s1), C, C), uniform(rnd, C, 0.1),
                    around1(rnd, C), uniform(rnd, C, 0.1),
                    F32Matrix.of(uniform(rnd, C * 4 * C, s1), C, 4 * C), uniform(rnd, 4 * C, 0.1),
                    F32Matrix.of(uniform(rnd, 4 * C * C, s4), 4 * C, C), uniform(rnd, C, 0.1)));
        }
        float[] lnfW = around1(rnd, C), lnfB = uniform(rnd, C, 0.1);
        float[] head = cfg.tiedHead() ? wte : uniform(rnd, V * C, 1.0);
        float[] headBias = cfg.headBias() ? uniform(rnd, V, 0.5) : null;
        return new Gpt2Weights(cfg, wte, wpe, layers, lnfW, lnfB, head, headBias, "F32");
    }

    public static Model model(ModelConfig cfg, long seed) {
        return new Model("random-" + seed, cfg, create(cfg, seed), null);
    }

    static float[] uniform(SplittableRandom rnd, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        return a;
    }

    static float[] around1(SplittableRandom rnd, int n) {
        float[] a = uniform(rnd, n, 0.2);
        for (int i = 0; i < n; i++) a[i] += 1f;
        return a;
    }
}
