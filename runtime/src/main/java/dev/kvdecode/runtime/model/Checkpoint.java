package dev.kvdecode.runtime.model;

import dev.kvdecode.kernels.F32Matrix;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * An open, validated model checkpoint: config.json plus the mapped model.safetensors, with every
 * tensor GPT-2 needs found (under its canonical name, see docs/MODEL_FORMAT.md) and its shape
 * checked against the config. The CPU widens it with {@link #readWeights()}; a GPU backend can
 * upload {@link SafeTensors#raw} slices in their stored dtype instead.
 *
 * <p>Canonical names are Hugging Face's without the {@code transformer.} prefix, e.g.
 * {@code h.0.attn.c_attn.weight}. Files may use either spelling; the legacy attention-mask buffers
 * ({@code h.N.attn.bias}, {@code h.N.attn.masked_bias}) are ignored, as is {@code lm_head.weight}
 * when the config ties the head to {@code wte}. Any other tensor the config does not account for is
 * an error, since it means the config and the weights disagree.
 */
public final class Checkpoint implements AutoCloseable {
    private static final String PREFIX = "transformer.";
    private static final Pattern LEGACY_BUFFER = Pattern.compile("(transformer\\.)?h\\.\\d+\\.attn\\.(bias|masked_bias)");

    private final ModelConfig config;
    private final SafeTensors file;
    /** canonical name -> the tensor in the file */
    private final Map<String, SafeTensors.TensorInfo> tensors;

    private Checkpoint(ModelConfig config, SafeTensors file, Map<String, SafeTensors.TensorInfo> tensors) {
        this.config = config;
        this.file = file;
        this.tensors = tensors;
    }

    /** Reads config.json and maps model.safetensors in {@code dir}; the caller must close the result. */
    public static Checkpoint open(Path dir) {
        ModelConfig config = ModelLoader.readConfig(dir);
        Path weights = ModelLoader.requireFile(dir, ModelLoader.WEIGHTS_FILE);
        // Old save_pretrained files may store the ignored mask buffers as BOOL: let them through.
        SafeTensors st = SafeTensors.open(weights, n -> LEGACY_BUFFER.matcher(n).matches());
        try {
            Checkpoint c = new Checkpoint(config, st, resolve(config, st));
            st = null;
            return c;
        } finally {
            if (st != null) st.close();
        }
    }

    /** The tensors the config calls for, canonical name -> expected shape, in file-writing order. */
    public static Map<String, long[]> expectedShapes(ModelConfig cfg) {
        long c = cfg.nEmbd(), v = cfg.vocabSize(), p = cfg.nPositions();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("wte.weight", new long[]{v, c});
        m.put("wpe.weight", new long[]{p, c});
        for (int l = 0; l < cfg.nLayer(); l++) {
            String h = "h." + l + ".";
            m.put(h + "ln_1.weight", new long[]{c});
            m.put(h + "ln_1.bias", new long[]{c});
            m.put(h + "attn.c_attn.weight", new long[]{c, 3 * c});
            if (cfg.qkvBias()) m.put(h + "attn.c_attn.bias", new long[]{3 * c});
            m.put(h + "attn.c_proj.weight", new long[]{c, c});
            m.put(h + "attn.c_proj.bias", new long[]{c});
            m.put(h + "ln_2.weight", new long[]{c});
            m.put(h + "ln_2.bias", new long[]{c});
            m.put(h + "mlp.c_fc.weight", new long[]{c, 4 * c});
            m.put(h + "mlp.c_fc.bias", new long[]{4 * c});
            m.put(h + "mlp.c_proj.weight", new long[]{4 * c, c});
            m.put(h + "mlp.c_proj.bias", new long[]{c});
        }
        m.put("ln_f.weight", new long[]{c});
        m.put("ln_f.bias", new long[]{c});
        if (!cfg.tiedHead()) m.put("lm_head.weight", new long[]{v, c});
        if (cfg.headBias()) m.put("lm_head.bias", new long[]{v});
        return m;
    }

    private static Map<String, SafeTensors.TensorInfo> resolve(ModelConfig cfg, SafeTensors st) {
        String f = st.fileName();
        // Count first: a config with n_layer 2^31 - 1 would otherwise build billions of expected
        // names before finding them missing (issue 16, docs/FUZZING.md). A few missing
        // tensors are named below instead.
        long needed = cfg.nLayer() * (11L + (cfg.qkvBias() ? 1 : 0)) + 4 + (cfg.tiedHead() ? 0 : 1) + (cfg.headBias() ? 1 : 0);
        if (needed - st.tensors().size() > 10_000)
            throw new ModelFormatException(f + ": has " + st.tensors().size() + " tensors, but the model "
                    + ModelLoader.CONFIG_FILE + " describes needs " + needed + " (" + describe(cfg) + ")");
        Map<String, SafeTensors.TensorInfo> out = new HashMap<>();
        Set<String> used = new HashSet<>();
        List<String> missing = new ArrayList<>();
        for (Map.Entry<String, long[]> e : expectedShapes(cfg).entrySet()) {
            String name = e.getKey();
            List<String> present = new ArrayList<>();
            for (String candidate : spellings(name)) if (st.contains(candidate)) present.add(candidate);
            if (present.size() > 1)
                throw new ModelFormatException(f + ": has both " + present.get(0) + " and " + present.get(1));
            if (present.isEmpty()) {
                missing.add(name);
                continue;
            }
            SafeTensors.TensorInfo t = st.info(present.get(0));
            if (!java.util.Arrays.equals(t.shape(), e.getValue()))
                throw new ModelFormatException(f + ": tensor " + t.name() + " has shape " + t.shapeString()
                        + ", expected " + SafeTensors.formatShape(e.getValue()) + " from " + ModelLoader.CONFIG_FILE);
            out.put(name, t);
            used.add(t.name());
        }
        if (!missing.isEmpty()) {
            String list = missing.size() <= 4 ? String.join(", ", missing)
                    : String.join(", ", missing.subList(0, 4)) + " and " + (missing.size() - 4) + " more";
            throw new ModelFormatException(f + ": missing tensor" + (missing.size() == 1 ? " " : "s ") + list
                    + " (required by " + ModelLoader.CONFIG_FILE + ")");
        }
        for (String name : st.tensors().keySet()) {
            if (used.contains(name) || LEGACY_BUFFER.matcher(name).matches()) continue;
            if (cfg.tiedHead() && name.equals("lm_head.weight")) continue; // tied: the copy of wte is redundant
            throw new ModelFormatException(f + ": unexpected tensor " + name + " (not part of the model "
                    + ModelLoader.CONFIG_FILE + " describes: " + describe(cfg) + ")");
        }
        return Map.copyOf(out);
    }

    /**
     * The names a canonical tensor may have in a file: as is, with HF's "transformer." prefix
     * (lm_head lives outside that submodule, so it never has it), and for the embeddings also
     * bare "wte"/"wpe", the spelling branch train's char-model exporter writes.
     */
    private static List<String> spellings(String name) {
        if (name.startsWith("lm_head.")) return List.of(name);
        if (name.equals("wte.weight") || name.equals("wpe.weight"))
            return List.of(name, PREFIX + name, name.substring(0, 3));
        return List.of(name, PREFIX + name);
    }

    private static String describe(ModelConfig c) {
        return "n_layer " + c.nLayer() + ", qkv_bias " + c.qkvBias() + ", tie_word_embeddings " + c.tiedHead()
                + ", lm_head_bias " + c.headBias();
    }

    public ModelConfig config() { return config; }

    /** The mapped file; its raw slices are valid until this checkpoint is closed. */
    public SafeTensors file() { return file; }

    /**
     * The tensor stored under a canonical name. For a tied head, {@code lm_head.weight} is
     * {@code wte.weight}. Throws for names the config does not call for (e.g. a disabled bias).
     */
    public SafeTensors.TensorInfo tensor(String canonicalName) {
        if (canonicalName.equals("lm_head.weight") && config.tiedHead()) canonicalName = "wte.weight";
        SafeTensors.TensorInfo t = tensors.get(canonicalName);
        if (t == null) throw new IllegalArgumentException("no tensor " + canonicalName + " in this model");
        return t;
    }

    /** The dtype all tensors share (F32, F16 or BF16), or "mixed". */
    public String storedDtype() {
        Set<SafeTensors.DType> seen = new HashSet<>();
        for (SafeTensors.TensorInfo t : tensors.values()) seen.add(t.dtype());
        return seen.size() == 1 ? seen.iterator().next().name() : "mixed";
    }

    private float[] read(String canonical) { return file.readFloats(tensor(canonical).name()); }

    /**
     * A linear layer's W (in, out) packed as it is read: F32 straight from the mapping, F16 and
     * BF16 widened first (one matrix at a time), so no flat copy of the model is kept.
     */
    private F32Matrix matrix(String canonical, int in, int out) {
        SafeTensors.TensorInfo t = tensor(canonical);
        return t.dtype() == SafeTensors.DType.F32 ? F32Matrix.of(file.raw(t.name()), in, out)
                : F32Matrix.of(file.readFloats(t.name()), in, out);
    }

    /** Widens every tensor to fp32 on the heap (the CPU backend's weights; linear layers packed, see {@link F32Matrix}). */
    public Gpt2Weights readWeights() {
        long bytes = 0;   // the fp32 copy of every tensor (a tied head is wte's array)
        for (SafeTensors.TensorInfo t : tensors.values()) bytes += 4 * t.elementCount();
        String what = file.fileName() + ": the fp32 weights";
        HeapTooSmallException.check(what, bytes);
        try {
            return readAll();
        } catch (OutOfMemoryError e) {   // what was read so far is garbage once this unwinds
            throw HeapTooSmallException.of(what, bytes);
        }
    }

    private Gpt2Weights readAll() {
        int C = config.nEmbd();
        List<LayerWeights> layers = new ArrayList<>(config.nLayer());
        for (int l = 0; l < config.nLayer(); l++) {
            String h = "h." + l + ".";
            layers.add(new LayerWeights(
                    read(h + "ln_1.weight"), read(h + "ln_1.bias"),
                    matrix(h + "attn.c_attn.weight", C, 3 * C), config.qkvBias() ? read(h + "attn.c_attn.bias") : null,
                    matrix(h + "attn.c_proj.weight", C, C), read(h + "attn.c_proj.bias"),
                    read(h + "ln_2.weight"), read(h + "ln_2.bias"),
                    matrix(h + "mlp.c_fc.weight", C, 4 * C), read(h + "mlp.c_fc.bias"),
                    matrix(h + "mlp.c_proj.weight", 4 * C, C), read(h + "mlp.c_proj.bias")));
        }
        float[] wte = read("wte.weight");
        // HF's lm_head is nn.Linear(C, V): its weight is [V, C], already Gpt2Weights' (V, C) layout.
        float[] lmHead = config.tiedHead() ? wte : read("lm_head.weight");
        return new Gpt2Weights(config, wte, read("wpe.weight"), List.copyOf(layers),
                read("ln_f.weight"), read("ln_f.bias"), lmHead,
                config.headBias() ? read("lm_head.bias") : null, storedDtype());
    }

    @Override
    public void close() { file.close(); }
}
