package dev.kvdecode.runtime.cpu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.HalfFormat;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.ModelLoader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The Llama family on the CPU against Hugging Face transformers (scripts/reference/make_llama_fixtures.py):
 * tiny random-weight checkpoints written by save_pretrained (GQA ratios 1, 2, 5, MQA, head_dim !=
 * hidden/heads, tied and untied, llama3 and linear rope scaling, q/k/v(/o) biases, Qwen3's q/k
 * norm, F32/F16/BF16, sharded, 4.x and 5.x configs), the float64 model's logits at each of 32
 * greedy steps and its 32 greedy tokens. Relative error of a row: max |java - ref| / max |ref|,
 * bound 1e-4 (fp32 through two blocks is ~1e-6; a wrong op is off by far more).
 */
public class LlamaFixtureTest {
    static final CpuThreads POOL = new CpuThreads(2);
    static final double BOUND = 1e-4;
    static final String[] FIXTURES = {"llama-gqa2-f32", "llama3-mha-bf16", "llama-mqa-f16", "mistral-gqa5-shard",
            "qwen2-bias", "qwen3-headdim"};

    @AfterAll
    static void closePool() { POOL.close(); }

    public record Reference(int[] prompt, int[] greedy, double[][] logits) {}

    public static Path dir(String fixture) {
        try {
            var url = LlamaFixtureTest.class.getResource("/llama-fixtures/" + fixture + "/config.json");
            if (url == null) throw new IllegalStateException("no fixture " + fixture + " on the test class path");
            return Path.of(url.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static Reference reference(Path dir) throws IOException {
        JsonNode r = new ObjectMapper().readTree(dir.resolve("reference.json").toFile());
        int[] prompt = ints(r.get("prompt_ids")), greedy = ints(r.get("greedy_ids"));
        int V = r.get("vocab_size").intValue(), steps = r.get("steps").intValue();
        ByteBuffer bb = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("logits.f64"))).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals((long) steps * V * 8, bb.capacity(), "logits.f64 size");
        double[][] logits = new double[steps][V];
        for (double[] row : logits) for (int v = 0; v < V; v++) row[v] = bb.getDouble();
        return new Reference(prompt, greedy, logits);
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).intValue();
        return out;
    }

    public static double relErr(float[] a, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            num = Math.max(num, Math.abs(a[i] - ref[i]));
            den = Math.max(den, Math.abs(ref[i]));
        }
        return num / den;
    }

    public static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }

    /** Greedy decoding: the generated ids; checks each step's logits against the reference when given. */
    static int[] greedy(CpuSession s, int[] prompt, int steps, Reference ref, double bound, String what) {
        return greedy(s, prompt, steps, ref, steps, bound, what);
    }

    /** As above, checking the logits of the first {@code checked} steps only. */
    static int[] greedy(CpuSession s, int[] prompt, int steps, Reference ref, int checked, double bound, String what) {
        int[] out = new int[steps];
        float[] logits = s.prefill(new int[][] {prompt});
        for (int i = 0; i < steps; i++) {
            if (ref != null && i < checked) {
                double e = relErr(logits, ref.logits()[i]);
                assertTrue(e <= bound, what + " step " + i + ": rel err " + e + " > " + bound);
            }
            out[i] = argmax(logits, 0, s.vocabSize());
            if (i + 1 < steps) logits = s.step(new int[] {out[i]});
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-gqa2-f32", "llama3-mha-bf16", "llama-mqa-f16", "mistral-gqa5-shard", "qwen2-bias", "qwen3-headdim"})
    void greedyTokensAndLogitsMatchTransformers(String fixture) throws IOException {
        Path dir = dir(fixture);
        Gpt2Weights w = ModelLoader.loadWeights(dir);
        Reference ref = reference(dir);
        int steps = ref.greedy().length, ctx = ref.prompt().length + steps;
        for (boolean kv : new boolean[] {true, false}) {
            try (var s = new CpuSession(w, new SessionOptions(1, ctx, OverflowPolicy.STOP, kv), POOL)) {
                int[] got = greedy(s, ref.prompt(), steps, ref, BOUND, fixture + (kv ? " cached" : " recomputed"));
                assertArrayEquals(ref.greedy(), got, fixture + (kv ? " cached" : " recomputed") + " greedy ids");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = CpuWeightFormat.class, names = {"BF16", "FP16", "INT8"})
    void reducedPrecisionFormatsRunTheFamily(CpuWeightFormat format) throws IOException {
        // llama3-mha-bf16 stores bf16 weights, so --dtype bf16 holds them exactly: greedy ids stay identical
        Path dir = dir("llama3-mha-bf16");
        Gpt2Weights w = ModelLoader.loadWeights(dir);
        Reference ref = reference(dir);
        MatmulWeights mw = switch (format) {
            case BF16 -> PackedHalfWeights.of(w, HalfFormat.BF16);
            case FP16 -> PackedHalfWeights.of(w, HalfFormat.FP16);
            default -> Q8Weights.of(w);
        };
        int steps = ref.greedy().length;
        try (var s = new CpuSession(w, new SessionOptions(1, 64, OverflowPolicy.STOP, true), POOL, mw)) {
            // bf16 follows the reference all the way; fp16 and int8 may pick other tokens later, so
            // their logits are checked while the streams agree (the prompt's)
            int checked = format == CpuWeightFormat.BF16 ? steps : 1;
            int[] got = greedy(s, ref.prompt(), steps, ref, checked, format == CpuWeightFormat.BF16 ? 1e-4 : 2e-2, "--dtype " + format);
            if (format == CpuWeightFormat.BF16) assertArrayEquals(ref.greedy(), got, "bf16 greedy ids");
        }
    }

    /** The first layer of a model, as a model of its own. */
    public static Gpt2Weights firstLayer(Gpt2Weights w) {
        ModelConfig c = w.config();
        ModelConfig one = new ModelConfig(c.architecture(), 1, c.nEmbd(), c.nPositions(), c.vocabSize(), c.norm(),
                c.positions(), c.attention(), c.mlp(), c.tiedHead(), c.headBias(), c.tokenizer(), c.bosId(), c.eosIds());
        return new Gpt2Weights(one, w.wte(), w.wpe(), w.layers().subList(0, 1), w.lnfWeight(), w.lnfBias(),
                w.lmHead(), w.lmHeadBias(), w.storedDtype());
    }

    /** Feeds the same greedy stream to two sessions; the worst relative logit difference over n steps. */
    static void sameLogits(CpuSession a, CpuSession b, int n, double bound, String what) {
        int V = a.vocabSize();
        int[] prompt = {1, 17, 42};
        float[] x = a.prefill(new int[][] {prompt}).clone();
        float[] y = b.prefill(new int[][] {prompt});
        for (int i = 0; i <= n; i++) {
            double num = 0, den = 0;
            for (int v = 0; v < V; v++) {
                num = Math.max(num, Math.abs(x[v] - y[v]));
                den = Math.max(den, Math.abs(y[v]));
            }
            assertTrue(num / den <= bound, what + " after " + (prompt.length + i) + " tokens: rel err " + num / den);
            if (i == n) break;
            int next = argmax(y, 0, V);
            x = a.step(new int[] {next}).clone();
            y = b.step(new int[] {next});
        }
    }

    /**
     * Past the window, SHIFT with rotary positions keeps each key rotated to its slot and turns the
     * kept keys back when the window moves, so the window always holds positions that differ from
     * 0..capacity-1 by one constant, and RoPE scores depend only on differences. In one layer a
     * token's K/V depend only on the token and its position, so after any number of shifts the
     * cached logits equal a fresh recompute of the same window at positions 0..capacity-1 (fp32,
     * 1e-5 relative); with more layers the cached K/V also carry the evicted tokens (the cache and
     * the recompute differ by design past the window, docs/ARCHITECTURE.md "Overflow"), and
     * SHIFT must equal RING, whose positions keep growing with no rotation back.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama-gqa2-f32", "qwen3-headdim", "mistral-gqa5-shard", "llama3-mha-bf16"})
    void afterAnyNumberOfShiftsTheCacheHoldsTheWindowsPositions(String fixture) {
        Gpt2Weights w = ModelLoader.loadWeights(dir(fixture));
        int ctx = 7, n = 40;   // the 2 x capacity window moves back every 8 tokens: 4 moves
        for (OverflowPolicy policy : new OverflowPolicy[] {OverflowPolicy.SHIFT, OverflowPolicy.RING})
            try (var cached = new CpuSession(firstLayer(w), new SessionOptions(1, ctx, policy, true), POOL);
                 var recomputed = new CpuSession(firstLayer(w), new SessionOptions(1, ctx, policy, false), POOL)) {
                sameLogits(cached, recomputed, n, 1e-5, fixture + " one layer, " + policy + " cached vs recomputed");
                assertEquals(3 + n, cached.tokensSeen(0));
            }
        try (var shift = new CpuSession(w, new SessionOptions(1, ctx, OverflowPolicy.SHIFT, true), POOL);
             var ring = new CpuSession(w, new SessionOptions(1, ctx, OverflowPolicy.RING, true), POOL)) {
            sameLogits(shift, ring, n, 1e-5, fixture + " SHIFT vs RING");
        }
        // --kv-dtype bf16: the rotation back rounds the moved keys to bf16 once more, so SHIFT stays
        // within bf16's precision of RING (2^-8 relative per key), not bit-close
        try (var shift = new CpuSession(w, new SessionOptions(1, ctx, OverflowPolicy.SHIFT, true), POOL, null, true);
             var ring = new CpuSession(w, new SessionOptions(1, ctx, OverflowPolicy.RING, true), POOL, null, true)) {
            sameLogits(shift, ring, n, 3e-2, fixture + " kv bf16, SHIFT vs RING");
        }
    }

    /** Random weights of a family shape (the bench presets' path): cached equals recomputed within the window. */
    @org.junit.jupiter.api.Test
    void randomFamilyWeightsDecodeTheSameCachedAndRecomputed() {
        ModelConfig cfg = new ModelConfig("LlamaForCausalLM", 2, 48, 64, 97,
                new ModelConfig.Norm(ModelConfig.NormKind.RMS_NORM, 1e-5f),
                new ModelConfig.Rotary(500000, new ModelConfig.RopeScaling(ModelConfig.RopeType.LLAMA3, 32, 1, 4, 16)),
                new ModelConfig.Attention(6, 2, 8, false, false, true),
                new ModelConfig.Mlp(dev.kvdecode.kernels.Activation.SILU, true, 80, false),
                true, false, dev.kvdecode.runtime.model.TokenizerKind.TOKENIZER_JSON, 1, java.util.List.of(2));
        Gpt2Weights w = dev.kvdecode.runtime.model.RandomWeights.create(cfg, 7);
        assertNull(w.wpe());
        assertEquals("smollm2-135m", dev.kvdecode.runtime.model.RandomWeights.Preset.fromCli("smollm2-135m").cliName);
        try (var a = new CpuSession(w, new SessionOptions(1, 30, OverflowPolicy.STOP, true), POOL);
             var b = new CpuSession(w, new SessionOptions(1, 30, OverflowPolicy.STOP, false), POOL)) {
            sameLogits(a, b, 20, 1e-5, "random family weights, cached vs recomputed");
        }
    }

    /** slide (generate's default): past the window both modes re-encode the same windows from position 0. */
    @org.junit.jupiter.api.Test
    void slideGivesTheSameGreedyTokensWithAndWithoutTheCachePastTheWindow() {
        Gpt2Weights w = ModelLoader.loadWeights(dir("llama-mqa-f16"));
        var opts = new dev.kvdecode.runtime.engine.GenerationOptions(40,
                dev.kvdecode.runtime.sample.SamplingParams.greedyDecoding(), -1, true, 5);
        int[][] got = new int[2][];
        for (int m = 0; m < 2; m++)
            try (var s = new CpuSession(w, new SessionOptions(1, 10, OverflowPolicy.STOP, m == 0), POOL)) {
                got[m] = dev.kvdecode.runtime.engine.Generator.generate(s, new int[][] {{1, 17, 42, 99}}, opts, null).tokens()[0];
            }
        assertEquals(40, got[0].length);
        assertArrayEquals(got[0], got[1], "slide: cached vs recomputed greedy tokens");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aBatchDecodesEachSequenceAsAlone(boolean kv) {
        Gpt2Weights w = ModelLoader.loadWeights(dir("qwen2-bias"));
        int[][] prompts = {{1, 5, 9, 200}, {3, 77, 12, 8}};
        int V = w.config().vocabSize();
        float[][] alone = new float[2][];
        for (int b = 0; b < 2; b++)
            try (var s = new CpuSession(w, new SessionOptions(1, 16, OverflowPolicy.SHIFT, kv), POOL)) {
                s.prefill(new int[][] {prompts[b]});
                alone[b] = s.step(new int[] {b + 40}).clone();
            }
        try (var s = new CpuSession(w, new SessionOptions(2, 16, OverflowPolicy.SHIFT, kv), POOL)) {
            s.prefill(prompts);
            float[] both = s.step(new int[] {40, 41});
            for (int b = 0; b < 2; b++)
                for (int v = 0; v < V; v++)
                    assertEquals(alone[b][v], both[b * V + v], 1e-6f * (1 + Math.abs(alone[b][v])), "sequence " + b + " id " + v);
        }
    }
}
