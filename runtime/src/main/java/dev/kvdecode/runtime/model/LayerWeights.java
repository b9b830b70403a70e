package dev.kvdecode.runtime.model;

/**
 * One transformer block's weights, fp32, row-major. Linear weights use Hugging Face's Conv1D
 * layout [in, out] so that y = x W + b reads W by contiguous rows.
 *
 * <pre>
 * ln1Weight, ln1Bias   (C)
 * attnWeight           (C, 3C)  columns [0,C) = q, [C,2C) = k, [2C,3C) = v; head h uses columns h*HS..(h+1)*HS of each
 * attnBias             (3C) or null when !qkvBias
 * attnProjWeight       (C, C), attnProjBias (C)
 * ln2Weight, ln2Bias   (C)
 * fcWeight             (C, 4C), fcBias (4C)
 * fcProjWeight         (4C, C), fcProjBias (C)
 * </pre>
 */
public record LayerWeights(
        float[] ln1Weight, float[] ln1Bias,
        float[] attnWeight, float[] attnBias,
        float[] attnProjWeight, float[] attnProjBias,
        float[] ln2Weight, float[] ln2Bias,
        float[] fcWeight, float[] fcBias,
        float[] fcProjWeight, float[] fcProjBias) {
}
