package dev.kvdecode.runtime.model;

import dev.kvdecode.kernels.Activation;

import java.util.List;

/**
 * A decoder-only transformer of the GPT-2 / Llama family, described by its components, not by its
 * name (docs/ARCHITECTURE.md "Model family"): every backend implements each component once, and a
 * model is a choice of them. Symbols as in docs/ARCHITECTURE.md: L = nLayer, C = nEmbd, V =
 * vocabSize, maxT = nPositions (n_positions or max_position_embeddings), NH, NKV, HS from
 * {@link Attention}, I = {@link Mlp#hidden}.
 *
 * <pre>
 *   x = embed(token) (+ wpe[pos] when positions are learned)
 *   per layer:  x += o_proj(attention(norm1(x)))      q,k rotated by RoPE when positions are rotary
 *               x += mlp(norm2(x))
 *   logits = head(normF(x))
 * </pre>
 *
 * @param architecture what the config called it (config.json "architectures"[0] or model_type); for messages
 * @param norm         the three norms' kind and eps (norm1, norm2, the final norm)
 * @param positions    learned absolute (GPT-2) or rotary (Llama)
 * @param attention    heads, KV heads, head size, biases, Qwen3's q/k norm
 * @param mlp          activation, gated or not, width, biases
 * @param tiedHead     whether the LM head reuses the token embedding
 * @param headBias     whether the LM head has a bias (the char model)
 * @param bosId        the begin-of-sequence id, or -1 when the config names none
 * @param eosIds       the end-of-sequence ids (config.json and generation_config.json), possibly empty
 */
public record ModelConfig(
        String architecture,
        int nLayer, int nEmbd, int nPositions, int vocabSize,
        Norm norm, Positions positions, Attention attention, Mlp mlp,
        boolean tiedHead, boolean headBias,
        TokenizerKind tokenizer, int bosId, List<Integer> eosIds) {

    /** The normalization: LayerNorm (Ba et al. 2016, with bias) or RMSNorm (Zhang &amp; Sennrich 2019, no bias). */
    public enum NormKind { LAYER_NORM, RMS_NORM }

    public record Norm(NormKind kind, float eps) {
        public Norm {
            if (kind == null || !(eps > 0) || !Float.isFinite(eps)) throw new IllegalArgumentException("norm eps must be > 0, got " + eps);
        }
    }

    /** Where positions come from: a learned table (GPT-2) or a rotation of q and k (RoPE). */
    public sealed interface Positions permits Learned, Rotary {}

    /** wpe (maxT, C) added to the token embedding; past maxT - 1 the last row is reused. */
    public record Learned() implements Positions {}

    /**
     * RoPE (Su et al. 2021) over the whole head, HF's rotate-half pairing, base theta, with a
     * frequency scaling.
     */
    public record Rotary(double theta, RopeScaling scaling) implements Positions {
        public Rotary {
            if (!(theta > 1) || !Double.isFinite(theta)) throw new IllegalArgumentException("rope_theta must be > 1, got " + theta);
            if (scaling == null) throw new IllegalArgumentException("rope scaling is required (RopeScaling.NONE)");
        }
    }

    public enum RopeType { DEFAULT, LINEAR, LLAMA3 }

    /** transformers' rope_type and its parameters (factor for linear and llama3, the rest llama3's). */
    public record RopeScaling(RopeType type, double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositions) {
        public static final RopeScaling NONE = new RopeScaling(RopeType.DEFAULT, 1, 0, 0, 0);

        public RopeScaling {
            if (type == null) throw new IllegalArgumentException("rope type is required");
            if (type != RopeType.DEFAULT && !(factor > 0 && Double.isFinite(factor)))
                throw new IllegalArgumentException("factor must be > 0, got " + factor);
            if (type == RopeType.LLAMA3 && !(lowFreqFactor > 0 && highFreqFactor > lowFreqFactor && originalMaxPositions > 0))
                throw new IllegalArgumentException("llama3 scaling needs 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0");
        }
    }

    /**
     * Attention: NH query heads over NKV key/value heads of HS each (grouped-query attention when
     * NKV &lt; NH, Ainslie et al. 2023); query head h reads KV head h / (NH / NKV). HS need not be C / NH.
     *
     * @param qkvBias q, k and v projections have biases
     * @param outBias the output projection has a bias
     * @param qkNorm  Qwen3: an RMSNorm over each head of q and of k (weights (HS)), before RoPE
     */
    public record Attention(int heads, int kvHeads, int headSize, boolean qkvBias, boolean outBias, boolean qkNorm) {
        public Attention {
            if (heads <= 0 || kvHeads <= 0 || headSize <= 0) throw new IllegalArgumentException("attention sizes must be positive");
            if (heads % kvHeads != 0)
                throw new IllegalArgumentException("num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        }

        /** Width of q (NH * HS), also the input width of the output projection. */
        public int qDim() { return heads * headSize; }

        /** Width of k and of v (NKV * HS). */
        public int kvDim() { return kvHeads * headSize; }

        /** Output width of the fused qkv projection. */
        public int qkvDim() { return qDim() + 2 * kvDim(); }
    }

    /**
     * The MLP: act(x W_fc + b) W_proj + b, or gated (SwiGLU, Shazeer 2020: act(x W_gate) * (x W_up),
     * with W_fc = [W_gate | W_up] of width 2I).
     */
    public record Mlp(Activation activation, boolean gated, int hidden, boolean bias) {
        public Mlp {
            if (activation == null || hidden <= 0) throw new IllegalArgumentException("MLP activation and a positive width are required");
        }

        /** Output width of the first matmul: 2I gated, else I. */
        public int fcDim() { return gated ? 2 * hidden : hidden; }
    }

    public ModelConfig {
        if (nLayer <= 0 || nEmbd <= 0 || nPositions <= 0 || vocabSize <= 0)
            throw new IllegalArgumentException("model dimensions must be positive: " + nLayer + ", " + nEmbd + ", " + nPositions + ", " + vocabSize);
        if (norm == null || positions == null || attention == null || mlp == null || tokenizer == null || architecture == null)
            throw new IllegalArgumentException("every component is required");
        if (positions instanceof Rotary && attention.headSize() % 2 != 0)
            throw new IllegalArgumentException("head_dim " + attention.headSize() + " must be even for RoPE");
        eosIds = List.copyOf(eosIds);
        for (int id : eosIds) if (id < 0 || id >= vocabSize) throw new IllegalArgumentException("eos id " + id + " outside the vocabulary");
        if (bosId < -1 || bosId >= vocabSize) throw new IllegalArgumentException("bos id " + bosId + " outside the vocabulary");
    }

    /**
     * A GPT-2-layout model (the original constructor's arguments): LayerNorm, learned positions,
     * NH heads of C / NH, an ungated 4C MLP with biases, an attention output bias.
     */
    public ModelConfig(int nLayer, int nHead, int nEmbd, int nPositions, int vocabSize,
                       float layerNormEpsilon, Activation activation,
                       boolean qkvBias, boolean tiedHead, boolean headBias, TokenizerKind tokenizer) {
        this(tokenizer == TokenizerKind.CHAR ? "kvdecode-char-gpt" : "gpt2", nLayer, nEmbd, nPositions, vocabSize,
                new Norm(NormKind.LAYER_NORM, layerNormEpsilon), new Learned(),
                new Attention(nHead, nHead, headSizeOf(nEmbd, nHead), qkvBias, true, false),
                new Mlp(activation, false, Math.multiplyExact(4, nEmbd), true),
                tiedHead, headBias, tokenizer, -1, List.of());
    }

    private static int headSizeOf(int nEmbd, int nHead) {
        if (nHead <= 0 || nEmbd <= 0) throw new IllegalArgumentException("model dimensions must be positive");
        if (nEmbd % nHead != 0) throw new IllegalArgumentException("n_embd " + nEmbd + " is not divisible by n_head " + nHead);
        return nEmbd / nHead;
    }

    /** NH, the number of query heads. */
    public int nHead() { return attention.heads(); }

    /** NKV, the number of key/value heads (the KV cache holds these). */
    public int nKvHead() { return attention.kvHeads(); }

    /** HS, the size of one attention head. */
    public int headSize() { return attention.headSize(); }

    public float layerNormEpsilon() { return norm.eps(); }

    public Activation activation() { return mlp.activation(); }

    public boolean qkvBias() { return attention.qkvBias(); }

    /**
     * Whether this is the GPT-2 layout (LayerNorm, learned positions, NKV = NH, HS = C / NH, an
     * ungated 4C MLP with biases, an output bias, no q/k norm): what the CUDA backend runs so far.
     */
    public boolean gpt2Layout() {
        return norm.kind() == NormKind.LAYER_NORM && positions instanceof Learned
                && attention.kvHeads() == attention.heads() && attention.qDim() == nEmbd
                && attention.outBias() && !attention.qkNorm()
                && !mlp.gated() && mlp.bias() && mlp.hidden() == 4L * nEmbd;
    }

    /** GPT-2 defaults with the given sizes (gelu_new, eps 1e-5, qkv bias, tied head, BPE). */
    public static ModelConfig gpt2(int nLayer, int nHead, int nEmbd, int nPositions, int vocabSize) {
        return new ModelConfig(nLayer, nHead, nEmbd, nPositions, vocabSize, 1e-5f, Activation.GELU_NEW,
                true, true, false, TokenizerKind.GPT2_BPE);
    }

    /** The tutorial's char-level GPT flavour (ReLU, no qkv bias, untied head with bias, char tokenizer). */
    public static ModelConfig charGpt(int nLayer, int nHead, int nEmbd, int nPositions, int vocabSize) {
        return new ModelConfig(nLayer, nHead, nEmbd, nPositions, vocabSize, 1e-5f, Activation.RELU,
                false, false, true, TokenizerKind.CHAR);
    }
}
