package dev.kvdecode.runtime.model.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvdecode.kernels.F32Matrix;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.ModelFormatException;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.model.TokenizerKind;
import dev.kvdecode.runtime.tokenizer.TokenizerException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code kvdecode convert --to gguf}: a GPT-2 model directory (safetensors) as a GGUF v3 file in
 * the layout llama.cpp's convert_hf_to_gguf.py writes for {@code GPT2LMHeadModel} (architecture
 * {@code gpt2}; Conv1D weights transposed to (out, in); norms and biases F32; embeddings and
 * linear weights F32 or F16), with the tokenizer embedded ({@code tokenizer.ggml.model} "gpt2",
 * {@code pre} "gpt-2"), so that llama.cpp and kvdecode can run the same file.
 */
public final class GgufExport {
    private GgufExport() {}

    /** Writes {@code out} from the model directory {@code dir}, matrices and embeddings in {@code type} (F32 or F16). */
    public static void gpt2(Path dir, Path out, GgmlType type) throws IOException {
        if (type != GgmlType.F32 && type != GgmlType.F16) throw new IllegalArgumentException("F32 or F16, not " + type);
        ModelConfig cfg = ModelLoader.readConfig(dir);
        if (cfg.tokenizer() != TokenizerKind.GPT2_BPE)
            throw new ModelFormatException(dir + ": only GPT-2 BPE models can be written as GGUF (this one has a "
                    + cfg.tokenizer().name().toLowerCase(java.util.Locale.ROOT) + " tokenizer, which llama.cpp does not know)");
        if (!cfg.qkvBias() || cfg.headBias() || !cfg.activation().name().equals("GELU_NEW"))
            throw new ModelFormatException(dir + ": only GPT-2 models (gelu_new, qkv bias, no LM head bias) can be written as GGUF");
        Vocab vocab = readVocab(dir);
        Gpt2Weights w = ModelLoader.loadWeights(dir);
        int C = cfg.nEmbd(), V = cfg.vocabSize();
        if (vocab.tokens.size() != V)
            throw new ModelFormatException(dir + ": the tokenizer has " + vocab.tokens.size() + " tokens but vocab_size is " + V
                    + "; GGUF needs one token per embedding row");

        GgufWriter g = new GgufWriter()
                .string("general.architecture", "gpt2")
                .string("general.name", String.valueOf(dir.toAbsolutePath().normalize().getFileName()))
                .u32("general.file_type", type == GgmlType.F32 ? 0 : 1)
                .u32("gpt2.block_count", cfg.nLayer())
                .u32("gpt2.context_length", cfg.nPositions())
                .u32("gpt2.embedding_length", C)
                .u32("gpt2.feed_forward_length", 4L * C)
                .u32("gpt2.attention.head_count", cfg.nHead())
                .f32("gpt2.attention.layer_norm_epsilon", cfg.layerNormEpsilon())
                .string("tokenizer.ggml.model", "gpt2")
                .string("tokenizer.ggml.pre", "gpt-2")
                .strings("tokenizer.ggml.tokens", vocab.tokens)
                .i32s("tokenizer.ggml.token_type", vocab.types)
                .strings("tokenizer.ggml.merges", vocab.merges);
        if (vocab.eos >= 0) g.u32("tokenizer.ggml.bos_token_id", vocab.eos).u32("tokenizer.ggml.eos_token_id", vocab.eos);

        g.floats("token_embd.weight", type, new long[] {C, V}, w.wte());
        g.floats("position_embd.weight", type, new long[] {C, cfg.nPositions()}, w.wpe());
        for (int l = 0; l < cfg.nLayer(); l++) {
            LayerWeights lw = w.layers().get(l);
            String b = "blk." + l + ".";
            g.floats(b + "attn_norm.weight", GgmlType.F32, new long[] {C}, lw.ln1Weight());
            g.floats(b + "attn_norm.bias", GgmlType.F32, new long[] {C}, lw.ln1Bias());
            linear(g, b + "attn_qkv", type, lw.attnWeight(), lw.attnBias());
            linear(g, b + "attn_output", type, lw.attnProjWeight(), lw.attnProjBias());
            g.floats(b + "ffn_norm.weight", GgmlType.F32, new long[] {C}, lw.ln2Weight());
            g.floats(b + "ffn_norm.bias", GgmlType.F32, new long[] {C}, lw.ln2Bias());
            linear(g, b + "ffn_up", type, lw.fcWeight(), lw.fcBias());
            linear(g, b + "ffn_down", type, lw.fcProjWeight(), lw.fcProjBias());
        }
        g.floats("output_norm.weight", GgmlType.F32, new long[] {C}, w.lnfWeight());
        g.floats("output_norm.bias", GgmlType.F32, new long[] {C}, w.lnfBias());
        if (!cfg.tiedHead()) g.floats("output.weight", type, new long[] {C, V}, w.lmHead());
        g.write(out);
    }

    /** W (in, out) as nn.Linear's (out, in) rows (ne = [in, out]), and its bias. */
    private static void linear(GgufWriter g, String name, GgmlType type, F32Matrix m, float[] bias) {
        int in = m.in(), out = m.out();
        g.tensor(name + ".weight", type, new long[] {in, out}, () -> {
            float[] flat = m.flat(), t = new float[flat.length];
            for (int i = 0; i < in; i++) for (int o = 0; o < out; o++) t[o * in + i] = flat[i * out + o];
            var b = java.nio.ByteBuffer.allocate(t.length * (type == GgmlType.F32 ? 4 : 2)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (float v : t) {
                if (type == GgmlType.F32) b.putFloat(v);
                else b.putShort(Float.floatToFloat16(v));
            }
            return b.flip();
        });
        g.floats(name + ".bias", GgmlType.F32, new long[] {out}, bias);
    }

    private record Vocab(List<String> tokens, int[] types, List<String> merges, int eos) {}

    /** Tokens by id, token types (CONTROL for added tokens) and merges from tokenizer.json or vocab.json + merges.txt. */
    private static Vocab readVocab(Path dir) {
        try {
            return readVocabFiles(dir);
        } catch (IOException e) {   // JSON syntax errors included
            throw new TokenizerException(dir + ": cannot read the tokenizer: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    private static Vocab readVocabFiles(Path dir) throws IOException {
        ObjectMapper json = new ObjectMapper();
        Path tj = dir.resolve("tokenizer.json"), vj = dir.resolve("vocab.json"), mt = dir.resolve("merges.txt");
        JsonNode vocabNode;
        List<String> merges = new ArrayList<>();
        Set<String> added = new HashSet<>();
        Map<String, Integer> addedIds = new java.util.LinkedHashMap<>();
        Path source;
        if (Files.isRegularFile(tj)) {
            source = tj;
            JsonNode root = json.readTree(tj.toFile());
            vocabNode = root.path("model").path("vocab");
            for (JsonNode m : root.path("model").path("merges"))
                merges.add(m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText());
            for (JsonNode a : root.path("added_tokens")) {
                added.add(a.path("content").asText());
                addedIds.put(a.path("content").asText(), a.path("id").asInt(-1));
            }
        } else if (Files.isRegularFile(vj) && Files.isRegularFile(mt)) {
            source = vj;
            vocabNode = json.readTree(vj.toFile());
            List<String> lines = Files.readAllLines(mt);
            for (int n = 0; n < lines.size(); n++) {
                String line = lines.get(n);
                if ((n == 0 && line.startsWith("#version")) || line.isEmpty()) continue;
                merges.add(line);
            }
            added.add("<|endoftext|>");
        } else {
            throw new TokenizerException(dir + ": no GPT-2 tokenizer: looked for tokenizer.json, or vocab.json + merges.txt");
        }
        if (!vocabNode.isObject()) throw new TokenizerException(source + ": no vocabulary object");
        Map<String, Integer> all = new java.util.LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            all.put(e.getKey(), e.getValue().asInt(-1));
        }
        for (Map.Entry<String, Integer> e : addedIds.entrySet()) all.putIfAbsent(e.getKey(), e.getValue());
        String[] byId = new String[all.size()];
        for (Map.Entry<String, Integer> e : all.entrySet()) {
            int id = e.getValue();
            if (id < 0 || id >= byId.length || byId[id] != null)
                throw new TokenizerException(source + ": token ids are not 0.." + (byId.length - 1) + " each once (GGUF stores tokens by id)");
            byId[id] = e.getKey();
        }
        int[] types = new int[byId.length];
        int eos = -1;
        for (int i = 0; i < byId.length; i++) {
            types[i] = added.contains(byId[i]) ? GgufModels.TOKEN_CONTROL : 1;   // 1: NORMAL
            if (byId[i].equals("<|endoftext|>")) eos = i;
        }
        return new Vocab(Arrays.asList(byId), types, merges, eos);
    }
}
