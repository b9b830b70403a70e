package dev.kvdecode.runtime.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvdecode.runtime.cli.CliTest.Run;
import dev.kvdecode.runtime.model.SafeTensorsWriter;
import dev.kvdecode.runtime.tokenizer.RealTokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * `generate` end to end on model folders laid out as the hub has them: a tiny random-weight
 * Llama 3 / Qwen3 / Llama 2-style checkpoint (hidden 16, one layer, BF16) with the vocabulary of a
 * REAL tokenizer, next to that tokenizer's tokenizer.json and tokenizer_config.json (the npm
 * packages scripts/fetch-test-fixtures.sh fetched). The prompt ids must equal HF's (the committed
 * apply_chat_template and encode ids), and the LM head is rigged so one chosen id always wins:
 * an eos id that only generation_config.json names must end the run, and the same run with
 * --ignore-eos must emit that id, so the stop comes from the model's eos set.
 */
class HubFolderCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int C = 16, NH = 2, NKV = 1, HS = 8, I = 32;

    /**
     * Writes config.json, generation_config.json and model.safetensors (all BF16) into dir. The
     * residual stream stays close to all-ones (embeddings 1 + small noise, layer outputs small), so
     * the head row {@code winner}, all ones, gives a logit near 16 against the others' ~0.2.
     */
    static void writeCheckpoint(Path dir, String arch, int vocab, int bos, int configEos, int[] generationEos, int winner)
            throws IOException {
        ObjectNode cfg = JSON.createObjectNode();
        cfg.putArray("architectures").add(arch);
        cfg.put("model_type", arch.equals("Qwen3ForCausalLM") ? "qwen3" : "llama");
        cfg.put("hidden_size", C).put("intermediate_size", I).put("num_hidden_layers", 1)
                .put("num_attention_heads", NH).put("num_key_value_heads", NKV).put("head_dim", HS)
                .put("max_position_embeddings", 256).put("vocab_size", vocab).put("rms_norm_eps", 1e-5)
                .put("rope_theta", 500000.0).put("hidden_act", "silu").put("tie_word_embeddings", false)
                .put("torch_dtype", "bfloat16").put("eos_token_id", configEos);
        if (bos >= 0) cfg.put("bos_token_id", bos);
        JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
        ObjectNode gen = JSON.createObjectNode();
        ArrayNode eos = gen.putArray("eos_token_id");
        for (int id : generationEos) eos.add(id);
        JSON.writeValue(dir.resolve("generation_config.json").toFile(), gen);

        SplittableRandom rng = new SplittableRandom(18);
        SafeTensorsWriter w = new SafeTensorsWriter();
        float[] embed = noise(rng, (long) vocab * C, 0.05f);
        for (int i = 0; i < embed.length; i++) embed[i] += 1f;
        w.put16("model.embed_tokens.weight", "BF16", new long[] {vocab, C}, bf16(embed));
        String p = "model.layers.0.";
        w.put16(p + "input_layernorm.weight", "BF16", new long[] {C}, bf16(ones(C)));
        w.put16(p + "post_attention_layernorm.weight", "BF16", new long[] {C}, bf16(ones(C)));
        w.put16(p + "self_attn.q_proj.weight", "BF16", new long[] {NH * HS, C}, bf16(noise(rng, NH * HS * C, 0.3f)));
        w.put16(p + "self_attn.k_proj.weight", "BF16", new long[] {NKV * HS, C}, bf16(noise(rng, NKV * HS * C, 0.3f)));
        w.put16(p + "self_attn.v_proj.weight", "BF16", new long[] {NKV * HS, C}, bf16(noise(rng, NKV * HS * C, 0.3f)));
        w.put16(p + "self_attn.o_proj.weight", "BF16", new long[] {C, NH * HS}, bf16(noise(rng, C * NH * HS, 0.05f)));
        if (arch.equals("Qwen3ForCausalLM")) {
            w.put16(p + "self_attn.q_norm.weight", "BF16", new long[] {HS}, bf16(ones(HS)));
            w.put16(p + "self_attn.k_norm.weight", "BF16", new long[] {HS}, bf16(ones(HS)));
        }
        w.put16(p + "mlp.gate_proj.weight", "BF16", new long[] {I, C}, bf16(noise(rng, I * C, 0.3f)));
        w.put16(p + "mlp.up_proj.weight", "BF16", new long[] {I, C}, bf16(noise(rng, I * C, 0.3f)));
        w.put16(p + "mlp.down_proj.weight", "BF16", new long[] {C, I}, bf16(noise(rng, C * I, 0.05f)));
        w.put16("model.norm.weight", "BF16", new long[] {C}, bf16(ones(C)));
        float[] head = noise(rng, (long) vocab * C, 0.05f);
        for (int c = 0; c < C; c++) head[winner * C + c] = 1f;
        w.put16("lm_head.weight", "BF16", new long[] {vocab, C}, bf16(head));
        w.write(dir.resolve("model.safetensors"));
    }

    /** A hub-style folder: the checkpoint plus the real tokenizer's two files. */
    static Path folder(Path tmp, String tokenizer, String arch, int vocab, int bos, int configEos, int[] generationEos,
                       int winner) throws IOException {
        Path dir = tmp.resolve(tokenizer + "-" + winner);
        Files.createDirectories(dir);
        Path src = RealTokenizers.dir(tokenizer);
        Files.copy(src.resolve("tokenizer_config.json"), dir.resolve("tokenizer_config.json"));
        Files.createSymbolicLink(dir.resolve("tokenizer.json"), src.resolve("tokenizer.json"));   // 9 MB: linked, not copied
        writeCheckpoint(dir, arch, vocab, bos, configEos, generationEos, winner);
        return dir;
    }

    /** HF's apply_chat_template ids for [system "You are a pirate.", user "What is 2+2?"] (fixtures.json). */
    static int[] hfChatIds(String tokenizer) {
        for (JsonNode c : RealTokenizers.expected(tokenizer).get("chat").get("cases")) {
            JsonNode m = c.get("messages");
            if (m.size() == 2 && m.get(0).get("content").asText().equals("You are a pirate.")
                    && m.get(1).get("content").asText().equals("What is 2+2?")) return ints(c.get("ids"));
        }
        throw new AssertionError(tokenizer + ": no pirate case in fixtures.json");
    }

    /** HF's encode(text).ids (post-processor included) for the first case with this text. */
    static int[] hfIds(String tokenizer, String text) {
        for (JsonNode c : RealTokenizers.expected(tokenizer).get("cases"))
            if (c.get("text").asText().equals(text)) return ints(c.get("ids"));
        throw new AssertionError(tokenizer + ": no case with text " + text);
    }

    static JsonNode generate(Path dir, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("generate", "--model", dir.toString(), "--backend", "cpu",
                "--max-new-tokens", "4", "--greedy", "--json"));
        args.addAll(List.of(extra));
        Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.exitCode(), () -> "exit code; stderr: " + r.err());
        return JSON.readTree(r.out());
    }

    /**
     * Llama 3 as the Instruct folders have it: config.json's eos is &lt;|end_of_text|&gt; (128001, also
     * tokenizer_config's eos_token), generation_config.json adds &lt;|eom_id|&gt; and &lt;|eot_id|&gt;; the model
     * always answers &lt;|eot_id|&gt; (128009), which only generation_config.json names.
     */
    @Test
    void llama3ChatStopsAtAnEosIdOfGenerationConfig(@TempDir Path tmp) throws IOException {
        Path dir = folder(tmp, "llama3", "LlamaForCausalLM", 128256, 128000, 128001, new int[] {128001, 128008, 128009}, 128009);
        JsonNode o = generate(dir, "--chat", "--system", "You are a pirate.", "--prompt", "What is 2+2?");
        assertArrayEquals(hfChatIds("llama3"), ints(o.get("prompt_tokens")), "HF apply_chat_template ids");
        assertEquals(0, o.get("tokens").size(), o::toString);
        assertEquals("eos", o.get("stop_reason").asText());

        JsonNode ignoring = generate(dir, "--chat", "--system", "You are a pirate.", "--prompt", "What is 2+2?", "--ignore-eos");
        assertArrayEquals(new int[] {128009, 128009, 128009, 128009}, ints(ignoring.get("tokens")), "the rigged head picks eot_id");
        assertEquals("max_tokens", ignoring.get("stop_reason").asText());
        assertEquals("<|eot_id|><|eot_id|><|eot_id|><|eot_id|>", ignoring.get("text").asText());
    }

    /** Plain text on Llama 3: HF's encode ids (this tokenizer.json adds no BOS), and a stop at generation_config's eos. */
    @Test
    void llama3PlainPromptHasHfIdsAndStopsAtModelEos(@TempDir Path tmp) throws IOException {
        Path dir = folder(tmp, "llama3", "LlamaForCausalLM", 128256, 128000, 128001, new int[] {128001, 128009}, 128009);
        String text = RealTokenizers.expected("llama3").get("cases").get(0).get("text").asText();
        JsonNode o = generate(dir, "--prompt", text);
        assertArrayEquals(hfIds("llama3", text), ints(o.get("prompt_tokens")));
        assertEquals("eos", o.get("stop_reason").asText());
        assertEquals(0, o.get("tokens").size());
    }

    /**
     * Qwen3: tokenizer_config's eos_token is &lt;|im_end|&gt; (151645, the template's end of turn);
     * generation_config.json adds &lt;|endoftext|&gt; (151643), which the model always answers.
     */
    @Test
    void qwen3ChatStopsAtEndOfText(@TempDir Path tmp) throws IOException {
        Path dir = folder(tmp, "qwen3", "Qwen3ForCausalLM", 151936, -1, 151645, new int[] {151645, 151643}, 151643);
        JsonNode o = generate(dir, "--chat", "--system", "You are a pirate.", "--prompt", "What is 2+2?");
        assertArrayEquals(hfChatIds("qwen3"), ints(o.get("prompt_tokens")), "HF apply_chat_template ids");
        assertEquals("eos", o.get("stop_reason").asText(), o::toString);
        assertEquals(0, o.get("tokens").size());
        JsonNode ignoring = generate(dir, "--chat", "--system", "You are a pirate.", "--prompt", "What is 2+2?", "--ignore-eos");
        assertArrayEquals(new int[] {151643, 151643, 151643, 151643}, ints(ignoring.get("tokens")));
    }

    /** SentencePiece BPE (the llama2 package): the post-processor's BOS, and a reply that is not an eos runs to max tokens. */
    @Test
    void sentencePiecePromptGetsBosAndRunsToMaxTokens(@TempDir Path tmp) throws IOException {
        int hello = 22557;   // "▁Hello" in this vocabulary (ChatTemplateTest's ids for "Hello!")
        Path dir = folder(tmp, "llama2", "LlamaForCausalLM", 32000, 1, 2, new int[] {2}, hello);
        String text = RealTokenizers.expected("llama2").get("cases").get(0).get("text").asText();
        JsonNode o = generate(dir, "--prompt", text);
        int[] want = hfIds("llama2", text);
        assertEquals(1, want[0], "HF adds <s>");
        assertArrayEquals(want, ints(o.get("prompt_tokens")));
        assertArrayEquals(new int[] {hello, hello, hello, hello}, ints(o.get("tokens")));
        assertEquals("max_tokens", o.get("stop_reason").asText());
        assertEquals("Hello Hello Hello Hello", o.get("text").asText());
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }

    private static float[] ones(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, 1f);
        return a;
    }

    private static float[] noise(SplittableRandom rng, long n, float scale) {
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) a[i] = (float) (rng.nextDouble(-1, 1) * scale);
        return a;
    }

    /** BF16 bits of each value (truncated; these are random weights). */
    private static int[] bf16(float[] a) {
        int[] bits = new int[a.length];
        for (int i = 0; i < a.length; i++) bits[i] = Float.floatToRawIntBits(a[i]) >>> 16;
        return bits;
    }
}
