package dev.kvdecode.runtime.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvdecode.kernels.Activation;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads the config.json of the Llama-family architectures transformers writes
 * (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM; 4.x with
 * {@code rope_theta}/{@code rope_scaling}, 5.x with {@code rope_parameters}) into a
 * {@link ModelConfig}: RMSNorm, RoPE, grouped-query attention, SwiGLU. Anything the runtime would
 * compute differently from transformers is a one-line {@link ModelFormatException} naming the key.
 */
final class LlamaConfigs {
    private LlamaConfigs() {}

    private static final String F = ModelLoader.CONFIG_FILE;

    /** The architectures read here, and their model_type. */
    static final Map<String, String> ARCHITECTURES = Map.of(
            "LlamaForCausalLM", "llama", "MistralForCausalLM", "mistral",
            "Qwen2ForCausalLM", "qwen2", "Qwen3ForCausalLM", "qwen3");

    /** The architecture a config names (architectures[0], else from model_type), or null if not this family. */
    static String architecture(JsonNode root) {
        JsonNode a = root.get("architectures");
        if (a != null && a.isArray() && !a.isEmpty() && a.get(0).isTextual()) {
            String name = a.get(0).textValue();
            if (ARCHITECTURES.containsKey(name)) return name;
            if (!name.equals("GPT2LMHeadModel") && !name.equals("GPT2Model"))
                throw new ModelFormatException(F + ": architectures \"" + name + "\" is not supported (supported: GPT2LMHeadModel, "
                        + String.join(", ", ARCHITECTURES.keySet().stream().sorted().toList()) + ")");
            return null;
        }
        JsonNode t = root.get("model_type");
        if (t != null && t.isTextual())
            for (Map.Entry<String, String> e : ARCHITECTURES.entrySet()) if (e.getValue().equals(t.textValue())) return e.getKey();
        return null;
    }

    /**
     * @param generationEos eos ids from generation_config.json (empty if there is none)
     */
    static ModelConfig parse(JsonNode root, String arch, List<Integer> generationEos) {
        if (root.hasNonNull("quantization_config"))
            throw new ModelFormatException(F + ": quantization_config is not supported (use an F32, F16 or BF16 checkpoint)");
        String act = str(root, "hidden_act", "silu");
        if (!act.equals("silu"))
            throw new ModelFormatException(F + ": hidden_act \"" + act + "\" is not supported (the Llama family uses silu)");
        int C = posInt(root, "hidden_size", null);
        int I = posInt(root, "intermediate_size", null);
        int L = posInt(root, "num_hidden_layers", null);
        int NH = posInt(root, "num_attention_heads", null);
        int NKV = posInt(root, "num_key_value_heads", NH);
        int maxT = posInt(root, "max_position_embeddings", null);
        int V = posInt(root, "vocab_size", null);
        if (NH % NKV != 0)
            throw new ModelFormatException(F + ": num_attention_heads " + NH + " is not a multiple of num_key_value_heads " + NKV);
        Integer hsDefault = null;
        if (C % NH == 0) hsDefault = C / NH;
        else if (!root.hasNonNull("head_dim"))
            throw new ModelFormatException(F + ": hidden_size " + C + " is not a multiple of num_attention_heads " + NH + " (and no head_dim is given)");
        int HS = posInt(root, "head_dim", hsDefault);
        if (HS % 2 != 0) throw new ModelFormatException(F + ": head_dim " + HS + " must be even for rotary positions");
        // hostile sizes: every matrix must fit one Java array (the file check comes later)
        long biggest = Math.max(Math.max((long) C * (NH + 2L * NKV) * HS, 2L * C * I), (long) V * C);
        if (biggest > Integer.MAX_VALUE - 8)
            throw new ModelFormatException(F + ": a weight matrix of " + biggest + " elements (hidden_size " + C + ", intermediate_size "
                    + I + ", vocab_size " + V + ") exceeds what one Java array holds");
        float eps = (float) posNumber(root, "rms_norm_eps", 1e-6);

        checkSlidingWindow(root, arch, maxT);
        if (root.hasNonNull("partial_rotary_factor") && root.get("partial_rotary_factor").asDouble() != 1.0)
            throw new ModelFormatException(F + ": partial_rotary_factor " + root.get("partial_rotary_factor") + " is not supported");
        ModelConfig.Rotary rope = rope(root);

        boolean attnBias = !arch.equals("MistralForCausalLM") && bool(root, "attention_bias", false);
        boolean qkvBias = arch.equals("Qwen2ForCausalLM") || attnBias;
        boolean outBias = attnBias;   // Qwen2: q/k/v only; Llama and Qwen3: attention_bias covers o_proj too
        boolean mlpBias = arch.equals("LlamaForCausalLM") && bool(root, "mlp_bias", false);
        boolean qkNorm = arch.equals("Qwen3ForCausalLM");
        boolean tied = bool(root, "tie_word_embeddings", false);

        int bos = -1;
        List<Integer> bosIds = ids(root, "bos_token_id", V);
        if (bosIds.size() > 1) throw new ModelFormatException(F + ": bos_token_id " + root.get("bos_token_id") + " must be one id");
        if (!bosIds.isEmpty()) bos = bosIds.get(0);
        Set<Integer> eos = new LinkedHashSet<>(ids(root, "eos_token_id", V));
        for (int id : generationEos) {
            if (id >= V) throw new ModelFormatException(ModelLoader.GENERATION_CONFIG_FILE + ": eos_token_id " + id + " is outside the vocabulary (vocab_size " + V + ")");
            eos.add(id);
        }
        try {
            return new ModelConfig(arch, L, C, maxT, V,
                    new ModelConfig.Norm(ModelConfig.NormKind.RMS_NORM, eps), rope,
                    new ModelConfig.Attention(NH, NKV, HS, qkvBias, outBias, qkNorm),
                    new ModelConfig.Mlp(Activation.SILU, true, I, mlpBias),
                    tied, false, TokenizerKind.TOKENIZER_JSON, bos, new ArrayList<>(eos));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(F + ": " + e.getMessage());
        }
    }

    /**
     * Sliding-window attention is not implemented: a window that is on and shorter than
     * max_position_embeddings would change the outputs, so it is refused. Qwen2/3 switch it with
     * use_sliding_window (off by default); Mistral has it whenever sliding_window is set.
     */
    private static void checkSlidingWindow(JsonNode root, String arch, int maxT) {
        boolean switchable = arch.startsWith("Qwen");
        if (switchable && !bool(root, "use_sliding_window", false)) return;
        JsonNode w = root.get("sliding_window");
        if (w == null || w.isNull()) {
            if (switchable)
                throw new ModelFormatException(F + ": use_sliding_window true is not supported (sliding-window attention)");
            return;
        }
        if (!w.isIntegralNumber() || w.asLong() <= 0)
            throw new ModelFormatException(F + ": sliding_window must be a positive integer or null, got " + w);
        if (w.asLong() < maxT)
            throw new ModelFormatException(F + ": sliding_window " + w + " is smaller than max_position_embeddings " + maxT
                    + " (sliding-window attention is not supported)");
    }

    /** RoPE from 5.x rope_parameters, or 4.x rope_theta + rope_scaling ({"rope_type"} or the older {"type"}). */
    private static ModelConfig.Rotary rope(JsonNode root) {
        JsonNode params = root.get("rope_parameters");
        String where;
        double theta;
        JsonNode scaling;
        if (params != null && !params.isNull()) {
            if (!params.isObject())
                throw new ModelFormatException(F + ": rope_parameters must be an object, got " + params);
            where = "rope_parameters";
            theta = posNumber(params, "rope_theta", 10000.0, where + ".");
            scaling = params;
        } else {
            theta = posNumber(root, "rope_theta", 10000.0);
            scaling = root.get("rope_scaling");
            where = "rope_scaling";
            if (scaling == null || scaling.isNull()) return new ModelConfig.Rotary(theta, ModelConfig.RopeScaling.NONE);
            if (!scaling.isObject()) throw new ModelFormatException(F + ": rope_scaling must be an object or null, got " + scaling);
        }
        String typeKey = scaling.hasNonNull("rope_type") ? "rope_type" : "type";
        String type = str(scaling, typeKey, "default", where + ".");
        String p = where + ".";
        try {
            return new ModelConfig.Rotary(theta, switch (type) {
                case "default" -> ModelConfig.RopeScaling.NONE;
                case "linear" -> new ModelConfig.RopeScaling(ModelConfig.RopeType.LINEAR,
                        posNumber(scaling, "factor", null, p), 0, 0, 0);
                case "llama3" -> new ModelConfig.RopeScaling(ModelConfig.RopeType.LLAMA3,
                        posNumber(scaling, "factor", null, p), posNumber(scaling, "low_freq_factor", null, p),
                        posNumber(scaling, "high_freq_factor", null, p), posInt(scaling, "original_max_position_embeddings", null, p));
                default -> throw new ModelFormatException(F + ": " + where + "." + typeKey + " \"" + type
                        + "\" is not supported (supported: default, linear, llama3)");
            });
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(F + ": " + where + ": " + e.getMessage());
        }
    }

    /** An id, a list of ids, or null (none), each in [0, V). */
    static List<Integer> ids(JsonNode root, String key, int V) {
        JsonNode n = root.get(key);
        List<Integer> out = new ArrayList<>();
        if (n == null || n.isNull()) return out;
        if (n.isArray()) for (JsonNode e : n) out.add(id(e, key, V));
        else out.add(id(n, key, V));
        return out;
    }

    private static int id(JsonNode n, String key, int V) {
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 0 || n.intValue() >= V)
            throw new ModelFormatException(F + ": " + key + " " + n + " must be a token id in [0, vocab_size " + V + ")");
        return n.intValue();
    }

    private static int posInt(JsonNode root, String key, Integer dflt) { return posInt(root, key, dflt, ""); }

    private static int posInt(JsonNode root, String key, Integer dflt, String prefix) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            if (dflt == null) throw new ModelFormatException(F + ": missing required key \"" + prefix + key + "\"");
            return dflt;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() <= 0 || n.intValue() > (1 << 30))
            throw new ModelFormatException(F + ": key \"" + prefix + key + "\" must be a positive integer up to 2^30, got " + n);
        return n.intValue();
    }

    private static double posNumber(JsonNode root, String key, Double dflt) { return posNumber(root, key, dflt, ""); }

    private static double posNumber(JsonNode root, String key, Double dflt, String prefix) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            if (dflt == null) throw new ModelFormatException(F + ": missing required key \"" + prefix + key + "\"");
            return dflt;
        }
        if (!n.isNumber() || !(n.doubleValue() > 0) || !Double.isFinite(n.doubleValue()))
            throw new ModelFormatException(F + ": key \"" + prefix + key + "\" must be a positive number, got " + n);
        return n.doubleValue();
    }

    private static boolean bool(JsonNode root, String key, boolean dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return dflt;
        if (!n.isBoolean()) throw new ModelFormatException(F + ": key \"" + key + "\" must be true or false, got " + n);
        return n.booleanValue();
    }

    private static String str(JsonNode root, String key, String dflt) { return str(root, key, dflt, ""); }

    private static String str(JsonNode root, String key, String dflt, String prefix) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return dflt;
        if (!n.isTextual()) throw new ModelFormatException(F + ": key \"" + prefix + key + "\" must be a string, got " + n);
        return n.textValue();
    }
}
