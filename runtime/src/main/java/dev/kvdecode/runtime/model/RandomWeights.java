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
        GPT2_MEDIUM("gpt2-medium"),
        /** SmolLM2-135M's shape (LlamaForCausalLM): L=30, C=576, NH=9, NKV=3, HS=64, I=1536, V=49152, tied. */
        SMOLLM2_135M("smollm2-135m"),
        /** Llama-3.2-1B's shape: L=16, C=2048, NH=32, NKV=8, HS=64, I=8192, V=128256, tied, llama3 rope scaling. */
        LLAMA32_1B("llama-3.2-1b");

        public final String cliName;

        Preset(String cliName) { this.cliName = cliName; }

        public ModelConfig config() {
            return switch (this) {
                case CHAR_1024 -> ModelConfig.charGpt(4, 4, 256, 1024, 65);
                case GPT2 -> ModelConfig.gpt2(12, 12, 768, 1024, 50257);
                case GPT2_MEDIUM -> ModelConfig.gpt2(24, 16, 1024, 1024, 50257);
                case SMOLLM2_135M -> llama(30, 576, 9, 3, 1536, 49152, 8192, 1e-5f,
                        new ModelConfig.Rotary(100000, ModelConfig.RopeScaling.NONE));
                case LLAMA32_1B -> llama(16, 2048, 32, 8, 8192, 128256, 131072, 1e-5f,
                        new ModelConfig.Rotary(500000, new ModelConfig.RopeScaling(ModelConfig.RopeType.LLAMA3, 32, 1, 4, 8192)));
            };
        }

        private static ModelConfig llama(int L, int C, int NH, int NKV, int I, int V, int maxT, float eps, ModelConfig.Rotary rope) {
            return new ModelConfig("LlamaForCausalLM", L, C, maxT, V, new ModelConfig.Norm(ModelConfig.NormKind.RMS_NORM, eps),
                    rope, new ModelConfig.Attention(NH, NKV, C / NH, false, false, false),
                    new ModelConfig.Mlp(dev.kvdecode.kernels.Activation.SILU, true, I, false),
                    true, false, TokenizerKind.TOKENIZER_JSON, 1, java.util.List.of(2));
        }

        public static Preset fromCli(String name) {
            for (Preset p : values()) if (p.cliName.equals(name)) return p;
            return null;
        }
    }

    public static Gpt2Weights create(ModelConfig cfg, long seed) {
        if (!cfg.gpt2Layout()) return createFamily(cfg, seed);
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

    /** Any member of the family (the GPT-2 layout above keeps its own draw order, so its presets stay as they were). */
    private static Gpt2Weights createFamily(ModelConfig cfg, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        ModelConfig.Attention a = cfg.attention();
        ModelConfig.Mlp m = cfg.mlp();
        boolean ln = cfg.norm().kind() == ModelConfig.NormKind.LAYER_NORM;
        int c = cfg.nEmbd(), v = cfg.vocabSize(), qkv = a.qkvDim(), q = a.qDim(), fc = m.fcDim(), hid = m.hidden();
        float[] wte = normal(rnd, Math.multiplyExact(v, c), 0.02f);
        float[] wpe = cfg.positions() instanceof ModelConfig.Learned ? normal(rnd, cfg.nPositions() * c, 0.01f) : null;
        List<LayerWeights> layers = new ArrayList<>(cfg.nLayer());
        for (int l = 0; l < cfg.nLayer(); l++) {
            layers.add(new LayerWeights(
                    around(rnd, c, 1f, 0.1f), ln ? normal(rnd, c, 0.02f) : null,
                    F32Matrix.of(normal(rnd, c * qkv, 0.02f), c, qkv), a.qkvBias() ? normal(rnd, qkv, 0.02f) : null,
                    F32Matrix.of(normal(rnd, q * c, 0.02f), q, c), a.outBias() ? normal(rnd, c, 0.02f) : null,
                    around(rnd, c, 1f, 0.1f), ln ? normal(rnd, c, 0.02f) : null,
                    F32Matrix.of(normal(rnd, c * fc, 0.02f), c, fc), m.bias() ? normal(rnd, fc, 0.02f) : null,
                    F32Matrix.of(normal(rnd, hid * c, 0.02f), hid, c), m.bias() ? normal(rnd, c, 0.02f) : null,
                    a.qkNorm() ? around(rnd, a.headSize(), 1f, 0.1f) : null, a.qkNorm() ? around(rnd, a.headSize(), 1f, 0.1f) : null));
        }
        float[] lmHead = cfg.tiedHead() ? wte : normal(rnd, v * c, 0.02f);
        return new Gpt2Weights(cfg, wte, wpe, layers, around(rnd, c, 1f, 0.1f), ln ? normal(rnd, c, 0.02f) : null,
                lmHead, cfg.headBias() ? normal(rnd, v, 0.02f) : null, "F32");
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
