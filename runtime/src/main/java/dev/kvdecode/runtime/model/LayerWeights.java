package dev.kvdecode.runtime.model;

import dev.kvdecode.kernels.F32Matrix;

/**
 * One transformer block's weights, fp32, for any member of the family ({@link ModelConfig}).
 * Linear weights are W [in, out] (y = x W + b; Hugging Face's Conv1D layout, the transpose of
 * nn.Linear's), held packed in column panels ({@link F32Matrix}: the CPU backend's matmul reads
 * them as they are; {@link F32Matrix#flat()} gives the row-major order for other consumers).
 * Vectors are plain arrays; an absent bias or norm is null.
 *
 * <pre>
 * ln1Weight, ln1Bias   (C), bias null for RMSNorm
 * attnWeight           (C, NH*HS + 2*NKV*HS)  columns [q | k | v]; query head h at h*HS, KV head g at g*HS of its block
 * attnBias             (NH*HS + 2*NKV*HS) or null
 * attnProjWeight       (NH*HS, C), attnProjBias (C) or null
 * ln2Weight, ln2Bias   (C), bias null for RMSNorm
 * fcWeight             (C, I), or (C, 2I) = [gate | up] for a gated MLP; fcBias (I or 2I) or null
 * fcProjWeight         (I, C), fcProjBias (C) or null
 * qNorm, kNorm         (HS) Qwen3's per-head RMSNorm weights of q and k, else null
 * </pre>
 */
public record LayerWeights(
        float[] ln1Weight, float[] ln1Bias,
        F32Matrix attnWeight, float[] attnBias,
        F32Matrix attnProjWeight, float[] attnProjBias,
        float[] ln2Weight, float[] ln2Bias,
        F32Matrix fcWeight, float[] fcBias,
        F32Matrix fcProjWeight, float[] fcProjBias,
        float[] qNorm, float[] kNorm) {

    /** A block without q/k norms (GPT-2, the char model). */
    public LayerWeights(float[] ln1Weight, float[] ln1Bias, F32Matrix attnWeight, float[] attnBias,
                        F32Matrix attnProjWeight, float[] attnProjBias, float[] ln2Weight, float[] ln2Bias,
                        F32Matrix fcWeight, float[] fcBias, F32Matrix fcProjWeight, float[] fcProjBias) {
        this(ln1Weight, ln1Bias, attnWeight, attnBias, attnProjWeight, attnProjBias, ln2Weight, ln2Bias,
                fcWeight, fcBias, fcProjWeight, fcProjBias, null, null);
    }
}
