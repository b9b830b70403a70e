package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.StoredMatrix;
import dev.kvdecode.runtime.model.StoredWeights;

/**
 * The CPU backend's matmul weights for a model kept in its file's formats (a GGUF with Q8_0, Q4_0,
 * Q4_K or Q6_K tensors, {@link StoredWeights}): each matrix runs the kernel of its format; the LM
 * head is the kept (C, V) matrix, or the model's fp32 (V, C) rows by dot products as
 * {@link PackedF32Weights} when the file stored it unquantized. The token embedding comes from the
 * kept matrix too when it is quantized ({@link #tokenEmbedding}).
 */
public record StoredMatmulWeights(StoredWeights stored, float[] lmHead, int C, int V) implements MatmulWeights {

    /** The kept matrices of a model, with its fp32 head when that one is not kept. */
    public static StoredMatmulWeights of(StoredWeights stored, Gpt2Weights w) {
        if (stored.head() == null && w.lmHead() == null) throw new IllegalArgumentException("the model has no LM head");
        return new StoredMatmulWeights(stored, stored.head() == null ? w.lmHead() : null, w.config().nEmbd(),
                w.config().vocabSize());
    }

    @Override
    public void linear(CpuThreads pool, int layer, int k, float[] y, float[] x, float[] b, int rows) {
        StoredMatrix m = MatmulWeights.matrix(layer, k, stored.attn(), stored.attnProj(), stored.fc(), stored.fcProj());
        m.matmul(pool, y, 0, x, 0, b, rows);
    }

    @Override
    public void head(CpuThreads pool, float[] logits, int logitsOff, float[] xn, float[] bias, int rows) {
        if (stored.head() != null) stored.head().matmul(pool, logits, logitsOff, xn, 0, bias, rows);
        else Matmul.lmHead(pool, logits, logitsOff, xn, 0, lmHead, bias, rows, C, V);
    }

    /** fp32 arithmetic; the stored formats are {@link StoredWeights#formats()}. */
    @Override
    public CpuWeightFormat format() { return CpuWeightFormat.FP32; }

    @Override
    public boolean embedsTokens() { return stored.tokenEmbedding() != null; }

    @Override
    public void tokenEmbedding(int token, float[] dst, int off) { stored.tokenEmbedding(token, dst, off); }
}
