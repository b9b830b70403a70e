package dev.kvdecode.runtime.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvdecode.kernels.Activation;
import dev.kvdecode.runtime.model.gguf.GgufModels;
import dev.kvdecode.runtime.tokenizer.Tokenizer;
import dev.kvdecode.runtime.tokenizer.Tokenizers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.function.BiFunction;

/**
 * Loads a model directory (layout in docs/MODEL_FORMAT.md): config.json, model.safetensors and the
 * tokenizer files. Every problem is a {@link ModelFormatException} with a one-line message that
 * names the file (or directory) and what is wrong.
 */
public final class ModelLoader {
    private ModelLoader() {}

    public static final String CONFIG_FILE = "config.json";
    public static final String WEIGHTS_FILE = "model.safetensors";
    public static final String WEIGHTS_INDEX_FILE = "model.safetensors.index.json";
    public static final String GENERATION_CONFIG_FILE = "generation_config.json";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /**
     * Loads config, fp32 weights and the tokenizer config.json names (see docs/MODEL_FORMAT.md);
     * a path ending in .gguf is read as a GGUF file with its embedded tokenizer instead.
     */
    public static Model load(Path dir) {
        if (GgufModels.isGguf(dir)) return GgufModels.load(dir, System.err::println);   // a .gguf file (issue 20)
        return load(dir, Tokenizers::load);
    }

    /**
     * Loads config, fp32 weights and tokenizer.
     *
     * @param tokenizers builds the tokenizer from the directory and the config's tokenizer kind
     *                   (normally {@code Tokenizers::load}); it should throw TokenizerException or
     *                   ModelFormatException for bad tokenizer files
     */
    public static Model load(Path dir, BiFunction<Path, TokenizerKind, Tokenizer> tokenizers) {
        Gpt2Weights weights = loadWeights(dir);
        Tokenizer tok = tokenizers.apply(dir, weights.config().tokenizer());
        if (tok.vocabSize() > weights.config().vocabSize())
            throw new ModelFormatException(CONFIG_FILE + ": vocab_size " + weights.config().vocabSize()
                    + " is smaller than the tokenizer's " + tok.vocabSize() + " tokens");
        return new Model(modelName(dir), weights.config(), weights, tok);
    }

    /** Reads config.json and model.safetensors, widened to fp32; needs no tokenizer files. */
    public static Gpt2Weights loadWeights(Path dir) {
        if (GgufModels.isGguf(dir)) return GgufModels.loadWeights(dir, System.err::println);   // issue 20
        ModelConfig cfg = readConfig(dir);
        if (!cfg.architecture().equals("gpt2") && !cfg.architecture().equals("kvdecode-char-gpt"))
            return LlamaCheckpoint.read(dir, cfg);
        try (Checkpoint c = Checkpoint.open(dir)) {
            return c.readWeights();
        }
    }

    /** The directory's name, used as the model's display name. */
    static String modelName(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        return abs.getFileName() == null ? abs.toString() : abs.getFileName().toString();
    }

    /** Checks that {@code dir} is a readable directory, with a one-line error otherwise. */
    static void checkDirectory(Path dir) {
        if (!Files.exists(dir)) throw new ModelFormatException(dir + ": model directory does not exist");
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir + ": not a directory (expected a model directory)");
        if (!Files.isReadable(dir)) throw new ModelFormatException(dir + ": model directory is not readable");
    }

    /** Path of a required file in the model directory, with a one-line error when absent. */
    static Path requireFile(Path dir, String name) {
        Path p = dir.resolve(name);
        if (!Files.isRegularFile(p)) {
            String hint = name.equals(WEIGHTS_FILE) && Files.exists(dir.resolve("pytorch_model.bin"))
                    ? " (pytorch_model.bin is not supported; convert it to safetensors)" : "";
            throw new ModelFormatException(name + ": not found in " + dir + hint);
        }
        if (!Files.isReadable(p)) throw new ModelFormatException(name + ": not readable in " + dir);
        return p;
    }

    /**
     * Parses config.json: the Hugging Face GPT-2 keys plus kvdecode's extension keys (qkv_bias,
     * tie_word_embeddings, lm_head_bias, tokenizer). Absent optional keys take GPT-2's values.
     */
    public static ModelConfig readConfig(Path dir) {
        checkDirectory(dir);
        Path file = requireFile(dir, CONFIG_FILE);
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(CONFIG_FILE + ": not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new ModelFormatException(CONFIG_FILE + ": cannot read: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ModelFormatException(CONFIG_FILE + ": not a JSON object");
        String arch = LlamaConfigs.architecture(root);
        if (arch != null) return LlamaConfigs.parse(root, arch, generationEos(dir));
        return parseConfig(root);
    }

    /** The eos ids generation_config.json names (an id or a list), or none when the file is absent. */
    static java.util.List<Integer> generationEos(Path dir) {
        Path file = dir.resolve(GENERATION_CONFIG_FILE);
        if (!Files.isRegularFile(file)) return java.util.List.of();
        JsonNode root = readJson(file, GENERATION_CONFIG_FILE);
        JsonNode n = root.get("eos_token_id");
        java.util.List<Integer> out = new java.util.ArrayList<>();
        if (n == null || n.isNull()) return out;
        for (JsonNode e : n.isArray() ? n : JSON.createArrayNode().add(n)) {
            if (!e.isIntegralNumber() || !e.canConvertToInt() || e.intValue() < 0)
                throw new ModelFormatException(GENERATION_CONFIG_FILE + ": eos_token_id " + n + " must be a token id or a list of them");
            out.add(e.intValue());
        }
        return out;
    }

    /** A JSON object from a file of the model directory, with one-line errors. */
    static JsonNode readJson(Path file, String name) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(name + ": not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new ModelFormatException(name + ": cannot read: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ModelFormatException(name + ": not a JSON object");
        return root;
    }

    static ModelConfig parseConfig(JsonNode root) {
        String modelType = optString(root, "model_type", null);
        if (modelType != null && !modelType.equals("gpt2") && !modelType.equals("kvdecode-char-gpt"))
            throw new ModelFormatException(CONFIG_FILE + ": model_type \"" + modelType
                    + "\" is not supported (expected \"gpt2\", \"kvdecode-char-gpt\", \"llama\", \"mistral\", \"qwen2\" or \"qwen3\")");

        int nLayer = requiredInt(root, "n_layer");
        int nHead = requiredInt(root, "n_head");
        int nEmbd = requiredInt(root, "n_embd");
        int nPositions;
        if (root.hasNonNull("n_positions")) nPositions = requiredInt(root, "n_positions");
        else if (root.hasNonNull("n_ctx")) nPositions = requiredInt(root, "n_ctx");
        else throw new ModelFormatException(CONFIG_FILE + ": missing required key \"n_positions\" (or \"n_ctx\")");
        int vocabSize = requiredInt(root, "vocab_size");

        float eps = 1e-5f; // GPT2Config's default layer_norm_epsilon
        JsonNode e = root.get("layer_norm_epsilon");
        if (e != null && !e.isNull()) {
            if (!e.isNumber() || !(e.doubleValue() > 0) || !Double.isFinite(e.doubleValue()))
                throw new ModelFormatException(CONFIG_FILE + ": layer_norm_epsilon must be a positive number, got " + e);
            eps = (float) e.doubleValue();
        }

        String actName = optString(root, "activation_function", "gelu_new");
        Activation act = Activation.fromHf(actName);
        if (act == null || act == Activation.SILU)   // silu: the Llama family's gated MLP, not GPT-2's
            throw new ModelFormatException(CONFIG_FILE + ": activation_function \"" + actName
                    + "\" is not supported (use gelu_new, gelu or relu)");

        // The MLP width is fixed at 4C (GPT-2 and the tutorial); n_inner null means exactly that.
        JsonNode inner = root.get("n_inner");
        if (inner != null && !inner.isNull() && !(inner.canConvertToInt() && inner.isIntegralNumber()
                && (long) inner.intValue() == 4L * nEmbd))
            throw new ModelFormatException(CONFIG_FILE + ": n_inner " + inner + " is not supported (only 4 * n_embd = "
                    + 4L * nEmbd + " or null)");
        // Attention variants GPT-2 configs can switch on that our kernels do not implement.
        if (!optBool(root, "scale_attn_weights", true))
            throw new ModelFormatException(CONFIG_FILE + ": scale_attn_weights false is not supported");
        if (optBool(root, "scale_attn_by_inverse_layer_idx", false))
            throw new ModelFormatException(CONFIG_FILE + ": scale_attn_by_inverse_layer_idx true is not supported");
        if (optBool(root, "add_cross_attention", false))
            throw new ModelFormatException(CONFIG_FILE + ": add_cross_attention true is not supported");

        boolean qkvBias = optBool(root, "qkv_bias", true);
        boolean tied = optBool(root, "tie_word_embeddings", true);
        boolean headBias = optBool(root, "lm_head_bias", false);
        String tokName = optString(root, "tokenizer", "gpt2_bpe");
        TokenizerKind tok = switch (tokName) {
            case "gpt2_bpe" -> TokenizerKind.GPT2_BPE;
            case "char" -> TokenizerKind.CHAR;
            default -> throw new ModelFormatException(CONFIG_FILE + ": tokenizer \"" + tokName
                    + "\" is not supported (use \"gpt2_bpe\" or \"char\")");
        };
        try {
            return new ModelConfig(nLayer, nHead, nEmbd, nPositions, vocabSize, eps, act, qkvBias, tied, headBias, tok);
        } catch (IllegalArgumentException ex) {
            throw new ModelFormatException(CONFIG_FILE + ": " + ex.getMessage());
        }
    }

    private static int requiredInt(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) throw new ModelFormatException(CONFIG_FILE + ": missing required key \"" + key + "\"");
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() <= 0)
            throw new ModelFormatException(CONFIG_FILE + ": key \"" + key + "\" must be a positive integer, got " + n);
        return n.intValue();
    }

    private static boolean optBool(JsonNode root, String key, boolean dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return dflt;
        if (!n.isBoolean()) throw new ModelFormatException(CONFIG_FILE + ": key \"" + key + "\" must be true or false, got " + n);
        return n.booleanValue();
    }

    private static String optString(JsonNode root, String key, String dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return dflt;
        if (!n.isTextual()) throw new ModelFormatException(CONFIG_FILE + ": key \"" + key + "\" must be a string, got " + n);
        return Objects.requireNonNull(n.textValue());
    }
}
