package dev.kvdecode.runtime.model.gguf;

import dev.kvdecode.kernels.Activation;
import dev.kvdecode.kernels.F32Matrix;
import dev.kvdecode.kernels.GgmlBlocks;
import dev.kvdecode.kernels.GgmlMatrix;
import dev.kvdecode.kernels.Q8Matrix;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.HeapTooSmallException;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.ModelFormatException;
import dev.kvdecode.runtime.model.StoredMatrix;
import dev.kvdecode.runtime.model.StoredWeights;
import dev.kvdecode.runtime.model.TokenizerKind;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * A GGUF file of the Llama family (architectures {@code llama} — also Mistral's —, {@code qwen2},
 * {@code qwen3}) as llama.cpp's convert_hf_to_gguf.py writes it, read into the same
 * {@link ModelConfig} and {@link Gpt2Weights} as the Hugging Face folder of those weights
 * (docs/MODEL_FORMAT.md, "GGUF"). The hyperparameters come from {@code {arch}.*} keys, the
 * weights by llama.cpp's tensor names:
 * <pre>
 *   token_embd (V rows of C)          model.embed_tokens
 *   blk.N.attn_norm, ffn_norm         input_layernorm, post_attention_layernorm
 *   blk.N.attn_q/k/v (+ .bias)        self_attn.q/k/v_proj  (q, k permuted for llama, see below)
 *   blk.N.attn_q_norm, attn_k_norm    Qwen3's self_attn.q_norm, k_norm
 *   blk.N.attn_output (+ .bias)       self_attn.o_proj
 *   blk.N.ffn_gate, ffn_up, ffn_down  mlp.gate_proj, up_proj, down_proj
 *   output_norm, output               model.norm, lm_head (absent: tied)
 *   rope_freqs                        llama3 rope scaling as per-frequency factors
 * </pre>
 *
 * <p><b>The q/k permutation.</b> For architecture llama the converter reorders the rows of q_proj
 * and k_proj (weights and biases), per head, from HF's rotate-half pairing (dimension i with
 * i + HS/2) to the interleaved pairing of llama.cpp's rope (2i with 2i+1): LlamaModel.permute
 * reshapes the rows to (heads, 2, HS/2) and swaps the last two axes, so stored row
 * h*HS + 2i + j holds HF row h*HS + j*HS/2 + i. That is undone here, and the forward then is the
 * HF checkpoint's, bit for bit (qwen2 and qwen3 files are not permuted).
 *
 * <p><b>Quantized matrices</b> (Q8_0, Q4_0, Q4_K, Q6_K) stay quantized in a loaded model
 * ({@link #readKept}); {@link #readWeights}, the fp32 reference, dequantizes them.
 */
final class GgufLlama {
    private GgufLlama() {}

    /** GGUF architecture -> the transformers class it is read as (for messages and ModelConfig). */
    static final Map<String, String> ARCHITECTURES = Map.of(
            "llama", "LlamaForCausalLM", "qwen2", "Qwen2ForCausalLM", "qwen3", "Qwen3ForCausalLM");

    static boolean reads(String arch) { return ARCHITECTURES.containsKey(arch); }

    /** The config the file's {arch}.* keys and tensors describe. */
    static ModelConfig config(GgufFile f) {
        String arch = f.string("general.architecture");
        String p = arch + ".";
        String file = f.fileName();
        int L = (int) f.integer(p + "block_count", 1, 1 << 16);
        int C = (int) f.integer(p + "embedding_length", 1, 1 << 20);
        int maxT = (int) f.integer(p + "context_length", 1, 1 << 24);
        int I = (int) f.integer(p + "feed_forward_length", 1, 1 << 24);
        int NH = (int) f.integer(p + "attention.head_count", 1, 1 << 16);
        int NKV = f.get(p + "attention.head_count_kv") == null ? NH : (int) f.integer(p + "attention.head_count_kv", 1, 1 << 16);
        if (NH % NKV != 0)
            throw new ModelFormatException(file + ": " + p + "attention.head_count " + NH + " is not a multiple of "
                    + p + "attention.head_count_kv " + NKV);
        int HS;
        if (f.get(p + "attention.key_length") != null) {
            HS = (int) f.integer(p + "attention.key_length", 1, 1 << 16);
        } else {
            if (C % NH != 0)
                throw new ModelFormatException(file + ": " + p + "embedding_length " + C + " is not a multiple of "
                        + p + "attention.head_count " + NH + " (and no " + p + "attention.key_length is given)");
            HS = C / NH;
        }
        if (f.get(p + "attention.value_length") != null) {
            long vl = f.integer(p + "attention.value_length", 1, 1 << 16);
            if (vl != HS)
                throw new ModelFormatException(file + ": " + p + "attention.value_length " + vl + " differs from the key length "
                        + HS + " (not supported)");
        }
        if (HS % 2 != 0) throw new ModelFormatException(file + ": head size " + HS + " must be even for rotary positions");
        if (f.get(p + "rope.dimension_count") != null) {
            long rd = f.integer(p + "rope.dimension_count", 1, 1 << 16);
            if (rd != HS)
                throw new ModelFormatException(file + ": " + p + "rope.dimension_count " + rd + " is not the head size " + HS
                        + " (partial rotary embeddings are not supported)");
        }
        double eps = f.floating(p + "attention.layer_norm_rms_epsilon");
        if (!(eps > 0) || !Double.isFinite(eps))
            throw new ModelFormatException(file + ": " + p + "attention.layer_norm_rms_epsilon must be a positive number, got " + eps);
        double theta = f.get(p + "rope.freq_base") == null ? 10000.0 : f.floating(p + "rope.freq_base");
        if (!(theta > 1) || !Double.isFinite(theta))
            throw new ModelFormatException(file + ": " + p + "rope.freq_base must be a number above 1, got " + theta);
        if (f.get(p + "attention.sliding_window") != null)
            throw new ModelFormatException(file + ": " + p + "attention.sliding_window is set (sliding-window attention is not supported)");

        GgufFile.Tensor embd = f.tensor("token_embd.weight");
        long[] ed = embd.dims();
        if (ed.length != 2 || ed[0] != C || ed[1] < 1 || ed[1] > Integer.MAX_VALUE)
            throw new ModelFormatException(file + ": tensor token_embd.weight has dims " + embd.dimsString()
                    + ", expected [" + C + ", vocab] from " + p + "embedding_length");
        int V = (int) ed[1];
        if (f.get(p + "vocab_size") != null) {
            long vs = f.integer(p + "vocab_size", 1, Integer.MAX_VALUE);
            if (vs != V)
                throw new ModelFormatException(file + ": " + p + "vocab_size " + vs + " differs from token_embd.weight's " + V + " rows");
        }
        long biggest = Math.max(Math.max((long) C * (NH + 2L * NKV) * HS, 2L * C * I), (long) V * C);
        if (biggest > Integer.MAX_VALUE - 8)
            throw new ModelFormatException(file + ": a weight matrix of " + biggest + " elements exceeds what one Java array holds");

        ModelConfig.RopeScaling scaling = ropeScaling(f, p, theta, HS, maxT);
        boolean qkvBias = f.contains("blk.0.attn_q.bias");
        boolean outBias = f.contains("blk.0.attn_output.bias");
        boolean mlpBias = f.contains("blk.0.ffn_up.bias");
        boolean qkNorm = arch.equals("qwen3");
        boolean tied = !f.contains("output.weight");

        int bos = -1;
        if (f.get("tokenizer.ggml.bos_token_id") != null) bos = (int) f.integer("tokenizer.ggml.bos_token_id", 0, V - 1);
        Set<Integer> eos = new LinkedHashSet<>();
        for (String k : new String[] {"eos_token_id", "eot_token_id", "eom_token_id"})
            if (f.get("tokenizer.ggml." + k) != null) eos.add((int) f.integer("tokenizer.ggml." + k, 0, V - 1));
        try {
            return new ModelConfig(ARCHITECTURES.get(arch), L, C, maxT, V,
                    new ModelConfig.Norm(ModelConfig.NormKind.RMS_NORM, (float) eps), new ModelConfig.Rotary(theta, scaling),
                    new ModelConfig.Attention(NH, NKV, HS, qkvBias, outBias, qkNorm),
                    new ModelConfig.Mlp(Activation.SILU, true, I, mlpBias),
                    tied, false, TokenizerKind.TOKENIZER_JSON, bos, new ArrayList<>(eos));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": " + e.getMessage());
        }
    }

    /** rope.scaling.type none/linear, or llama3 as the rope_freqs.weight tensor convert_hf_to_gguf.py writes. */
    private static ModelConfig.RopeScaling ropeScaling(GgufFile f, String p, double theta, int HS, int maxT) {
        String type = f.string(p + "rope.scaling.type", "none");
        boolean freqs = f.contains("rope_freqs.weight");
        if (freqs && !type.equals("none"))
            throw new ModelFormatException(f.fileName() + ": both " + p + "rope.scaling.type \"" + GgufFile.printable(type)
                    + "\" and a rope_freqs.weight tensor (not supported)");
        if (freqs) return Llama3Rope.fromFactors(f, theta, HS, maxT);
        return switch (type) {
            case "none" -> ModelConfig.RopeScaling.NONE;
            case "linear" -> {
                double factor = f.floating(p + "rope.scaling.factor");
                if (!(factor > 0) || !Double.isFinite(factor))
                    throw new ModelFormatException(f.fileName() + ": " + p + "rope.scaling.factor must be a positive number, got " + factor);
                yield new ModelConfig.RopeScaling(ModelConfig.RopeType.LINEAR, factor, 0, 0, 0);
            }
            default -> throw new ModelFormatException(f.fileName() + ": " + p + "rope.scaling.type \"" + GgufFile.printable(type)
                    + "\" is not supported (supported: none, linear; llama3 as a rope_freqs.weight tensor)");
        };
    }

    /** Every tensor the config calls for, name -> expected dims (ne order: in, out). */
    static Map<String, long[]> expectedDims(ModelConfig cfg, boolean ropeFreqs) {
        ModelConfig.Attention a = cfg.attention();
        long C = cfg.nEmbd(), V = cfg.vocabSize(), I = cfg.mlp().hidden(), HS = a.headSize();
        long q = a.qDim(), kv = a.kvDim();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("token_embd.weight", new long[] {C, V});
        if (ropeFreqs) m.put("rope_freqs.weight", new long[] {HS / 2});
        for (int l = 0; l < cfg.nLayer(); l++) {
            String b = "blk." + l + ".";
            m.put(b + "attn_norm.weight", new long[] {C});
            m.put(b + "attn_q.weight", new long[] {C, q});
            m.put(b + "attn_k.weight", new long[] {C, kv});
            m.put(b + "attn_v.weight", new long[] {C, kv});
            if (a.qkvBias()) {
                m.put(b + "attn_q.bias", new long[] {q});
                m.put(b + "attn_k.bias", new long[] {kv});
                m.put(b + "attn_v.bias", new long[] {kv});
            }
            if (a.qkNorm()) {
                m.put(b + "attn_q_norm.weight", new long[] {HS});
                m.put(b + "attn_k_norm.weight", new long[] {HS});
            }
            m.put(b + "attn_output.weight", new long[] {q, C});
            if (a.outBias()) m.put(b + "attn_output.bias", new long[] {C});
            m.put(b + "ffn_norm.weight", new long[] {C});
            m.put(b + "ffn_gate.weight", new long[] {C, I});
            m.put(b + "ffn_up.weight", new long[] {C, I});
            m.put(b + "ffn_down.weight", new long[] {I, C});
            if (cfg.mlp().bias()) {
                m.put(b + "ffn_gate.bias", new long[] {I});
                m.put(b + "ffn_up.bias", new long[] {I});
                m.put(b + "ffn_down.bias", new long[] {C});
            }
        }
        m.put("output_norm.weight", new long[] {C});
        if (!cfg.tiedHead()) m.put("output.weight", new long[] {C, V});
        return m;
    }

    /** Checks every tensor's presence, dims and type against the config; no extra tensors. */
    static void validate(GgufFile f, ModelConfig cfg) {
        Map<String, long[]> expected = expectedDims(cfg, f.contains("rope_freqs.weight"));
        List<String> missing = new ArrayList<>();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            if (!f.contains(e.getKey())) {
                missing.add(e.getKey());
                continue;
            }
            GgufFile.Tensor t = f.tensor(e.getKey());
            if (!Arrays.equals(t.dims(), e.getValue()))
                throw new ModelFormatException(f.fileName() + ": tensor " + t.name() + " has dims " + t.dimsString()
                        + ", expected " + Arrays.toString(e.getValue()) + " (ne order) from the " + cfg.architecture() + " metadata");
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
                throw new ModelFormatException(f.fileName() + ": unexpected tensor " + GgufFile.printable(name) + " (not part of the "
                        + cfg.architecture() + " with " + cfg.nLayer() + " layers the metadata describes)");
    }

    /** Validates and reads the weights, widened or dequantized to fp32, the q/k permutation undone. */
    static Gpt2Weights readWeights(GgufFile f, Consumer<String> notices) {
        ModelConfig cfg = config(f);
        validate(f, cfg);
        Set<GgmlType> types = EnumSet.noneOf(GgmlType.class);   // of the matrices (the converter keeps norms F32)
        long bytes = 0, largest = 0;
        for (String name : expectedDims(cfg, false).keySet()) {
            GgufFile.Tensor t = f.tensor(name);
            if (t.dims().length == 2) types.add(t.type());
            bytes += 4 * t.elementCount();
            largest = Math.max(largest, t.elementCount());
        }
        Set<String> quantized = new TreeSet<>();
        for (GgmlType t : types) if (t.layout() != null) quantized.add(t.name());
        if (!quantized.isEmpty())
            notices.accept("kvdecode: " + f.fileName() + ": " + String.join(", ", quantized)
                    + " weights are dequantized to fp32 (the fp32 reference copy)");
        // transients: one fused matrix flat beside its parts
        long transientBytes = 4L * Math.max((long) cfg.attention().qkvDim(), 2L * cfg.mlp().hidden()) * cfg.nEmbd() * 2 + 4 * largest;
        String what = f.fileName() + ": the fp32 weights";
        HeapTooSmallException.check(what, bytes + transientBytes);
        try {
            return readAll(f, cfg, types);
        } catch (OutOfMemoryError e) {
            throw HeapTooSmallException.of(what, bytes + transientBytes);
        }
    }

    private static Gpt2Weights readAll(GgufFile f, ModelConfig cfg, Set<GgmlType> types) {
        ModelConfig.Attention a = cfg.attention();
        int C = cfg.nEmbd(), I = cfg.mlp().hidden(), HS = a.headSize();
        boolean permuted = f.string("general.architecture").equals("llama");
        int qHeads = permuted ? a.heads() : 0, kHeads = permuted ? a.kvHeads() : 0;
        boolean mb = cfg.mlp().bias();
        List<LayerWeights> layers = new ArrayList<>(cfg.nLayer());
        for (int l = 0; l < cfg.nLayer(); l++) {
            String b = "blk." + l + ".";
            float[][] qkv = {rows(f, b + "attn_q.weight", C, qHeads, HS), rows(f, b + "attn_k.weight", C, kHeads, HS),
                    f.readFloats(b + "attn_v.weight")};
            float[] qkvBias = !a.qkvBias() ? null : concat(rows(f, b + "attn_q.bias", 1, qHeads, HS),
                    rows(f, b + "attn_k.bias", 1, kHeads, HS), f.readFloats(b + "attn_v.bias"));
            layers.add(new LayerWeights(
                    f.readFloats(b + "attn_norm.weight"), null,
                    fused(C, qkv), qkvBias,
                    fused(a.qDim(), f.readFloats(b + "attn_output.weight")), a.outBias() ? f.readFloats(b + "attn_output.bias") : null,
                    f.readFloats(b + "ffn_norm.weight"), null,
                    fused(C, f.readFloats(b + "ffn_gate.weight"), f.readFloats(b + "ffn_up.weight")),
                    mb ? concat(f.readFloats(b + "ffn_gate.bias"), f.readFloats(b + "ffn_up.bias")) : null,
                    fused(I, f.readFloats(b + "ffn_down.weight")), mb ? f.readFloats(b + "ffn_down.bias") : null,
                    a.qkNorm() ? f.readFloats(b + "attn_q_norm.weight") : null,
                    a.qkNorm() ? f.readFloats(b + "attn_k_norm.weight") : null));
        }
        // token_embd's rows (ne = [C, V]) are wte (V, C) as stored; output likewise
        float[] wte = f.readFloats("token_embd.weight");
        float[] head = cfg.tiedHead() ? wte : f.readFloats("output.weight");
        String dtype = types.size() == 1 ? types.iterator().next().name() : "mixed";
        return new Gpt2Weights(cfg, wte, null, List.copyOf(layers), f.readFloats("output_norm.weight"), null, head, null, dtype);
    }

    /** Whether any 2-D tensor (a linear layer, token_embd, output) is quantized. */
    static boolean hasQuantizedMatrices(GgufFile f, ModelConfig cfg) {
        for (Map.Entry<String, long[]> e : expectedDims(cfg, false).entrySet())
            if (e.getValue().length == 2 && f.tensor(e.getKey()).type().layout() != null) return true;
        return false;
    }

    /**
     * The weights of a file with quantized matrices, kept in their formats (issue 20): Gpt2Weights
     * with null matrices (and a null wte / head where those are quantized) and the StoredWeights.
     * q|k|v and gate|up are fused as {@link #readAll} fuses them: the tensors' rows stacked
     * (ggml stores W^T, so W's columns), the q/k permutation undone by reordering whole rows —
     * a row is whole blocks along the input dimension, so no block is split or requantized.
     * Tensors of one quantized format become one matrix of those rows; mixed formats become
     * {@link StoredMatrix#concat} of one matrix per tensor; F32/F16/BF16 ones are widened.
     */
    static GgufModels.Kept readKept(GgufFile f, ModelConfig cfg) {
        ModelConfig.Attention a = cfg.attention();
        int C = cfg.nEmbd(), I = cfg.mlp().hidden(), HS = a.headSize(), V = cfg.vocabSize(), L = cfg.nLayer();
        boolean permuted = f.string("general.architecture").equals("llama");
        int qHeads = permuted ? a.heads() : 0, kHeads = permuted ? a.kvHeads() : 0;
        boolean mb = cfg.mlp().bias();
        long bytes = 0, largest = 0;
        Set<GgmlType> types = EnumSet.noneOf(GgmlType.class);
        for (String name : expectedDims(cfg, false).keySet()) {
            GgufFile.Tensor t = f.tensor(name);
            if (t.dims().length == 2) types.add(t.type());
            // kept: the file's bytes + fp32 scales (< 1.15x); widened: fp32
            bytes += t.type().layout() != null ? t.sizeBytes() + t.sizeBytes() / 7 : 4 * t.elementCount();
            largest = Math.max(largest, t.sizeBytes());
        }
        long transientBytes = 4L * Math.max((long) a.qkvDim(), 2L * I) * C * 2 + 4 * largest;   // one fused group's rows
        String what = f.fileName() + ": the weights";
        HeapTooSmallException.check(what, bytes + transientBytes);
        try {
            StoredMatrix[] attn = new StoredMatrix[L], attnProj = new StoredMatrix[L], fc = new StoredMatrix[L], fcProj = new StoredMatrix[L];
            List<LayerWeights> layers = new ArrayList<>(L);
            for (int l = 0; l < L; l++) {
                String b = "blk." + l + ".";
                attn[l] = storedRows(f, C, HS, new String[] {b + "attn_q.weight", b + "attn_k.weight", b + "attn_v.weight"},
                        new int[] {qHeads, kHeads, 0});
                attnProj[l] = storedRows(f, a.qDim(), HS, new String[] {b + "attn_output.weight"}, new int[] {0});
                fc[l] = storedRows(f, C, HS, new String[] {b + "ffn_gate.weight", b + "ffn_up.weight"}, new int[] {0, 0});
                fcProj[l] = storedRows(f, I, HS, new String[] {b + "ffn_down.weight"}, new int[] {0});
                float[] qkvBias = !a.qkvBias() ? null : concat(rows(f, b + "attn_q.bias", 1, qHeads, HS),
                        rows(f, b + "attn_k.bias", 1, kHeads, HS), f.readFloats(b + "attn_v.bias"));
                layers.add(new LayerWeights(
                        f.readFloats(b + "attn_norm.weight"), null, null, qkvBias,
                        null, a.outBias() ? f.readFloats(b + "attn_output.bias") : null,
                        f.readFloats(b + "ffn_norm.weight"), null,
                        null, mb ? concat(f.readFloats(b + "ffn_gate.bias"), f.readFloats(b + "ffn_up.bias")) : null,
                        null, mb ? f.readFloats(b + "ffn_down.bias") : null,
                        a.qkNorm() ? f.readFloats(b + "attn_q_norm.weight") : null,
                        a.qkNorm() ? f.readFloats(b + "attn_k_norm.weight") : null));
            }
            // token_embd (ne [C, V]) is W^T of the (C, V) head matmul: kept as that matrix when quantized
            boolean embQ = f.tensor("token_embd.weight").type().layout() != null;
            StoredMatrix emb = embQ ? GgufModels.stored(f, "token_embd.weight", C, V) : null;
            float[] wte = embQ ? null : f.readFloats("token_embd.weight");
            StoredMatrix head;
            float[] lmHead;
            if (cfg.tiedHead()) {
                head = emb;
                lmHead = wte;
            } else if (f.tensor("output.weight").type().layout() != null) {
                head = GgufModels.stored(f, "output.weight", C, V);
                lmHead = null;
            } else {
                head = null;
                lmHead = f.readFloats("output.weight");
            }
            String dtype = types.size() == 1 ? types.iterator().next().name() : "mixed";
            Gpt2Weights w = new Gpt2Weights(cfg, wte, null, List.copyOf(layers), f.readFloats("output_norm.weight"), null,
                    lmHead, null, dtype);
            return new GgufModels.Kept(w, new StoredWeights(attn, attnProj, fc, fcProj, head, emb));
        } catch (OutOfMemoryError e) {
            throw HeapTooSmallException.of(what, bytes + transientBytes);
        }
    }

    /**
     * 2-D tensors of rows of {@code in} values (ne [in, out_k]), stacked along out, each with the
     * q/k permutation undone when its {@code heads} &gt; 0 -> W (in, sum out_k) in their format.
     */
    static StoredMatrix storedRows(GgufFile f, int in, int HS, String[] names, int[] heads) {
        GgmlType type = f.tensor(names[0]).type();
        boolean same = true;
        for (String n : names) same &= f.tensor(n).type() == type;
        if (type.layout() == null && same) {   // F32 / F16 / BF16: widened as readAll does
            float[][] parts = new float[names.length][];
            for (int k = 0; k < names.length; k++) parts[k] = rows(f, names[k], in, heads[k], HS);
            return StoredMatrix.of(fused(in, parts));
        }
        if (!same) {   // mixed formats: one matrix per tensor, side by side
            List<StoredMatrix> parts = new ArrayList<>(names.length);
            for (int k = 0; k < names.length; k++) parts.add(storedRows(f, in, HS, new String[] {names[k]}, new int[] {heads[k]}));
            return StoredMatrix.concat(parts);
        }
        long rowBytes = (long) in / type.blockElements * type.blockBytes;
        long total = 0;
        for (String n : names) total += f.tensor(n).sizeBytes();
        if (names.length == 1 && heads[0] == 0) return GgufModels.stored(f, names[0], in, (int) (total / rowBytes));
        byte[] cat = new byte[Math.toIntExact(total)];
        long at = 0;
        for (int k = 0; k < names.length; k++) {
            MemorySegment src = f.raw(names[k]);
            int out = (int) (src.byteSize() / rowBytes);
            if (heads[k] == 0) {
                MemorySegment.copy(src, ValueLayout.JAVA_BYTE, 0, cat, (int) at, (int) src.byteSize());
            } else {
                int half = HS / 2;   // HF row h*HS + j*HS/2 + i is stored row h*HS + 2i + j
                for (int h = 0; h < heads[k]; h++)
                    for (int j = 0; j < 2; j++)
                        for (int i = 0; i < half; i++)
                            MemorySegment.copy(src, ValueLayout.JAVA_BYTE,
                                    (h * HS + 2L * i + j) * rowBytes, cat, (int) (at + (h * HS + (long) j * half + i) * rowBytes),
                                    (int) rowBytes);
            }
            at += (long) out * rowBytes;
        }
        MemorySegment seg = MemorySegment.ofArray(cat);
        int out = (int) (total / rowBytes);
        if (type.layout() == GgmlBlocks.Layout.Q8_0) return StoredMatrix.of(Q8Matrix.ofQ8_0(seg, in, out));
        return StoredMatrix.of(GgmlMatrix.of(type.layout(), seg, in, out));
    }

    /**
     * A tensor of rows of {@code in} values (a weight (out, in), or a bias with in = 1), with
     * llama.cpp's q/k permutation undone when {@code heads} &gt; 0: HF row h*HS + j*HS/2 + i is
     * stored row h*HS + 2i + j.
     */
    static float[] rows(GgufFile f, String name, int in, int heads, int HS) {
        float[] stored = f.readFloats(name);
        return heads > 0 ? unpermute(stored, in, heads, HS) : stored;
    }

    /** Inverse of convert_hf_to_gguf.py's LlamaModel.permute over rows of {@code in} values. */
    static float[] unpermute(float[] stored, int in, int heads, int HS) {
        float[] hf = new float[stored.length];
        int half = HS / 2;
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < half; i++)
                    System.arraycopy(stored, (h * HS + 2 * i + j) * in, hf, (h * HS + j * half + i) * in, in);
        return hf;
    }

    /** nn.Linear weights (out_i, in) row-major, stacked along out and transposed: W (in, sum out_i), packed. */
    private static F32Matrix fused(int in, float[]... parts) {
        int out = 0;
        for (float[] p : parts) out += p.length / in;
        float[] flat = new float[Math.multiplyExact(in, out)];
        int c0 = 0;
        for (float[] p : parts) {
            int o = p.length / in;
            for (int r = 0; r < o; r++)
                for (int i = 0; i < in; i++) flat[i * out + c0 + r] = p[r * in + i];
            c0 += o;
        }
        return F32Matrix.of(flat, in, out);
    }

    private static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) n += p.length;
        float[] out = new float[n];
        int o = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }
}
