package dev.kvdecode.runtime.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvdecode.kernels.Activation;
import dev.kvdecode.runtime.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

class ModelLoaderTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path tmp;

    private static final Path GPT2 = FixtureLogits.dir("gpt2-tiny");
    private static final Path CHAR = FixtureLogits.dir("char-tiny");

    /** float64 sum of a tensor as numpy computed it (reference.json, tensor_checks). */
    private static double numpySum(Path fixture, String tensor) throws IOException {
        return JSON.readTree(fixture.resolve("reference.json").toFile()).get("tensor_checks").get(tensor).get("sum").doubleValue();
    }

    private static double sum(float[] v) {
        double s = 0;
        for (float x : v) s += x;
        return s;
    }

    /**
     * Copies a fixture into tmp, rewriting model.safetensors through {@code rename} (null drops a
     * tensor), letting {@code edit} add or replace tensors and {@code config} change config.json.
     */
    private Path variant(Path fixture, UnaryOperator<String> rename, Consumer<SafeTensorsWriter> edit,
                         Consumer<ObjectNode> config) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        SafeTensorsWriter w = new SafeTensorsWriter();
        try (SafeTensors st = SafeTensors.open(fixture.resolve("model.safetensors"))) {
            w.copyFrom(st, rename);
        }
        edit.accept(w);
        w.write(dir.resolve("model.safetensors"));
        ObjectNode cfg = (ObjectNode) JSON.readTree(fixture.resolve("config.json").toFile());
        config.accept(cfg);
        JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
        return dir;
    }

    private Path configVariant(Path fixture, Consumer<ObjectNode> config) throws IOException {
        return variant(fixture, n -> n, w -> {}, config);
    }

    private static String loadError(Path dir) {
        return assertThrows(ModelFormatException.class, () -> ModelLoader.loadWeights(dir)).getMessage();
    }

    // ---- the numpy-written fixtures

    @Test
    void loadsHubStyleGpt2Checkpoint() throws IOException {
        Gpt2Weights w = ModelLoader.loadWeights(GPT2);
        ModelConfig c = w.config();
        assertEquals(new ModelConfig(2, 3, 48, 64, 50257, 1e-5f, Activation.GELU_NEW, true, true, false,
                TokenizerKind.GPT2_BPE), c);
        assertEquals("F16", w.storedDtype());
        assertSame(w.wte(), w.lmHead(), "tied head reuses wte");
        assertNull(w.lmHeadBias());
        assertEquals(2, w.layers().size());
        assertEquals(50257 * 48, w.wte().length);
        // Each field holds the tensor numpy wrote under that name (sums differ between tensors).
        assertEquals(numpySum(GPT2, "wte.weight"), sum(w.wte()), 1e-6);
        assertEquals(numpySum(GPT2, "wpe.weight"), sum(w.wpe()), 1e-9);
        assertEquals(numpySum(GPT2, "ln_f.bias"), sum(w.lnfBias()), 1e-9);
        for (int l = 0; l < 2; l++) {
            LayerWeights lw = w.layers().get(l);
            String h = "h." + l + ".";
            assertEquals(numpySum(GPT2, h + "ln_1.weight"), sum(lw.ln1Weight()), 1e-9);
            assertEquals(numpySum(GPT2, h + "ln_1.bias"), sum(lw.ln1Bias()), 1e-9);
            assertEquals(numpySum(GPT2, h + "attn.c_attn.weight"), sum(lw.attnWeight().flat()), 1e-9);
            assertEquals(numpySum(GPT2, h + "attn.c_attn.bias"), sum(lw.attnBias()), 1e-9);
            assertEquals(numpySum(GPT2, h + "attn.c_proj.weight"), sum(lw.attnProjWeight().flat()), 1e-9);
            assertEquals(numpySum(GPT2, h + "attn.c_proj.bias"), sum(lw.attnProjBias()), 1e-9);
            assertEquals(numpySum(GPT2, h + "ln_2.weight"), sum(lw.ln2Weight()), 1e-9);
            assertEquals(numpySum(GPT2, h + "ln_2.bias"), sum(lw.ln2Bias()), 1e-9);
            assertEquals(numpySum(GPT2, h + "mlp.c_fc.weight"), sum(lw.fcWeight().flat()), 1e-9);
            assertEquals(numpySum(GPT2, h + "mlp.c_fc.bias"), sum(lw.fcBias()), 1e-9);
            assertEquals(numpySum(GPT2, h + "mlp.c_proj.weight"), sum(lw.fcProjWeight().flat()), 1e-9);
            assertEquals(numpySum(GPT2, h + "mlp.c_proj.bias"), sum(lw.fcProjBias()), 1e-9);
        }
    }

    @Test
    void loadsCharModelCheckpoint() throws IOException {
        Gpt2Weights w = ModelLoader.loadWeights(CHAR);
        assertEquals(new ModelConfig(2, 4, 32, 32, 65, 1e-5f, Activation.RELU, false, false, true,
                TokenizerKind.CHAR), w.config());
        assertEquals("F32", w.storedDtype());
        assertNull(w.layers().get(0).attnBias());
        assertNotSame(w.wte(), w.lmHead());
        assertEquals(numpySum(CHAR, "lm_head.weight"), sum(w.lmHead()), 1e-9);
        assertEquals(numpySum(CHAR, "lm_head.bias"), sum(w.lmHeadBias()), 1e-9);
        assertEquals(65 * 32, w.lmHead().length);
    }

    @Test
    void loadPassesTheTokenizerKindAndDirectory() {
        Tokenizer fake = new Tokenizer() {
            public int[] encode(String text) { return new int[0]; }
            public byte[] tokenBytes(int id) { return new byte[0]; }
            public int vocabSize() { return 65; }
            public int eosToken() { return -1; }
        };
        Model m = ModelLoader.load(CHAR, (dir, kind) -> {
            assertEquals(CHAR, dir);
            assertEquals(TokenizerKind.CHAR, kind);
            return fake;
        });
        assertEquals("char-tiny", m.name());
        assertSame(fake, m.tokenizer());
        assertSame(m.config(), m.weights().config());
    }

    @Test
    void loadWithoutTokenizerFilesNamesTheDirectory() {
        // gpt2-tiny ships no vocab.json/merges.txt: the weights load, then the tokenizer fails.
        var e = assertThrows(dev.kvdecode.runtime.tokenizer.TokenizerException.class, () -> ModelLoader.load(GPT2));
        assertTrue(e.getMessage().startsWith(GPT2 + ": "), e.getMessage());
    }

    // ---- the checkpoint spellings Hugging Face produces

    @Test
    void savePretrainedStylePrefixAndTiedLmHeadCopy() throws IOException {
        Gpt2Weights hub = ModelLoader.loadWeights(GPT2);
        // save_pretrained: "transformer." prefix; some versions also keep lm_head.weight (a copy of
        // wte) and the masked_bias buffer.
        Path dir = variant(GPT2, n -> "transformer." + n, w -> {
            w.putF32("lm_head.weight", new long[]{1}, 42f); // a tied head's stored copy must be ignored
            w.putF32("transformer.h.0.attn.masked_bias", new long[]{}, -1e4f);
            w.put("transformer.h.1.attn.masked_bias", "BOOL", new long[]{1}, new byte[]{1});
        }, c -> {});
        Gpt2Weights w = ModelLoader.loadWeights(dir);
        assertArrayEquals(hub.wte(), w.wte());
        assertSame(w.wte(), w.lmHead());
        assertArrayEquals(hub.layers().get(1).fcProjWeight().flat(), w.layers().get(1).fcProjWeight().flat());
        assertArrayEquals(hub.layers().get(0).attnBias(), w.layers().get(0).attnBias());
    }

    @Test
    void bareEmbeddingNamesAreAccepted() throws IOException {
        Gpt2Weights ref = ModelLoader.loadWeights(CHAR);
        Path dir = variant(CHAR, n -> n.equals("wte.weight") ? "wte" : n.equals("wpe.weight") ? "wpe" : n, w -> {}, c -> {});
        Gpt2Weights w = ModelLoader.loadWeights(dir);
        assertArrayEquals(ref.wte(), w.wte());
        assertArrayEquals(ref.wpe(), w.wpe());
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertEquals("wpe", c.tensor("wpe.weight").name());
        }
    }

    @Test
    void untiedHeadReadsLmHeadWeight() throws IOException {
        float[] head = new float[50257 * 48];
        for (int i = 0; i < head.length; i++) head[i] = (i % 97) * 0.25f;
        Path dir = variant(GPT2, n -> n, w -> w.putF32("lm_head.weight", new long[]{50257, 48}, head),
                c -> c.put("tie_word_embeddings", false));
        Gpt2Weights w = ModelLoader.loadWeights(dir);
        assertFalse(w.config().tiedHead());
        assertArrayEquals(head, w.lmHead());
        assertEquals("mixed", w.storedDtype());
    }

    @Test
    void bf16CheckpointWidens() throws IOException {
        // Rewrite every F32 tensor of the char model as BF16 (truncating the low 16 bits).
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir);
        SafeTensorsWriter out = new SafeTensorsWriter();
        Map<String, float[]> expected = new java.util.HashMap<>();
        try (SafeTensors st = SafeTensors.open(CHAR.resolve("model.safetensors"))) {
            for (SafeTensors.TensorInfo t : st.tensors().values()) {
                float[] f = st.readFloats(t.name());
                int[] bits = new int[f.length];
                float[] trunc = new float[f.length];
                for (int i = 0; i < f.length; i++) {
                    bits[i] = Float.floatToRawIntBits(f[i]) >>> 16;
                    trunc[i] = Float.intBitsToFloat(bits[i] << 16);
                }
                out.put16(t.name(), "BF16", t.shape(), bits);
                expected.put(t.name(), trunc);
            }
        }
        out.write(dir.resolve("model.safetensors"));
        Files.copy(CHAR.resolve("config.json"), dir.resolve("config.json"));
        Gpt2Weights w = ModelLoader.loadWeights(dir);
        assertEquals("BF16", w.storedDtype());
        assertArrayEquals(expected.get("h.1.mlp.c_fc.weight"), w.layers().get(1).fcWeight().flat());
        assertArrayEquals(expected.get("lm_head.bias"), w.lmHeadBias());
    }

    // ---- bad checkpoints: one line naming the file and the problem

    @Test
    void shapeDisagreesWithConfig() throws IOException {
        Path dir = variant(GPT2, n -> n,
                w -> w.putF32("h.0.attn.c_attn.weight", new long[]{48, 100}, new float[4800]), c -> {});
        assertEquals("model.safetensors: tensor h.0.attn.c_attn.weight has shape [48, 100], expected [48, 144] from config.json",
                loadError(dir));
    }

    @Test
    void configDisagreesWithEveryShape() throws IOException {
        Path dir = configVariant(GPT2, c -> c.put("n_embd", 96));
        assertEquals("model.safetensors: tensor wte.weight has shape [50257, 48], expected [50257, 96] from config.json",
                loadError(dir));
    }

    @Test
    void missingTensorsAreNamed() throws IOException {
        Path dir = variant(GPT2, n -> n.equals("h.1.ln_2.bias") ? null : n, w -> {}, c -> {});
        assertEquals("model.safetensors: missing tensor h.1.ln_2.bias (required by config.json)", loadError(dir));
        Path dir2 = tmp.resolve("char");
        Files.createDirectories(dir2);
        Files.copy(variant(CHAR, n -> n.startsWith("lm_head") ? null : n, w -> {}, c -> {}).resolve("config.json"), dir2.resolve("config.json"));
        Files.copy(tmp.resolve("model/model.safetensors"), dir2.resolve("model.safetensors"));
        assertEquals("model.safetensors: missing tensors lm_head.weight, lm_head.bias (required by config.json)", loadError(dir2));
    }

    @Test
    void tensorTheConfigDoesNotExpect() throws IOException {
        Path dir = configVariant(GPT2, c -> c.put("qkv_bias", false));
        assertEquals("model.safetensors: unexpected tensor h.0.attn.c_attn.bias (not part of the model config.json"
                + " describes: n_layer 2, qkv_bias false, tie_word_embeddings true, lm_head_bias false)", loadError(dir));
        Path dir2 = tmp.resolve("fewer");
        Files.createDirectories(dir2);
        Files.copy(GPT2.resolve("model.safetensors"), dir2.resolve("model.safetensors"));
        ObjectNode cfg = (ObjectNode) JSON.readTree(GPT2.resolve("config.json").toFile());
        JSON.writeValue(dir2.resolve("config.json").toFile(), cfg.put("n_layer", 1));
        assertTrue(loadError(dir2).startsWith("model.safetensors: unexpected tensor h.1."), loadError(dir2));
    }

    @Test
    void bothPrefixedAndPlainNames() throws IOException {
        Path dir = variant(GPT2, n -> n, w -> w.putF32("transformer.ln_f.bias", new long[]{48}, new float[48]), c -> {});
        assertEquals("model.safetensors: has both ln_f.bias and transformer.ln_f.bias", loadError(dir));
        deleteModelDir();
        Path dir2 = variant(GPT2, n -> n, w -> w.putF32("wte", new long[]{1}, 0f), c -> {});
        assertEquals("model.safetensors: has both wte.weight and wte", loadError(dir2));
    }

    @Test
    void missingRequiredConfigKeys() throws IOException {
        for (String key : new String[]{"n_head", "n_layer", "n_embd", "vocab_size"}) {
            Path dir = configVariant(GPT2, c -> c.remove(key));
            assertEquals("config.json: missing required key \"" + key + "\"", loadError(dir));
            deleteModelDir();
        }
        Path dir = configVariant(GPT2, c -> { c.remove("n_positions"); c.remove("n_ctx"); });
        assertEquals("config.json: missing required key \"n_positions\" (or \"n_ctx\")", loadError(dir));
    }

    @Test
    void nCtxStandsInForNPositions() throws IOException {
        Path dir = configVariant(GPT2, c -> c.remove("n_positions"));
        assertEquals(64, ModelLoader.loadWeights(dir).config().nPositions());
    }

    @Test
    void badConfigValues() throws IOException {
        record Case(Consumer<ObjectNode> edit, String message) {}
        Case[] cases = {
            new Case(c -> c.put("n_head", "three"), "config.json: key \"n_head\" must be a positive integer, got \"three\""),
            new Case(c -> c.put("n_head", 0), "config.json: key \"n_head\" must be a positive integer, got 0"),
            new Case(c -> c.put("n_head", 5), "config.json: n_embd 48 is not divisible by n_head 5"),
            new Case(c -> c.put("activation_function", "silu"),
                    "config.json: activation_function \"silu\" is not supported (use gelu_new, gelu or relu)"),
            new Case(c -> c.put("layer_norm_epsilon", -1), "config.json: layer_norm_epsilon must be a positive number, got -1"),
            new Case(c -> c.put("tokenizer", "sentencepiece"),
                    "config.json: tokenizer \"sentencepiece\" is not supported (use \"gpt2_bpe\" or \"char\")"),
            new Case(c -> c.put("qkv_bias", "yes"), "config.json: key \"qkv_bias\" must be true or false, got \"yes\""),
            new Case(c -> c.put("model_type", "gemma"),
                    "config.json: model_type \"gemma\" is not supported (expected \"gpt2\", \"kvdecode-char-gpt\", \"llama\", \"mistral\", \"qwen2\" or \"qwen3\")"),
            new Case(c -> c.put("n_inner", 100), "config.json: n_inner 100 is not supported (only 4 * n_embd = 192 or null)"),
            new Case(c -> c.put("scale_attn_by_inverse_layer_idx", true),
                    "config.json: scale_attn_by_inverse_layer_idx true is not supported"),
        };
        for (Case k : cases) {
            Path dir = tmp.resolve("model");
            Files.createDirectories(dir);
            ObjectNode cfg = (ObjectNode) JSON.readTree(GPT2.resolve("config.json").toFile());
            k.edit.accept(cfg);
            JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
            Files.copy(GPT2.resolve("model.safetensors"), dir.resolve("model.safetensors"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            assertEquals(k.message, loadError(dir));
        }
    }

    @Test
    void configNotJson() throws IOException {
        Files.writeString(tmp.resolve("config.json"), "{\"n_layer\": 2,");
        assertTrue(loadError(tmp).startsWith("config.json: not valid JSON: "), loadError(tmp));
        Files.writeString(tmp.resolve("config.json"), "[2]");
        assertEquals("config.json: not a JSON object", loadError(tmp));
    }

    @Test
    void missingOrUnreadableDirectoryAndFiles() throws IOException {
        Path none = tmp.resolve("nope");
        assertEquals(none + ": model directory does not exist", loadError(none));
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        assertEquals(file + ": not a directory (expected a model directory)", loadError(file));
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertEquals("config.json: not found in " + empty, loadError(empty));
        Files.copy(GPT2.resolve("config.json"), empty.resolve("config.json"));
        assertEquals("model.safetensors: not found in " + empty, loadError(empty));
        Files.writeString(empty.resolve("pytorch_model.bin"), "");
        assertEquals("model.safetensors: not found in " + empty
                + " (pytorch_model.bin is not supported; convert it to safetensors)", loadError(empty));
    }

    @Test
    void corruptWeightsFileReachesTheUser() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("m"));
        Files.copy(GPT2.resolve("config.json"), dir.resolve("config.json"));
        byte[] whole = Files.readAllBytes(GPT2.resolve("model.safetensors"));
        Files.write(dir.resolve("model.safetensors"), java.util.Arrays.copyOf(whole, whole.length - 1000));
        assertTrue(loadError(dir).matches("model\\.safetensors: tensor .* run past the end of the data region "
                + "\\(\\d+ bytes\\); is the file truncated\\?"), loadError(dir));
    }

    @Test
    void checkpointExposesRawSlicesForUpload() {
        try (Checkpoint c = Checkpoint.open(GPT2)) {
            assertEquals(SafeTensors.DType.F16, c.tensor("h.0.mlp.c_fc.weight").dtype());
            assertEquals(48L * 192 * 2, c.file().raw(c.tensor("h.0.mlp.c_fc.weight").name()).byteSize());
            assertEquals("wte.weight", c.tensor("lm_head.weight").name(), "tied head resolves to wte");
            assertThrows(IllegalArgumentException.class, () -> c.tensor("lm_head.bias"));
        }
    }

    private void deleteModelDir() throws IOException {
        Path dir = tmp.resolve("model");
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) Files.delete(p);
        }
        Files.delete(dir);
    }
}
