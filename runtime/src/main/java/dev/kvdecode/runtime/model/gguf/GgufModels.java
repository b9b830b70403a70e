package dev.kvdecode.runtime.model.gguf;

import dev.kvdecode.kernels.Activation;
import dev.kvdecode.kernels.F32Matrix;
import dev.kvdecode.kernels.GgmlBlocks;
import dev.kvdecode.kernels.GgmlMatrix;
import dev.kvdecode.kernels.Q8Matrix;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.HeapTooSmallException;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.ModelFormatException;
import dev.kvdecode.runtime.model.StoredMatrix;
import dev.kvdecode.runtime.model.StoredWeights;
import dev.kvdecode.runtime.model.TokenizerKind;
import dev.kvdecode.runtime.tokenizer.Gpt2BpeTokenizer;
import dev.kvdecode.runtime.tokenizer.Tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * A GGUF file as a kvdecode model (docs/MODEL_FORMAT.md, "GGUF"): architecture {@code gpt2}, as
 * llama.cpp's convert_hf_to_gguf.py writes it (the Llama family, {@code llama}, {@code qwen2} and
 * {@code qwen3}, is read by {@link GgufLlama} and {@link GgufTokenizers}). Hyperparameters from {@code gpt2.*} keys, weights
 * by llama.cpp's tensor names, the tokenizer from {@code tokenizer.ggml.*}.
 *
 * <p>The linear layers are stored as nn.Linear weights, W^T (out, in) row-major (ne = [in, out]:
 * the converter transposes HF's Conv1D), so each is transposed back into the (in, out) panels of
 * {@link F32Matrix}. Quantized types (Q8_0, Q4_0, Q4_K, Q6_K) stay quantized in a loaded
 * {@link Model} ({@link StoredWeights}: Q8_0 as {@link Q8Matrix#ofQ8_0}, the others as
 * {@link GgmlMatrix}, about the file's bytes), run by the CPU's kernels for those formats;
 * {@link #loadWeights} (the fp32 reference, and the tools that need every weight as fp32)
 * dequantizes them, with a one-line notice.
 */
public final class GgufModels {
    private GgufModels() {}

    /** Whether {@code path} names a GGUF file (a regular file whose name ends in .gguf). */
    public static boolean isGguf(Path path) {
        return path != null && String.valueOf(path.getFileName()).toLowerCase(Locale.ROOT).endsWith(".gguf")
                && !Files.isDirectory(path);
    }

    /**
     * Loads weights and the embedded tokenizer. A file with quantized 2-D tensors keeps them
     * quantized ({@link Model#stored()}); {@code notices} gets the one-line notices of the loading.
     */
    public static Model load(Path file, Consumer<String> notices) {
        try (GgufFile f = GgufFile.open(file)) {
            boolean llama = GgufLlama.reads(f.string("general.architecture"));   // the Llama family (issue 20)
            Gpt2Weights w;
            StoredWeights stored = null;
            if (llama) {
                ModelConfig cfg = GgufLlama.config(f);
                GgufLlama.validate(f, cfg);
                if (GgufLlama.hasQuantizedMatrices(f, cfg)) {
                    Kept k = GgufLlama.readKept(f, cfg);
                    w = k.weights();
                    stored = k.stored();
                } else {
                    w = GgufLlama.readWeights(f, notices);
                }
            } else {
                ModelConfig cfg = config(f);
                validate(f, cfg);
                if (hasQuantizedMatrices(f, cfg)) {
                    Kept k = readKept(f, cfg);
                    w = k.weights();
                    stored = k.stored();
                } else {
                    w = readWeights(f, notices);
                }
            }
            Tokenizer tok = llama ? GgufTokenizers.tokenizer(file, f) : tokenizer(file, f);
            if (tok.vocabSize() > w.config().vocabSize())
                throw new ModelFormatException(f.fileName() + ": token_embd has " + w.config().vocabSize()
                        + " rows, fewer than the tokenizer's " + tok.vocabSize() + " tokens");
            String name = String.valueOf(file.getFileName());
            return new Model(name.substring(0, name.length() - ".gguf".length()), w.config(), w, tok, stored);
        }
    }

    /** The fp32 weights only (no tokenizer needed), quantized tensors dequantized (the reference). */
    public static Gpt2Weights loadWeights(Path file, Consumer<String> notices) {
        try (GgufFile f = GgufFile.open(file)) {
            if (GgufLlama.reads(f.string("general.architecture"))) return GgufLlama.readWeights(f, notices);
            return readWeights(f, notices);
        }
    }

    /** The config the file's {@code gpt2.*} keys and tensors describe. */
    public static ModelConfig config(GgufFile f) {
        String arch = f.string("general.architecture");
        if (GgufLlama.reads(arch)) return GgufLlama.config(f);
        if (!arch.equals("gpt2"))
            throw new ModelFormatException(f.fileName() + ": general.architecture \"" + GgufFile.printable(arch)
                    + "\" is not supported (supported: gpt2, llama, qwen2, qwen3)");
        int nLayer = (int) f.integer("gpt2.block_count", 1, 1 << 16);
        int nEmbd = (int) f.integer("gpt2.embedding_length", 1, 1 << 20);
        int nHead = (int) f.integer("gpt2.attention.head_count", 1, 1 << 16);
        int nPositions = (int) f.integer("gpt2.context_length", 1, 1 << 24);
        if (f.get("gpt2.feed_forward_length") != null) {
            long ff = f.integer("gpt2.feed_forward_length", 1, Integer.MAX_VALUE);
            if (ff != 4L * nEmbd)
                throw new ModelFormatException(f.fileName() + ": gpt2.feed_forward_length " + ff
                        + " is not supported (only 4 * embedding_length = " + 4L * nEmbd + ")");
        }
        double eps = f.floating("gpt2.attention.layer_norm_epsilon");
        if (!(eps > 0) || !Double.isFinite(eps))
            throw new ModelFormatException(f.fileName() + ": gpt2.attention.layer_norm_epsilon must be a positive number, got " + eps);
        long[] embd = f.tensor("token_embd.weight").dims();
        if (embd.length != 2 || embd[1] < 1 || embd[1] > Integer.MAX_VALUE)
            throw new ModelFormatException(f.fileName() + ": tensor token_embd.weight has dims "
                    + f.tensor("token_embd.weight").dimsString() + ", expected [" + nEmbd + ", vocab]");
        boolean qkvBias = f.contains("blk.0.attn_qkv.bias");
        boolean tied = !f.contains("output.weight");
        try {
            return new ModelConfig(nLayer, nHead, nEmbd, nPositions, (int) embd[1], (float) eps, Activation.GELU_NEW,
                    qkvBias, tied, false, TokenizerKind.GPT2_BPE);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(f.fileName() + ": " + e.getMessage());
        }
    }

    /** Every tensor the config calls for, name -> expected dims (ne order), in file-writing order. */
    static Map<String, long[]> expectedDims(ModelConfig cfg) {
        long c = cfg.nEmbd(), v = cfg.vocabSize(), p = cfg.nPositions();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("token_embd.weight", new long[] {c, v});
        m.put("position_embd.weight", new long[] {c, p});
        for (int l = 0; l < cfg.nLayer(); l++) {
            String b = "blk." + l + ".";
            m.put(b + "attn_norm.weight", new long[] {c});
            m.put(b + "attn_norm.bias", new long[] {c});
            m.put(b + "attn_qkv.weight", new long[] {c, 3 * c});
            if (cfg.qkvBias()) m.put(b + "attn_qkv.bias", new long[] {3 * c});
            m.put(b + "attn_output.weight", new long[] {c, c});
            m.put(b + "attn_output.bias", new long[] {c});
            m.put(b + "ffn_norm.weight", new long[] {c});
            m.put(b + "ffn_norm.bias", new long[] {c});
            m.put(b + "ffn_up.weight", new long[] {c, 4 * c});
            m.put(b + "ffn_up.bias", new long[] {4 * c});
            m.put(b + "ffn_down.weight", new long[] {4 * c, c});
            m.put(b + "ffn_down.bias", new long[] {c});
        }
        m.put("output_norm.weight", new long[] {c});
        m.put("output_norm.bias", new long[] {c});
        if (!cfg.tiedHead()) m.put("output.weight", new long[] {c, v});
        return m;
    }

    /** Checks every tensor's presence, dims and type against the config; no extra tensors. */
    static void validate(GgufFile f, ModelConfig cfg) {
        Map<String, long[]> expected = expectedDims(cfg);
        List<String> missing = new ArrayList<>();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            if (!f.contains(e.getKey())) {
                missing.add(e.getKey());
                continue;
            }
            GgufFile.Tensor t = f.tensor(e.getKey());
            if (!Arrays.equals(t.dims(), e.getValue()))
                throw new ModelFormatException(f.fileName() + ": tensor " + t.name() + " has dims " + t.dimsString()
                        + ", expected " + Arrays.toString(e.getValue()) + " (ne order) from the gpt2.* metadata");
            if (e.getValue().length == 1 && t.type().layout() != null)
                throw new ModelFormatException(f.fileName() + ": tensor " + t.name() + " is " + t.type()
                        + "; norms and biases must be F32, F16 or BF16");
        }
        if (!missing.isEmpty()) {
            String list = missing.size() <= 4 ? String.join(", ", missing)
                    : String.join(", ", missing.subList(0, 4)) + " and " + (missing.size() - 4) + " more";
            throw new ModelFormatException(f.fileName() + ": missing tensor" + (missing.size() == 1 ? " " : "s ") + list);
        }
        for (String name : f.tensors().keySet())
            if (!expected.containsKey(name))
                throw new ModelFormatException(f.fileName() + ": unexpected tensor " + GgufFile.printable(name) + " (not part of a GPT-2 with "
                        + cfg.nLayer() + " layers" + (cfg.qkvBias() ? "" : ", no qkv bias") + ")");
    }

    /** Validates and reads the weights, widened or dequantized to fp32. */
    public static Gpt2Weights readWeights(GgufFile f, Consumer<String> notices) {
        ModelConfig cfg = config(f);
        validate(f, cfg);
        Set<GgmlType> types = EnumSet.noneOf(GgmlType.class);
        long bytes = 0;
        for (String name : expectedDims(cfg).keySet()) {
            GgufFile.Tensor t = f.tensor(name);
            types.add(t.type());
            bytes += 4 * t.elementCount() * (t.dims().length == 2 && !name.contains("embd") ? 2 : 1);   // + the transpose
        }
        Set<String> quantized = new TreeSet<>();
        for (GgmlType t : types) if (t.layout() != null) quantized.add(t.name());
        if (!quantized.isEmpty())
            notices.accept("kvdecode: " + f.fileName() + ": " + String.join(", ", quantized)
                    + " weights are dequantized to fp32 (the fp32 reference copy)");
        String what = f.fileName() + ": the fp32 weights";
        HeapTooSmallException.check(what, bytes);
        try {
            return readAll(f, cfg, types);
        } catch (OutOfMemoryError e) {
            throw HeapTooSmallException.of(what, bytes);
        }
    }

    private static Gpt2Weights readAll(GgufFile f, ModelConfig cfg, Set<GgmlType> types) {
        int C = cfg.nEmbd();
        List<LayerWeights> layers = new ArrayList<>(cfg.nLayer());
        for (int l = 0; l < cfg.nLayer(); l++) {
            String b = "blk." + l + ".";
            layers.add(new LayerWeights(
                    f.readFloats(b + "attn_norm.weight"), f.readFloats(b + "attn_norm.bias"),
                    linear(f, b + "attn_qkv.weight", C, 3 * C), cfg.qkvBias() ? f.readFloats(b + "attn_qkv.bias") : null,
                    linear(f, b + "attn_output.weight", C, C), f.readFloats(b + "attn_output.bias"),
                    f.readFloats(b + "ffn_norm.weight"), f.readFloats(b + "ffn_norm.bias"),
                    linear(f, b + "ffn_up.weight", C, 4 * C), f.readFloats(b + "ffn_up.bias"),
                    linear(f, b + "ffn_down.weight", 4 * C, C), f.readFloats(b + "ffn_down.bias")));
        }
        // token_embd's rows (ne = [C, V]) are Gpt2Weights' (V, C) wte as stored; output likewise
        float[] wte = f.readFloats("token_embd.weight");
        float[] lmHead = cfg.tiedHead() ? wte : f.readFloats("output.weight");
        String dtype = types.size() == 1 ? types.iterator().next().name() : "mixed";
        return new Gpt2Weights(cfg, wte, f.readFloats("position_embd.weight"), List.copyOf(layers),
                f.readFloats("output_norm.weight"), f.readFloats("output_norm.bias"), lmHead, null, dtype);
    }

    /** Whether any 2-D tensor (a linear layer, token_embd, output) is quantized. */
    static boolean hasQuantizedMatrices(GgufFile f, ModelConfig cfg) {
        for (Map.Entry<String, long[]> e : expectedDims(cfg).entrySet())
            if (e.getValue().length == 2 && f.tensor(e.getKey()).type().layout() != null) return true;
        return false;
    }

    /**
     * The weights of a file with quantized matrices: Gpt2Weights with null matrices (and null
     * wte / lmHead where those are quantized), and the StoredWeights. Quantized tensors are
     * repacked, not dequantized; F32/F16/BF16 ones are widened as {@link #readWeights} does.
     */
    private static Kept readKept(GgufFile f, ModelConfig cfg) {
        int C = cfg.nEmbd(), V = cfg.vocabSize(), L = cfg.nLayer();
        long bytes = 0;
        for (Map.Entry<String, long[]> e : expectedDims(cfg).entrySet()) {
            GgufFile.Tensor t = f.tensor(e.getKey());
            // kept: the file's bytes + fp32 scales (< 1.15x); widened: fp32, + the transpose for a linear layer
            bytes += t.type().layout() != null ? t.sizeBytes() + t.sizeBytes() / 7
                    : 4 * t.elementCount() * (e.getValue().length == 2 && !e.getKey().contains("embd") ? 2 : 1);
        }
        String what = f.fileName() + ": the weights";
        HeapTooSmallException.check(what, bytes);
        try {
            StoredMatrix[] attn = new StoredMatrix[L], attnProj = new StoredMatrix[L], fc = new StoredMatrix[L], fcProj = new StoredMatrix[L];
            List<LayerWeights> layers = new ArrayList<>(L);
            for (int l = 0; l < L; l++) {
                String b = "blk." + l + ".";
                attn[l] = stored(f, b + "attn_qkv.weight", C, 3 * C);
                attnProj[l] = stored(f, b + "attn_output.weight", C, C);
                fc[l] = stored(f, b + "ffn_up.weight", C, 4 * C);
                fcProj[l] = stored(f, b + "ffn_down.weight", 4 * C, C);
                layers.add(new LayerWeights(
                        f.readFloats(b + "attn_norm.weight"), f.readFloats(b + "attn_norm.bias"),
                        null, cfg.qkvBias() ? f.readFloats(b + "attn_qkv.bias") : null,
                        null, f.readFloats(b + "attn_output.bias"),
                        f.readFloats(b + "ffn_norm.weight"), f.readFloats(b + "ffn_norm.bias"),
                        null, f.readFloats(b + "ffn_up.bias"),
                        null, f.readFloats(b + "ffn_down.bias")));
            }
            // token_embd (ne [C, V]) is W^T of the (C, V) head matmul: kept as that matrix when quantized
            boolean embQ = f.tensor("token_embd.weight").type().layout() != null;
            StoredMatrix emb = embQ ? stored(f, "token_embd.weight", C, V) : null;
            float[] wte = embQ ? null : f.readFloats("token_embd.weight");
            StoredMatrix head;
            float[] lmHead;
            if (cfg.tiedHead()) {
                head = emb;
                lmHead = wte;
            } else if (f.tensor("output.weight").type().layout() != null) {
                head = stored(f, "output.weight", C, V);
                lmHead = null;
            } else {
                head = null;
                lmHead = f.readFloats("output.weight");
            }
            Set<GgmlType> types = EnumSet.noneOf(GgmlType.class);
            for (String name : expectedDims(cfg).keySet()) types.add(f.tensor(name).type());
            String dtype = types.size() == 1 ? types.iterator().next().name() : "mixed";
            Gpt2Weights w = new Gpt2Weights(cfg, wte, f.readFloats("position_embd.weight"), List.copyOf(layers),
                    f.readFloats("output_norm.weight"), f.readFloats("output_norm.bias"), lmHead, null, dtype);
            return new Kept(w, new StoredWeights(attn, attnProj, fc, fcProj, head, emb));
        } catch (OutOfMemoryError e) {
            throw HeapTooSmallException.of(what, bytes);
        }
    }

    record Kept(Gpt2Weights weights, StoredWeights stored) {}

    /** A 2-D tensor stored (out, in) row-major -> W (in, out) in its own format (F32/F16/BF16 widened to fp32). */
    static StoredMatrix stored(GgufFile f, String name, int in, int out) {
        GgmlBlocks.Layout layout = f.tensor(name).type().layout();
        if (layout == null) return StoredMatrix.of(linear(f, name, in, out));
        if (layout == GgmlBlocks.Layout.Q8_0) return StoredMatrix.of(Q8Matrix.ofQ8_0(f.raw(name), in, out));
        return StoredMatrix.of(GgmlMatrix.of(layout, f.raw(name), in, out));
    }

    /** A linear layer stored (out, in) row-major -> W (in, out) packed. */
    private static F32Matrix linear(GgufFile f, String name, int in, int out) {
        float[] wt = f.readFloats(name);
        float[] w = new float[wt.length];
        for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) w[i * out + o] = wt[o * in + i];
        return F32Matrix.of(w, in, out);
    }

    /** token_type values (llama.cpp's llama_token_type) for tokens that are never split. */
    static final int TOKEN_CONTROL = 3, TOKEN_USER_DEFINED = 4;

    /** The embedded tokenizer: {@code tokenizer.ggml.model} "gpt2" (byte-level BPE). */
    public static Tokenizer tokenizer(Path file, GgufFile f) {
        String model = f.string("tokenizer.ggml.model");
        if (!model.equals("gpt2"))
            throw new ModelFormatException(f.fileName() + ": tokenizer.ggml.model \"" + GgufFile.printable(model)
                    + "\" is not supported (this build reads \"gpt2\", byte-level BPE)");
        String[] tokens = f.strings("tokenizer.ggml.tokens");
        String[] merges = f.strings("tokenizer.ggml.merges");
        Set<Integer> added = new HashSet<>();
        if (f.get("tokenizer.ggml.token_type") != null) {
            long[] types = f.integers("tokenizer.ggml.token_type");
            if (types.length != tokens.length)
                throw new ModelFormatException(f.fileName() + ": tokenizer.ggml.token_type has " + types.length
                        + " entries for " + tokens.length + " tokens");
            for (int i = 0; i < types.length; i++)
                if (types[i] == TOKEN_CONTROL || types[i] == TOKEN_USER_DEFINED) added.add(i);
        }
        return Gpt2BpeTokenizer.of(file, tokens, merges, added);
    }
}
