package dev.kvdecode.runtime.model;

import java.util.List;

/**
 * All weights of a model of the family ({@link ModelConfig}; the name predates the family),
 * fp32, immutable by convention (never written after loading).
 *
 * <pre>
 * wte          (V, C)   token embedding
 * wpe          (maxT, C) learned absolute position embedding; null for rotary positions
 * layers       L blocks
 * lnfWeight, lnfBias (C)   the final norm; bias null for RMSNorm
 * lmHead       (V, C)   row v is the output embedding of token v (== wte when the head is tied)
 * lmHeadBias   (V) or null
 * </pre>
 *
 * @param storedDtype the dtype the checkpoint stored (F32, F16 or BF16); the CPU widened it to fp32
 */
public record Gpt2Weights(
        ModelConfig config,
        float[] wte, float[] wpe,
        List<LayerWeights> layers,
        float[] lnfWeight, float[] lnfBias,
        float[] lmHead, float[] lmHeadBias,
        String storedDtype) {
}
