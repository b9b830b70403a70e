package dev.kvdecode.runtime.fuzz;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.Backends;
import dev.kvdecode.runtime.engine.GenerationOptions;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.gguf.GgufFile;
import dev.kvdecode.runtime.model.gguf.GgufModels;
import dev.kvdecode.runtime.sample.SamplingParams;
import org.junit.jupiter.api.AfterAll;

import java.util.Map;

/**
 * Fuzzes the GGUF reader (docs/MODEL_FORMAT.md, "GGUF files"). {@code file}: the input is a
 * model.gguf, mapped from disk and loaded by {@link GgufModels#load} as `generate` does (header,
 * metadata, tensor table, GPT-2 or Llama-family hyperparameters, weights dequantized, embedded tokenizer); a model
 * it accepts then generates two greedy tokens on the CPU backend. {@code header}: the input goes
 * through {@link GgufFile#parse(byte[])} and every tensor it accepts is read and dequantized,
 * whatever its architecture (the quantized types the tiny models cannot hold: Q4_K, Q6_K). Seeds
 * in GgufFuzzTestInputs/ come from the test class GgufFuzzSeeds (the project's GgufWriter).
 */
class GgufFuzzTest {
    private static final FuzzFiles FILES = new FuzzFiles("GgufFuzzTest");
    private static final Backend CPU = Backends.create("cpu", "fp32", 1);

    @AfterAll
    static void cleanUp() {
        CPU.close();
        FILES.close();
    }

    @FuzzTest
    @DictionaryEntries({"GGUF", "general.architecture", "gpt2", "gpt2.block_count", "gpt2.embedding_length",
            "gpt2.attention.head_count", "gpt2.context_length", "general.alignment", "tokenizer.ggml.tokens",
            "tokenizer.ggml.merges", "tokenizer.ggml.token_type", "token_embd.weight", "blk.0.attn_qkv.bias",
            "output.weight", "llama", "qwen2", "qwen3", "llama.attention.head_count_kv", "llama.attention.key_length",
            "llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base", "llama.rope.scaling.type", "rope_freqs.weight",
            "tokenizer.ggml.pre", "tokenizer.ggml.scores", "tokenizer.ggml.add_bos_token", "blk.0.attn_q.weight",
            "blk.0.attn_q_norm.weight", "blk.0.ffn_gate.weight"})
    void file(byte[] input) {
        var dir = FILES.write(Map.of("model.gguf", input));
        Model model = FuzzFiles.parseOrReject(() -> GgufModels.load(dir.resolve("model.gguf"), notice -> { }));
        if (model == null) return;
        int context = Math.min(4, model.config().nPositions());
        try (InferenceSession s = CPU.open(model, new SessionOptions(1, context, OverflowPolicy.SHIFT, true))) {
            var r = s.generate(new int[][] {{0}}, new GenerationOptions(2, SamplingParams.greedyDecoding(), -1, true), null);
            for (int t : r.tokens()[0]) {
                if (t < 0 || t >= model.config().vocabSize()) throw new AssertionError("generated token " + t);
            }
        }
        int[] ids = FuzzFiles.parseOrReject(() -> model.tokenizer().encode("ab a!\n<|endoftext|>"));
        if (ids != null) model.tokenizer().decode(ids);
    }

    @FuzzTest
    @DictionaryEntries({"GGUF", "general.alignment"})
    void header(byte[] input) {
        GgufFile f = FuzzFiles.parseOrReject(() -> GgufFile.parse(input));
        if (f == null) return;
        for (String name : f.tensors().keySet()) {
            float[] v = FuzzFiles.parseOrReject(() -> f.readFloats(name));
            if (v != null && v.length != f.tensor(name).elementCount())
                throw new AssertionError(name + ": " + v.length + " values for " + f.tensor(name).elementCount() + " elements");
        }
    }
}
