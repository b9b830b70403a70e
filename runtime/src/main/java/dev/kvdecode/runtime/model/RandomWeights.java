package dev.kvdecode.runtime.model;

import dev.kvdecode.kernels.F32Matrix;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Seeded random weights of any shape: for timing (the benchmark presets) and for tests that need
 * checkpoints of awkward sizes. Values follow GPT-2's initialisation scale (normal, std 0.02;
 * LayerNorm gain 1 +- a little, small biases) so activations stay in a realistic range.
 */
public final class RandomWeights {
    private RandomWeights() {}

    /** Named shapes used by {@code kvdecode bench --preset}. */
    public enum Preset {
        /** The tutorial's char-level GPT: L=4, C=256, NH=4, maxT=1024, V=65. */
        CHAR_1024("char-1024"),
        /** GPT-2 small (124M): L=12, C=768, NH=12, maxT=1024, V=50257. */
        GPT2("gpt2"),
        /** GPT-2 medium (355M): L=24, C=1024, NH=16, maxT=1024, V=50257. */
        GPT2_MEDIUM("gpt2-medium");

        public final String cliName;

        Preset(String cliName) { this.cliName = cliName; }

        public ModelConfig config() {
            return switch (this) {
                case CHAR_1024 -> ModelConfig.charGpt(4, 4, 256, 1024, 65);
                case GPT2 -> ModelConfig.gpt2(12, 12, 768, 1024, 50257);
                case GPT2_MEDIUM -> ModelConfig.gpt2(24, 16, 1024, 1024, 50257);
            };
        }

        public static Preset fromCli(String name) {
            for (Preset p : values()) if (p.cliName.equals(name)) return p;
            return null;
        }
    }

    public static Gpt2Weights create(ModelConfig cfg, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int c = cfg.nEmbd(), v = cfg.vocabSize();
        float[] wte = normal(rnd, v * c, 0.02f);
        float[] wpe = normal(rnd, cfg.nPositions() * c, 0.01f);
        List<LayerWeights> layers = new ArrayList<>(cfg.nLayer());
        for (int l = 0; l < cfg.nLayer(); l++) {
            layers.add(new LayerWeights(
                    around(rnd, c, 1f, 0.1f), normal(rnd, c, 0.02f),
                    F32Matrix.of(normal(rnd, c * 3 * c, 0.02f), c, 3 * c), cfg.qkvBias() ? normal(rnd, 3 * c, 0.02f) : null,
                    F32Matrix.of(normal(rnd, c * c, 0.02f), c, c), normal(rnd, c, 0.02f),
                    around(rnd, c, 1f, 0.1f), normal(rnd, c, 0.02f),
                    F32Matrix.of(normal(rnd, c * 4 * c, 0.02f), c, 4 * c), normal(rnd, 4 * c, 0.02f),
                    F32Matrix.of(normal(rnd, 4 * c * c, 0.02f), 4 * c, c), normal(rnd, c, 0.02f)));
        }
        float[] lmHead = cfg.tiedHead() ? wte : normal(rnd, v * c, 0.02f);
        float[] lmHeadBias = cfg.headBias() ? normal(rnd, v, 0.02f) : null;
        return new Gpt2Weights(cfg, wte, wpe, layers, around(rnd, c, 1f, 0.1f), normal(rnd, c, 0.02f),
                lmHead, lmHeadBias, "F32");
    }

    private static float[] normal(SplittableRandom rnd, int n, float std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (gaussian(rnd) * std);
        return a;
    }

    private static float[] around(SplittableRandom rnd, int n, float mean, float spread) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = mean + (float) ((rnd.nextDouble() * 2 - 1) * spread);
        return a;
    }

    /** Box-Muller; SplittableRandom has no nextGaussian of its own that is stable across JDKs. */
    private static double gaussian(SplittableRandom rnd) {
        double u1 = rnd.nextDouble(), u2 = rnd.nextDouble();
        if (u1 < 1e-300) u1 = 1e-300;
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
}
