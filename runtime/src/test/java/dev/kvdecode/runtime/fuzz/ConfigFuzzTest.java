package dev.kvdecode.runtime.fuzz;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.ModelLoader;
import org.junit.jupiter.api.AfterAll;

import java.util.Map;

/**
 * Fuzzes config.json ({@link ModelLoader#readConfig}): any input is a valid {@link ModelConfig} or
 * a one-line ModelFormatException. Seeds: ConfigFuzzTestInputs/config/.
 */
class ConfigFuzzTest {
    private static final FuzzFiles FILES = new FuzzFiles("ConfigFuzzTest");

    @AfterAll
    static void cleanUp() { FILES.close(); }

    @FuzzTest
    @DictionaryEntries({"\"n_layer\"", "\"n_head\"", "\"n_embd\"", "\"n_positions\"", "\"n_ctx\"", "\"vocab_size\"",
            "\"layer_norm_epsilon\"", "\"activation_function\"", "\"model_type\"", "\"n_inner\"",
            "\"scale_attn_weights\"", "\"qkv_bias\"", "\"tie_word_embeddings\"", "\"lm_head_bias\"", "\"tokenizer\"",
            "\"gpt2\"", "\"kvdecode-char-gpt\"", "\"gelu_new\"", "\"relu\"", "\"char\"", "\"gpt2_bpe\"", "null", "true",
            "false", "2147483647", "2147483648", "-1", "1e-5", "1e309"})
    void config(byte[] input) {
        var dir = FILES.write(Map.of(ModelLoader.CONFIG_FILE, input));
        ModelConfig c = FuzzFiles.parseOrReject(() -> ModelLoader.readConfig(dir));
        if (c != null && c.nEmbd() % c.nHead() != 0) throw new AssertionError("accepted " + c);
    }
}
