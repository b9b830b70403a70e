package dev.kvdecode.runtime.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvdecode.runtime.cli.Main;
import dev.kvdecode.runtime.cuda.CudaBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/** Llama-family config.json reading (4.x and 5.x styles) and every refusal: one line naming the key, exit 2. */
class LlamaConfigTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    static Path fixture(String name) {
        try {
            var url = LlamaConfigTest.class.getResource("/llama-fixtures/" + name + "/config.json");
            if (url == null) throw new IllegalStateException("no fixture " + name);
            return Path.of(url.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void readsEveryArchitectureAndBothConfigStyles() {
        ModelConfig gqa = ModelLoader.readConfig(fixture("llama-gqa2-f32"));   // 4.x: rope_theta, rope_scaling null
        assertEquals("LlamaForCausalLM", gqa.architecture());
        assertEquals(new ModelConfig.Attention(4, 2, 16, false, false, false), gqa.attention());
        assertEquals(new ModelConfig.Norm(ModelConfig.NormKind.RMS_NORM, 1e-6f), gqa.norm());
        assertEquals(new ModelConfig.Rotary(10000, ModelConfig.RopeScaling.NONE), gqa.positions());
        assertEquals(new ModelConfig.Mlp(dev.kvdecode.kernels.Activation.SILU, true, 32, false), gqa.mlp());
        assertTrue(gqa.tiedHead());
        assertEquals(1, gqa.bosId());
        assertEquals(List.of(2), gqa.eosIds());
        assertFalse(gqa.gpt2Layout());

        ModelConfig l3 = ModelLoader.readConfig(fixture("llama3-mha-bf16"));   // 5.x: rope_parameters
        assertEquals(new ModelConfig.Rotary(500000, new ModelConfig.RopeScaling(ModelConfig.RopeType.LLAMA3, 8, 1, 4, 64)),
                l3.positions());
        assertEquals(new ModelConfig.Attention(4, 4, 16, true, true, false), l3.attention());
        assertFalse(l3.tiedHead());

        ModelConfig mqa = ModelLoader.readConfig(fixture("llama-mqa-f16"));   // 4.x, {"type": "linear"}, eos lists
        assertEquals(ModelConfig.RopeType.LINEAR, ((ModelConfig.Rotary) mqa.positions()).scaling().type());
        assertEquals(1, mqa.nKvHead());
        assertEquals(List.of(2, 3, 4), mqa.eosIds());   // config's [2, 3] joined with generation_config.json's [2, 3, 4]

        assertEquals(new ModelConfig.Attention(10, 2, 8, false, false, false), ModelLoader.readConfig(fixture("mistral-gqa5-shard")).attention());
        assertEquals(new ModelConfig.Attention(4, 2, 16, true, false, false), ModelLoader.readConfig(fixture("qwen2-bias")).attention());
        ModelConfig q3 = ModelLoader.readConfig(fixture("qwen3-headdim"));
        assertEquals(new ModelConfig.Attention(4, 2, 32, false, false, true), q3.attention());
        assertEquals(128, q3.attention().qDim());   // NH * head_dim, not hidden_size 64

        // GPT-2 stays GPT-2-shaped
        assertTrue(ModelConfig.gpt2(2, 4, 64, 32, 100).gpt2Layout());
    }

    record Case(Consumer<ObjectNode> edit, String message) {}

    @Test
    void refusalsAreOneLineNamingTheKey() throws IOException {
        Case[] cases = {
            new Case(c -> c.putArray("architectures").add("GemmaForCausalLM"),
                    "config.json: architectures \"GemmaForCausalLM\" is not supported (supported: GPT2LMHeadModel, "
                            + "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)"),
            new Case(c -> c.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4),
                    "config.json: rope_scaling.rope_type \"yarn\" is not supported (supported: default, linear, llama3)"),
            new Case(c -> { c.remove("rope_theta"); c.putObject("rope_parameters").put("rope_type", "dynamic").put("rope_theta", 1e4); },
                    "config.json: rope_parameters.rope_type \"dynamic\" is not supported (supported: default, linear, llama3)"),
            new Case(c -> c.putObject("rope_scaling").put("rope_type", "llama3").put("low_freq_factor", 1),
                    "config.json: missing required key \"rope_scaling.factor\""),
            new Case(c -> c.put("num_key_value_heads", 3),
                    "config.json: num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
            new Case(c -> c.put("num_attention_heads", 3).put("num_key_value_heads", 3).remove("head_dim"),
                    "config.json: hidden_size 64 is not a multiple of num_attention_heads 3 (and no head_dim is given)"),
            new Case(c -> c.put("head_dim", 15), "config.json: head_dim 15 must be even for rotary positions"),
            new Case(c -> c.put("hidden_act", "gelu"),
                    "config.json: hidden_act \"gelu\" is not supported (the Llama family uses silu)"),
            new Case(c -> c.put("sliding_window", 64),
                    "config.json: sliding_window 64 is smaller than max_position_embeddings 128 (sliding-window attention is not supported)"),
            new Case(c -> { c.putArray("architectures").add("Qwen2ForCausalLM"); c.put("use_sliding_window", true); },
                    "config.json: use_sliding_window true is not supported (sliding-window attention)"),
            new Case(c -> c.put("vocab_size", 1 << 30),
                    "config.json: a weight matrix of 68719476736 elements (hidden_size 64, intermediate_size 32, vocab_size 1073741824) exceeds what one Java array holds"),
            new Case(c -> c.put("hidden_size", -5), "config.json: key \"hidden_size\" must be a positive integer up to 2^30, got -5"),
            new Case(c -> c.put("eos_token_id", 9999), "config.json: eos_token_id 9999 must be a token id in [0, vocab_size 256)"),
            new Case(c -> c.putObject("quantization_config").put("quant_method", "gptq"),
                    "config.json: quantization_config is not supported (use an F32, F16 or BF16 checkpoint)"),
            new Case(c -> c.put("num_hidden_layers", 3),
                    "missing tensors model.layers.2.input_layernorm.weight, model.layers.2.self_attn.q_proj.weight, "
                            + "model.layers.2.self_attn.k_proj.weight, model.layers.2.self_attn.v_proj.weight and 5 more "
                            + "(required by config.json, LlamaForCausalLM)"),
            new Case(c -> c.put("intermediate_size", 48),
                    "model.safetensors: tensor model.layers.0.mlp.gate_proj.weight has shape [32, 64], expected [48, 64] from config.json"),
            new Case(c -> c.put("attention_bias", true),
                    "missing tensors model.layers.0.self_attn.q_proj.bias, model.layers.0.self_attn.k_proj.bias, "
                            + "model.layers.0.self_attn.v_proj.bias, model.layers.0.self_attn.o_proj.bias and 4 more (required by config.json, LlamaForCausalLM)"),
        };
        Path src = fixture("llama-gqa2-f32");
        for (Case k : cases) {
            Path dir = copy(src, k.edit());
            String msg = assertThrows(ModelFormatException.class, () -> ModelLoader.loadWeights(dir), k.message()).getMessage();
            assertEquals(k.message(), msg);
        }
    }

    private Path copy(Path src, Consumer<ObjectNode> edit) throws IOException {
        Path dir = Files.createTempDirectory(tmp, "m");
        ObjectNode cfg = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        edit.accept(cfg);
        JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
        Files.copy(src.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        return dir;
    }

    @Test
    void shardProblemsAreOneLine() throws IOException {
        Path src = fixture("mistral-gqa5-shard");
        Path dir = Files.createTempDirectory(tmp, "s");
        try (var files = Files.list(src)) {
            for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()));
        }
        Files.delete(dir.resolve("model-00003-of-00005.safetensors"));
        assertEquals("model.safetensors.index.json: shard model-00003-of-00005.safetensors not found in " + dir,
                assertThrows(ModelFormatException.class, () -> ModelLoader.loadWeights(dir)).getMessage());
        String idx = Files.readString(dir.resolve("model.safetensors.index.json"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), idx.replace("model-00003-of-00005.safetensors", "../x.safetensors"));
        assertTrue(assertThrows(ModelFormatException.class, () -> ModelLoader.loadWeights(dir)).getMessage()
                .contains("not a .safetensors file name in the model directory"));
        Files.delete(dir.resolve("model.safetensors.index.json"));
        assertEquals("model.safetensors: not found in " + dir + " (nor model.safetensors.index.json)",
                assertThrows(ModelFormatException.class, () -> ModelLoader.loadWeights(dir)).getMessage());
    }

    @Test
    void theCudaBackendsRunTheFamilyAndRefuseTheRestInOneLine() {
        for (String f : new String[] {"qwen3-headdim", "mistral-gqa5-shard", "llama-mqa-f16"}) {
            ModelConfig cfg = ModelLoader.readConfig(fixture(f));
            assertDoesNotThrow(() -> CudaBackend.checkSupported(cfg, "cuda-emu"), f);
        }
        assertDoesNotThrow(() -> CudaBackend.checkSupported(ModelConfig.gpt2(1, 2, 8, 8, 10), "cuda"));
        // 16 query heads per KV head: more than decode_attention_chunk's groups of 8
        ModelConfig q = ModelLoader.readConfig(fixture("qwen3-headdim"));
        ModelConfig wide = new ModelConfig(q.architecture(), q.nLayer(), q.nEmbd(), q.nPositions(), q.vocabSize(), q.norm(),
                q.positions(), new ModelConfig.Attention(16, 1, 8, false, false, true), q.mlp(), q.tiedHead(), q.headBias(),
                q.tokenizer(), q.bosId(), q.eosIds());
        assertEquals("Qwen3ForCausalLM on --backend cuda-emu: num_attention_heads / num_key_value_heads = 16 is not supported"
                        + " (at most 8); use --backend cpu",
                assertThrows(ModelFormatException.class, () -> CudaBackend.checkSupported(wide, "cuda-emu")).getMessage());
    }

    @Test
    void cliErrorsAreOneLineExitTwo() throws IOException {
        // no tokenizer.json in the fixtures: generate and eval say so in one line
        String dir = fixture("qwen2-bias").toString();
        Path text = Files.writeString(tmp.resolve("t.txt"), "hello there");
        for (String[] args : new String[][] {
                {"generate", "--model", dir, "--prompt", "hi", "--max-new-tokens", "2"},
                {"eval", "--model", dir, "--text-file", text.toString()}}) {
            Run r = run(args);
            assertOneLine(r, "no tokenizer: looked for tokenizer.json");
        }
        Path bad = copy(fixture("llama-gqa2-f32"), c -> c.put("num_key_value_heads", 3));
        assertOneLine(run("generate", "--model", bad.toString(), "--prompt", "hi"),
                "config.json: num_attention_heads 4 is not a multiple of num_key_value_heads 3");
    }

    record Run(int exitCode, String err) {}

    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, err.toString());
    }

    static void assertOneLine(Run r, String fragment) {
        assertEquals(2, r.exitCode(), () -> "exit code; stderr: " + r.err());
        String err = r.err().strip();
        assertFalse(err.contains("\n") || err.contains("\tat "), () -> "one line, no stack trace: " + err);
        assertTrue(err.contains(fragment), () -> "expected '" + fragment + "' in: " + err);
    }
}
