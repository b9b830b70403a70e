package dev.kvdecode.runtime.model;

import dev.kvdecode.kernels.Activation;

/**
 * The shape and flavour of a GPT-2-family decoder (symbols as in docs/ARCHITECTURE.md:
 * L = nLayer, NH = nHead, C = nEmbd, HS = C / NH, maxT = nPositions, V = vocabSize).
 *
 * @param qkvBias   whether c_attn has a bias (GPT-2: yes; the tutorial's char model: no)
 * @param tiedHead  whether the LM head reuses wte (GPT-2: yes; char model: no, it has lm_head.weight)
 * @param headBias  whether the LM head has a bias (char model: yes)
 */
public record ModelConfig(
        int nLayer, int nHead, int nEmbd, int nPositions, int vocabSize,
        float layerNormEpsilon, Activation activation,
        boolean qkvBias, boolean tiedHead, boolean headBias,
        TokenizerKind tokenizer) {

    public ModelConfig {
        if (nLayer <= 0 || nHead <= 0 || nEmbd <= 0 || nPositions <= 0 || vocabSize <= 0)
            throw new IllegalArgumentException("model dimensions must be positive: " + this);
        if (nEmbd % nHead != 0)
            throw new IllegalArgumentException("n_embd " + nEmbd + " is not divisible by n_head " + nHead);
        if (!(layerNormEpsilon > 0)) throw new IllegalArgumentException("layer_norm_epsilon must be > 0");
        if (activation == null || tokenizer == null) throw new IllegalArgumentException("activation and tokenizer are required");
    }

    /** HS, the size of one attention head. */
    public int headSize() { return nEmbd / nHead; }

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
