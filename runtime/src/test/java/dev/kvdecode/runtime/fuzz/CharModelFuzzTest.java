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
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.sample.SamplingParams;
import org.junit.jupiter.api.AfterAll;

/**
 * Fuzzes the char model format (docs/MODEL_FORMAT.md): a directory with config.json, chars.json
 * and model.safetensors, loaded with {@link ModelLoader#load} as `generate` does. A model it
 * accepts must then generate two greedy tokens on the CPU backend, whatever its weights hold
 * (NaN, infinities). The input packs the three files (layout in {@link FuzzFiles#unpack});
 * seeds in CharModelFuzzTestInputs/model/ come from scripts/fuzz/make-seeds.py.
 */
class CharModelFuzzTest {
    private static final FuzzFiles FILES = new FuzzFiles("CharModelFuzzTest");
    private static final Backend CPU = Backends.create("cpu", "fp32", 1);

    @AfterAll
    static void cleanUp() {
        CPU.close();
        FILES.close();
    }

    @FuzzTest
    @DictionaryEntries({"\"n_layer\"", "\"n_head\"", "\"n_embd\"", "\"n_positions\"", "\"vocab_size\"", "\"char\"",
            "\"wte\"", "\"wpe\"", "\"lm_head.weight\"", "\"lm_head.bias\"", "\"h.0.attn.c_attn.weight\"", "\"F16\"",
            "\"BF16\"", "\"shape\"", "\"data_offsets\"", "true", "false"})
    void model(byte[] input) {
        var dir = FILES.write(FuzzFiles.unpack(input, ModelLoader.CONFIG_FILE, "chars.json", ModelLoader.WEIGHTS_FILE));
        Model model = FuzzFiles.parseOrReject(() -> ModelLoader.load(dir));
        if (model == null) return;
        int context = Math.min(4, model.config().nPositions());
        try (InferenceSession s = CPU.open(model, new SessionOptions(1, context, OverflowPolicy.SHIFT, true))) {
            var r = s.generate(new int[][] {{0}}, new GenerationOptions(2, SamplingParams.greedyDecoding(), -1, true), null);
            for (int t : r.tokens()[0]) {
                if (t < 0 || t >= model.config().vocabSize()) throw new AssertionError("generated token " + t);
            }
        }
    }
}
