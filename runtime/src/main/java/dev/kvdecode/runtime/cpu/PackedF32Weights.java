package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.F32Matrix;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.ModelConfig;

/**
 * The CPU backend's fp32 matmul weights: the model's own matrices, which the loader keeps packed in
 * column panels ({@link F32Matrix}), referenced, not copied; the LM head is the model's (V, C)
 * rows (wte when tied), read by dot products (~25 GB/s on the build machine; a transposed copy
 * would cost V x C x 4 bytes for little).
 */
public record PackedF32Weights(F32Matrix[] attn, F32Matrix[] attnProj, F32Matrix[] fc, F32Matrix[] fcProj,
                               float[] lmHead, int C, int V) implements MatmulWeights {

    /** The matrices of {@code w}, shared. */
    public static PackedF32Weights of(Gpt2Weights w) {
        ModelConfig cfg = w.config();
        int L = w.layers().size(), C = cfg.nEmbd();
        F32Matrix[] attn = new F32Matrix[L], attnProj = new F32Matrix[L], fc = new F32Matrix[L], fcProj = new F32Matrix[L];
        MatmulWeights.fill(w, attn, attnProj, fc, fcProj, m -> m);
        return new PackedF32Weights(attn, attnProj, fc, fcProj, w.lmHead(), C, cfg.vocabSize());
    }

    @Override
    public void linear(CpuThreads pool, int layer, int k, float[] y, float[] x, float[] b, int rows) {
        Matmul.matmul(pool, y, 0, x, 0, MatmulWeights.matrix(layer, k, attn, attnProj, fc, fcProj), b, rows);
    }

    @Override
    public void head(CpuThreads pool, float[] logits, int logitsOff, float[] xn, float[] bias, int rows) {
        Matmul.lmHead(pool, logits, logitsOff, xn, 0, lmHead, bias, rows, C, V);
    }

    @Override
    public CpuWeightFormat format() { return CpuWeightFormat.FP32; }
}
