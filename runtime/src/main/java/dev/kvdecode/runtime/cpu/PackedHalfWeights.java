package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.HalfMatrix;
import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.HalfFormat;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.ModelConfig;

/**
 * The matmul weights rounded to fp16 or bfloat16 and packed in column panels ({@link HalfMatrix})
 * for the CPU backend's {@code --dtype fp16|bf16}: half the bytes of fp32 per step, widened as read.
 */
public record PackedHalfWeights(HalfFormat halfFormat, HalfMatrix[] attn, HalfMatrix[] attnProj, HalfMatrix[] fc,
                                HalfMatrix[] fcProj, HalfMatrix lmHeadT) implements MatmulWeights {

    /** Rounds the matmul weights of {@code w} to {@code format} and packs them. */
    public static PackedHalfWeights of(Gpt2Weights w, HalfFormat format) {
        ModelConfig cfg = w.config();
        int L = w.layers().size(), C = cfg.nEmbd();
        HalfMatrix[] attn = new HalfMatrix[L], attnProj = new HalfMatrix[L], fc = new HalfMatrix[L], fcProj = new HalfMatrix[L];
        MatmulWeights.fill(w, attn, attnProj, fc, fcProj, m -> HalfMatrix.of(m, format));
        // the head (V, C) is W^T of the (C, V) matmul it runs as
        return new PackedHalfWeights(format, attn, attnProj, fc, fcProj, HalfMatrix.ofTransposed(w.lmHead(), C, cfg.vocabSize(), format));
    }

    @Override
    public void linear(CpuThreads pool, int layer, int k, float[] y, float[] x, float[] b, int rows) {
        HalfMatrix m = MatmulWeights.matrix(layer, k, attn, attnProj, fc, fcProj);
        Matmul.matmul(pool, y, 0, x, 0, m, b, rows);
    }

    @Override
    public void head(CpuThreads pool, float[] logits, int logitsOff, float[] xn, float[] bias, int rows) {
        Matmul.matmul(pool, logits, logitsOff, xn, 0, lmHeadT, bias, rows);
    }

    @Override
    public CpuWeightFormat format() { return halfFormat == HalfFormat.FP16 ? CpuWeightFormat.FP16 : CpuWeightFormat.BF16; }
}
