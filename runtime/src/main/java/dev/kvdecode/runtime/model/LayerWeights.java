package dev.kvdecode.runtime.model;

import dev.kvdecode.kernels.F32Matrix;

/**
 * One transformer block's weights, fp32. Linear weights are Hugging Face's Conv1D W [in, out]
 * (y = x W + b), held packed in column panels ({@link F32Matrix}: the CPU backend's matmul reads
 * them as they are; {@link F32Matrix#flat()} gives the row-major order for other consumers).
 * Vectors are plain arrays.
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
        F32Matrix attnWeight, float[] attnBias,
        F32Matrix attnProjWeight, float[] attnProjBias,
        float[] ln2Weight, float[] ln2Bias,
        F32Matrix fcWeight, float[] fcBias,
        F32Matrix fcProjWeight, float[] fcProjBias) {
}
