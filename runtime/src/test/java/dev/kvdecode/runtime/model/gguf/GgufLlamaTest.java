package dev.kvdecode.runtime.model.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvdecode.kernels.F32Matrix;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.tokenizer.ChatMessage;
import dev.kvdecode.runtime.tokenizer.ChatTemplate;
import dev.kvdecode.runtime.tokenizer.HfTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Llama-family GGUF files written by the {@code gguf} Python package from the llama-fixtures
 * checkpoints (scripts/reference/make_llama_gguf_fixtures.py, as llama.cpp's converter writes
 * them: q/k permuted for architecture llama, llama3 scaling as rope_freqs.weight):
 * <ul>
 *   <li>F32, F16 and BF16 files read back exactly the safetensors weights (the permutation
 *       undone), so the logits are bit-identical;</li>
 *   <li>Q8_0 files give the logits of transformers (float64) on the weights as
 *       gguf.quants.dequantize gives them, within 1e-5 relative per position;</li>
 *   <li>the embedded tokenizers give the ids of transformers' own GGUF tokenizer conversion.</li>
 * </ul>
 */
class GgufLlamaTest {
    static final double BOUND = 1e-5;

    static Path fixture(String name) {
        try {
            var url = GgufLlamaTest.class.getResource("/llama-fixtures/" + name + "/config.json");
            if (url == null) throw new IllegalStateException("no fixture " + name + " on the test class path");
            return Path.of(url.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static JsonNode reference(Path dir) throws Exception {
        return new ObjectMapper().readTree(dir.resolve("gguf-reference.json").toFile());
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).intValue();
        return out;
    }

    /** The config without the eos ids (a GGUF names eos/eot/eom, config.json and generation_config.json may list more). */
    static ModelConfig withoutEos(ModelConfig c) {
        return new ModelConfig(c.architecture(), c.nLayer(), c.nEmbd(), c.nPositions(), c.vocabSize(), c.norm(), c.positions(),
                c.attention(), c.mlp(), c.tiedHead(), c.headBias(), c.tokenizer(), c.bosId(), List.of());
    }

    static void assertSameBits(float[] a, float[] b, String what) {
        if (a == null || b == null) {
            assertSame(a, b, what + ": present in one only");
            return;
        }
        assertEquals(a.length, b.length, what + ": length");
        for (int i = 0; i < a.length; i++)
            if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i]))
                fail(what + "[" + i + "]: " + a[i] + " (safetensors) != " + b[i] + " (gguf)");
    }

    static void assertSameBits(F32Matrix a, F32Matrix b, String what) { assertSameBits(a.flat(), b.flat(), what); }

    @ParameterizedTest
    @CsvSource({"llama-gqa2-f32, model-f32.gguf, F32", "llama-mqa-f16, model-f16.gguf, F16", "qwen3-headdim, model-bf16.gguf, BF16"})
    void unquantizedFilesReadTheSafetensorsWeightsAndLogitsBitForBit(String name, String file, String dtype) throws Exception {
        Path dir = fixture(name);
        Gpt2Weights st = ModelLoader.loadWeights(dir);
        Gpt2Weights gg = ModelLoader.loadWeights(dir.resolve(file));
        assertEquals(withoutEos(st.config()), withoutEos(gg.config()), file + ": config");
        assertEquals(dtype, gg.storedDtype());
        assertSameBits(st.wte(), gg.wte(), "wte");
        assertSameBits(st.lmHead(), gg.lmHead(), "lm head");
        assertSameBits(st.lnfWeight(), gg.lnfWeight(), "final norm");
        for (int l = 0; l < st.layers().size(); l++) {
            LayerWeights a = st.layers().get(l), b = gg.layers().get(l);
            String p = "layer " + l + " ";
            assertSameBits(a.ln1Weight(), b.ln1Weight(), p + "attn norm");
            assertSameBits(a.attnWeight(), b.attnWeight(), p + "qkv (permutation undone)");
            assertSameBits(a.attnBias(), b.attnBias(), p + "qkv bias");
            assertSameBits(a.attnProjWeight(), b.attnProjWeight(), p + "o_proj");
            assertSameBits(a.ln2Weight(), b.ln2Weight(), p + "ffn norm");
            assertSameBits(a.fcWeight(), b.fcWeight(), p + "gate|up");
            assertSameBits(a.fcProjWeight(), b.fcProjWeight(), p + "down");
            assertSameBits(a.qNorm(), b.qNorm(), p + "q norm");
            assertSameBits(a.kNorm(), b.kNorm(), p + "k norm");
        }
        int[] prompt = ints(reference(dir).get("prompt_ids"));
        float[] x = GgufFixtureTest.logits(st, prompt), y = GgufFixtureTest.logits(gg, prompt);
        for (int i = 0; i < x.length; i++)
            assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(y[i]), file + ": logit " + i + " differs");
    }

    @ParameterizedTest
    @CsvSource({"llama-gqa2-f32, model-q8_0.gguf", "qwen2-bias, model-q8_0.gguf", "llama3-mha-bf16, model-q8_0.gguf"})
    void q8FilesMatchTransformersOnTheDequantizedWeights(String name, String file) throws Exception {
        Path dir = fixture(name);
        JsonNode ref = reference(dir).get("files").get(file);
        int[] prompt = ints(reference(dir).get("prompt_ids"));
        List<String> notices = new java.util.ArrayList<>();
        Gpt2Weights w = GgufModels.loadWeights(dir.resolve(file), notices::add);
        assertEquals(1, notices.size(), "one notice for the dequantized types");
        int V = w.config().vocabSize();
        ByteBuffer bb = ByteBuffer.wrap(Files.readAllBytes(dir.resolve(ref.get("logits_file").asText()))).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals((long) prompt.length * V * 8, bb.capacity());
        float[] want = new float[prompt.length * V];
        for (int i = 0; i < want.length; i++) want[i] = (float) bb.getDouble();
        float[] got = GgufFixtureTest.logits(w, prompt);
        for (int t = 0; t < prompt.length; t++) {
            double err = GgufFixtureTest.relErr(got, want, t * V, V);
            assertTrue(err < BOUND, file + " of " + name + ": position " + t + " relative error " + err);
        }
    }

    /** llama3 scaling, stored as rope_freqs.weight, comes back as parameters that give the same frequencies. */
    @Test
    void ropeFreqsTensorIsReadAsLlama3Scaling() throws Exception {
        Path dir = fixture("llama3-mha-bf16");
        ModelConfig hf = ModelLoader.readConfig(dir);
        try (GgufFile f = GgufFile.open(dir.resolve("model-q8_0.gguf"))) {
            ModelConfig g = GgufModels.config(f);
            ModelConfig.Rotary a = (ModelConfig.Rotary) hf.positions(), b = (ModelConfig.Rotary) g.positions();
            assertEquals(ModelConfig.RopeType.LLAMA3, b.scaling().type());
            assertEquals(a.scaling().factor(), b.scaling().factor(), 1e-6);
            float[] x = dev.kvdecode.kernels.Rope.llama3(dev.kvdecode.kernels.Rope.invFreq(hf.headSize(), a.theta()), a.scaling().factor(),
                    a.scaling().lowFreqFactor(), a.scaling().highFreqFactor(), a.scaling().originalMaxPositions());
            float[] y = dev.kvdecode.kernels.Rope.llama3(dev.kvdecode.kernels.Rope.invFreq(g.headSize(), b.theta()), b.scaling().factor(),
                    b.scaling().lowFreqFactor(), b.scaling().highFreqFactor(), b.scaling().originalMaxPositions());
            for (int i = 0; i < x.length; i++) assertEquals(x[i], y[i], 1e-6 * x[i], "inverse frequency " + i);
        }
    }

    /**
     * Real llama3 shapes (Llama 3.1 8B: HS 128, theta 500000, factor 8, low 1, high 4, original
     * 8192; Llama 3.2 1B: factor 32), their rope_freqs made as convert_hf_to_gguf.py makes them
     * (float32 frequencies, Python double arithmetic, stored as float32): the fitted parameters
     * give the original inverse frequencies within 1e-6 relative.
     */
    @ParameterizedTest
    @CsvSource({"128, 500000, 8, 1, 4, 8192, 131072", "64, 500000, 32, 1, 4, 8192, 131072", "128, 500000, 8, 2, 8, 4096, 65536"})
    void ropeFreqsOfRealLlama3ShapesAreFitted(int hs, double theta, double factor, double low, double high, int orig, int maxT) {
        float[] inv = dev.kvdecode.kernels.Rope.invFreq(hs, theta);
        float[] fac = new float[hs / 2];
        for (int i = 0; i < fac.length; i++) {
            double wl = 2 * Math.PI / inv[i];
            if (wl < orig / high) fac[i] = 1;
            else if (wl > orig / low) fac[i] = (float) factor;
            else {
                double s = (orig / wl - low) / (high - low);
                fac[i] = (float) (1 / ((1 - s) / factor + s));
            }
        }
        byte[] bytes = new GgufWriter().string("general.architecture", "llama")
                .floats("rope_freqs.weight", GgmlType.F32, new long[] {hs / 2}, fac).toBytes();
        GgufFile f = GgufFile.parse(bytes);
        ModelConfig.RopeScaling sc = Llama3Rope.fromFactors(f, theta, hs, maxT);
        assertEquals(factor, sc.factor(), 1e-6);
        float[] want = dev.kvdecode.kernels.Rope.llama3(inv, factor, low, high, orig);
        float[] got = dev.kvdecode.kernels.Rope.llama3(inv, sc.factor(), sc.lowFreqFactor(), sc.highFreqFactor(), sc.originalMaxPositions());
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-6 * want[i], "inverse frequency " + i);
    }

    @ParameterizedTest
    @CsvSource({"llama-gqa2-f32, model-f32.gguf", "llama-mqa-f16, model-f16.gguf", "qwen3-headdim, model-bf16.gguf", "qwen2-bias, model-q8_0.gguf"})
    void embeddedTokenizerGivesTransformersIds(String name, String file) throws Exception {
        Path dir = fixture(name);
        JsonNode ref = reference(dir).get("files").get(file);
        Model m = ModelLoader.load(dir.resolve(file));
        HfTokenizer tok = (HfTokenizer) m.tokenizer();
        boolean spm = ref.get("architecture").asText().equals("llama");
        for (JsonNode c : ref.get("tokenizer_cases")) {
            String text = c.get("text").asText();
            int[] want = ints(c.get("ids"));
            assertArrayEquals(want, tok.encode(text, false), file + ": " + text);
            int[] withSpecial = tok.encode(text);
            if (spm) {   // add_bos_token: the file's BOS first
                assertEquals(1, withSpecial[0]);
                assertArrayEquals(want, java.util.Arrays.copyOfRange(withSpecial, 1, withSpecial.length));
            } else {
                assertArrayEquals(want, withSpecial);
            }
            assertEquals(text, tok.decode(want), file + ": decode");
        }
        if (spm)   // a character outside the vocabulary (no byte tokens here) is <unk>, as llama.cpp gives it
            assertArrayEquals(new int[] {1, tok.encode("the", false)[0], 0}, tok.encode("the\u00e9"));
        assertEquals(1, tok.bosToken());
        assertEquals(2, tok.eosToken());
        assertTrue(m.config().eosIds().contains(2));
    }

    @Test
    void chatTemplateComesFromTheFile() {
        Path file = fixture("qwen3-headdim").resolve("model-bf16.gguf");
        ChatTemplate t = ChatTemplate.load(file).orElseThrow();
        assertEquals("<|user|>hi<|assistant|>", t.render(List.of(new ChatMessage("user", "hi")), true));
    }
}
