package dev.kvdecode.runtime.cuda;

import dev.kvdecode.kernels.cuda.DType;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.CpuBackend;
import dev.kvdecode.runtime.cpu.LlamaFixtureTest;
import dev.kvdecode.runtime.engine.GenerationOptions;
import dev.kvdecode.runtime.engine.Generator;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.sample.SamplingParams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The Llama family on the CUDA backend (the emulator in CI; a real GPU with
 * KVDECODE_TEST_BACKEND=cuda) against Hugging Face transformers' stored greedy tokens and float64
 * logits (LlamaFixtureTest's fixtures: GQA 1, 2, 5, MQA, head_dim != hidden/heads, llama3 and
 * linear rope scaling, q/k/v biases, Qwen3's q/k norm, F32/F16/BF16 checkpoints, sharded) and
 * against the CPU backend past the window (SHIFT, whose 2 x capacity window turns the kept keys
 * back when it moves, and RING). fp32 session dtype: other summation orders than the CPU's, so
 * logits within 1e-4 relative (the fixtures' bound), greedy tokens identical.
 */
class LlamaCudaFixtureTest {
    static CudaBackend gpu;
    static final CpuBackend CPU = new CpuBackend(1);
    static final double BOUND = 1e-4;

    @BeforeAll
    static void open() { gpu = Emu.open(Emu.options(true)); }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
        CPU.close();
    }

    static Model model(String fixture) {
        Gpt2Weights w = ModelLoader.loadWeights(LlamaFixtureTest.dir(fixture));
        return new Model(fixture, w.config(), w, null);
    }

    /** Greedy decoding over the InferenceSession interface; checks the first {@code checked} steps' logits against ref. */
    static int[] greedy(InferenceSession s, int[] prompt, int steps, LlamaFixtureTest.Reference ref, int checked, double bound,
                        String what) {
        int[] out = new int[steps];
        float[] logits = s.prefill(new int[][] {prompt});
        for (int i = 0; i < steps; i++) {
            if (i < checked) {
                double e = LlamaFixtureTest.relErr(logits, ref.logits()[i]);
                assertTrue(e <= bound, what + " step " + i + ": rel err " + e + " > " + bound);
            }
            out[i] = LlamaFixtureTest.argmax(logits, 0, s.vocabSize());
            if (i + 1 < steps) logits = s.step(new int[] {out[i]});
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-gqa2-f32", "llama3-mha-bf16", "llama-mqa-f16", "mistral-gqa5-shard", "qwen2-bias", "qwen3-headdim"})
    void greedyTokensAndLogitsMatchTransformersCachedAndRecomputed(String fixture) throws IOException {
        Model m = model(fixture);
        Path dir = LlamaFixtureTest.dir(fixture);
        LlamaFixtureTest.Reference ref = LlamaFixtureTest.reference(dir);
        int steps = ref.greedy().length, ctx = ref.prompt().length + steps;
        for (boolean kv : new boolean[] {true, false}) {
            String what = fixture + (kv ? " cached" : " recomputed") + " on " + gpu.name();
            try (CudaSession s = gpu.open(m, new SessionOptions(1, ctx, OverflowPolicy.STOP, kv))) {
                int[] got = greedy(s, ref.prompt(), steps, ref, steps, BOUND, what);
                assertArrayEquals(ref.greedy(), got, what + " greedy ids");
            }
        }
    }

    /**
     * Past the window (a 7-token context, 40 tokens: the 2 x capacity window moves back 4 times and
     * the ring wraps 6 times): the device loop (graph replay), the host loop and the CPU give the
     * same greedy tokens, for SHIFT and RING, cached, and for SHIFT recomputed.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama-gqa2-f32", "qwen3-headdim", "mistral-gqa5-shard", "llama-mqa-f16"})
    void pastTheWindowTheTokensEqualTheCpus(String fixture) {
        Model m = model(fixture);
        int[][] prompts = {{1, 17, 42}};
        GenerationOptions greedy = new GenerationOptions(40, SamplingParams.greedyDecoding(), -1, true);
        SessionOptions[] cases = {new SessionOptions(1, 7, OverflowPolicy.SHIFT, true),
                new SessionOptions(1, 7, OverflowPolicy.RING, true), new SessionOptions(1, 7, OverflowPolicy.SHIFT, false)};
        for (SessionOptions so : cases) {
            int[] want;
            try (InferenceSession c = CPU.open(m, so)) {
                want = Generator.generate(c, prompts, greedy, null).tokens()[0];
            }
            assertEquals(40, want.length);
            try (CudaSession g = gpu.open(m, so)) {
                assertArrayEquals(want, g.generateOnDevice(prompts, greedy, null).tokens()[0], fixture + " device loop, " + so);
            }
            try (CudaSession g = gpu.open(m, so, Emu.options(false))) {
                assertArrayEquals(want, Generator.generate(g, prompts, greedy, null).tokens()[0], fixture + " host loop, " + so);
            }
        }
    }

    /** Every step's logits past the window, teacher-forced on the CPU's greedy stream: SHIFT's rotated keys, fp32. */
    @Test
    void pastTheWindowEveryStepsLogitsEqualTheCpus() {
        Model m = model("qwen3-headdim");
        for (OverflowPolicy policy : new OverflowPolicy[] {OverflowPolicy.SHIFT, OverflowPolicy.RING}) {
            SessionOptions so = new SessionOptions(1, 7, policy, true);
            try (InferenceSession c = CPU.open(m, so); CudaSession g = gpu.open(m, so)) {
                float[] want = c.prefill(new int[][] {{1, 17, 42}}).clone();
                float[] got = g.prefill(new int[][] {{1, 17, 42}});
                for (int i = 0; i < 30; i++) {
                    double num = 0, den = 0;
                    for (int v = 0; v < want.length; v++) {
                        num = Math.max(num, Math.abs(want[v] - got[v]));
                        den = Math.max(den, Math.abs(want[v]));
                    }
                    assertTrue(num / den <= BOUND, policy + " after " + (3 + i) + " tokens: rel err " + num / den);
                    int next = LlamaFixtureTest.argmax(want, 0, want.length);
                    want = c.step(new int[] {next}).clone();
                    got = g.step(new int[] {next});
                }
            }
        }
    }

    /**
     * fp16 and bf16 sessions: weights, the norms' outputs, the attention output, the MLP hidden
     * and the cache are rounded to the dtype (fp32 accumulation), so the first logits stay within
     * the dtype's precision of float64 (llama3-mha-bf16 stores bf16 weights: bf16 holds them exactly).
     */
    @ParameterizedTest
    @ValueSource(strings = {"F16", "BF16"})
    void halfPrecisionSessionsRunTheFamily(String dtype) throws IOException {
        DType dt = DType.valueOf(dtype);
        for (String fixture : new String[] {"llama3-mha-bf16", "qwen3-headdim"}) {
            Model m = model(fixture);
            LlamaFixtureTest.Reference ref = LlamaFixtureTest.reference(LlamaFixtureTest.dir(fixture));
            try (CudaSession s = gpu.open(m, new SessionOptions(1, 64, OverflowPolicy.STOP, true),
                    new CudaOptions(dt, true, 16, 3, 0))) {
                greedy(s, ref.prompt(), 4, ref, 1, dt == DType.F16 ? 5e-3 : 3e-2, fixture + " " + dtype);
            }
        }
    }

    /**
     * A Llama-family decode step takes GPT-2's 7 launches per layer plus 4 (CudaLaunchBudgetTest):
     * gemv_rms_bias qkv, rope_kv_append, decode_attention_chunk, reduce, gemv o + residual,
     * gemv_rms_swiglu, gemv down + residual; embed, gemv_rms_bias LM head, counters, argmax.
     */
    @Test
    void aDecodeStepTakesSevenLaunchesPerLayerPlusFour() {
        for (String fixture : new String[] {"qwen3-headdim", "mistral-gqa5-shard"}) {
            Model m = model(fixture);
            int L = m.config().nLayer();
            for (int batch : new int[] {1, 3}) {
                try (CudaSession s = gpu.open(m, new SessionOptions(batch, 12, OverflowPolicy.SHIFT, true))) {
                    int[][] prompts = new int[batch][];
                    for (int b = 0; b < batch; b++) prompts[b] = new int[] {1 + b, 17, 42 + b};
                    s.prefill(prompts);
                    var launches = s.recordStep(new int[batch]);
                    assertEquals(7 * L + 4, launches.size(), fixture + " batch " + batch + ": " + launches);
                    assertEquals(L, launches.stream().filter(l -> l.kernel().startsWith("rope_kv_append")).count(), "rope_kv_append");
                    assertEquals(L, launches.stream().filter(l -> l.kernel().startsWith("gemv_rms_swiglu")).count(), "gemv_rms_swiglu");
                    assertEquals(L + 1, launches.stream().filter(l -> l.kernel().startsWith("gemv_rms_bias")).count(), "gemv_rms_bias");
                    assertTrue(launches.stream().noneMatch(l -> l.kernel().startsWith("cublas")), "no cuBLAS in a decode step of <= 8 rows");
                }
            }
        }
    }

    /** Several eos ids (Llama 3's config + generation_config): generate stops at any of them, as the CPU does. */
    @Test
    void generateStopsAtAnyOfSeveralEosIds() {
        Model m = model("llama-gqa2-f32");
        SessionOptions so = new SessionOptions(1, 64, OverflowPolicy.STOP, true);
        int[][] prompts = {{1, 17, 42}};
        int[] free;
        try (InferenceSession c = CPU.open(m, so)) {
            free = Generator.generate(c, prompts, new GenerationOptions(20, SamplingParams.greedyDecoding(), -1, true), null).tokens()[0];
        }
        // eos = the 6th generated token and an id that never comes: the stream ends there on both backends
        GenerationOptions go = new GenerationOptions(20, SamplingParams.greedyDecoding(), new int[] {free[5], 255}, false, 0);
        int[] want;
        try (InferenceSession c = CPU.open(m, so)) {
            want = Generator.generate(c, prompts, go, null).tokens()[0];
        }
        assertTrue(want.length <= 6, "test setup: the eos id ends the CPU's stream");
        try (CudaSession g = gpu.open(m, so)) {
            assertArrayEquals(want, g.generate(prompts, go, null).tokens()[0]);
        }
    }

    /**
     * Batches: 2 sequences (the GEMV step) and 9 (more than the GEMV's 8 rows: the step's matmuls go
     * to cuBLAS and the norms to residual_rmsnorm), unequal prompts, past a window of 8 with SHIFT:
     * the CPU's greedy tokens for every sequence.
     */
    @Test
    void batchesDecodeLikeTheCpu() {
        Model m = model("qwen2-bias");
        GenerationOptions greedy = new GenerationOptions(12, SamplingParams.greedyDecoding(), -1, true);
        for (int batch : new int[] {2, 9}) {
            int[][] prompts = new int[batch][];
            for (int b = 0; b < batch; b++) {
                prompts[b] = new int[1 + b % 4];
                for (int t = 0; t < prompts[b].length; t++) prompts[b][t] = (31 * b + 7 * t + 3) % m.config().vocabSize();
            }
            SessionOptions so = new SessionOptions(batch, 8, OverflowPolicy.SHIFT, true);
            int[][] want;
            try (InferenceSession c = CPU.open(m, so)) {
                want = Generator.generate(c, prompts, greedy, null).tokens();
            }
            try (CudaSession g = gpu.open(m, so)) {
                int[][] got = g.generateOnDevice(prompts, greedy, null).tokens();
                for (int b = 0; b < batch; b++) assertArrayEquals(want[b], got[b], "batch " + batch + ", sequence " + b);
            }
        }
    }

    /** Chunked prefill (serve --prefill-chunk) of a rotary model: rope_kv_prefill_append_at turns each chunk's q and k to their positions. */
    @ParameterizedTest
    @ValueSource(strings = {"llama-gqa2-f32", "qwen2-bias", "qwen3-headdim"})
    void chunkedPrefillMatchesOnePass(String fixture) throws IOException {
        Model m = model(fixture);
        LlamaFixtureTest.Reference ref = LlamaFixtureTest.reference(LlamaFixtureTest.dir(fixture));
        int[] p = ref.prompt();
        int V = m.config().vocabSize(), ctx = p.length + 4;
        try (CudaSession g = gpu.open(m, new SessionOptions(2, ctx, OverflowPolicy.STOP, true))) {
            float[] whole = java.util.Arrays.copyOfRange(g.prefillSlot(1, p), V, 2 * V);
            for (int chunk : new int[] {1, 3}) {
                float[] lg = null;
                for (int from = 0; from < p.length; from += chunk)
                    lg = g.prefillSlotChunk(1, p, from, Math.min(p.length, from + chunk));
                assertEquals(p.length, g.tokensSeen(1));
                float[] chunked = java.util.Arrays.copyOfRange(lg, V, 2 * V);
                double[] wd = new double[V];
                for (int i = 0; i < V; i++) wd[i] = whole[i];
                double e = LlamaFixtureTest.relErr(chunked, wd);
                assertTrue(e <= BOUND, fixture + " chunks of " + chunk + ": rel err " + e + " > " + BOUND);
                double h = LlamaFixtureTest.relErr(chunked, ref.logits()[0]);
                assertTrue(h <= BOUND, fixture + " chunks of " + chunk + " vs transformers: rel err " + h + " > " + BOUND);
            }
        }
    }
}
