package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.Bf16Matrix;
import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.ModelConfig;

/**
 * The matmul weights rounded to bfloat16 and packed in column panels ({@link Bf16Matrix}) for the
 * CPU backend's {@code --dtype bf16}: half the bytes of fp32 per step, widened in registers.
 */
public record Bf16Weights(Bf16Matrix[] attn, Bf16Matrix[] attnProj, Bf16Matrix[] fc, Bf16Matrix[] fcProj,
                          Bf16Matrix lmHeadT) implements MatmulWeights {

    /** Rounds and packs the matmul weights of {@code w}. */
    public static Bf16Weights of(Gpt2Weights w) {
        ModelConfig cfg = w.config();
        int L = w.layers().size(), C = cfg.nEmbd();
        Bf16Matrix[] attn = new Bf16Matrix[L], attnProj = new Bf16Matrix[L], fc = new Bf16Matrix[L], fcProj = new Bf16Matrix[L];
        for (int l = 0; l < L; l++) {
            LayerWeights lw = w.layers().get(l);
            attn[l] = Bf16Matrix.of(lw.attnWeight(), C, 3 * C);
            attnProj[l] = Bf16Matrix.of(lw.attnProjWeight(), C, C);
            fc[l] = Bf16Matrix.of(lw.fcWeight(), C, 4 * C);
            fcProj[l] = Bf16Matrix.of(lw.fcProjWeight(), 4 * C, C);
        }
        float[] headT = CpuSession.transposeHead(w.lmHead(), cfg.vocabSize(), C);
        return new Bf16Weights(attn, attnProj, fc, fcProj, Bf16Matrix.of(headT, C, cfg.vocabSize()));
    }

    @Override
    public void linear(CpuThreads pool, int layer, int k, float[] y, float[] x, float[] b, int rows) {
        Bf16Matrix m = switch (k) {
            case ATTN -> attn[layer];
            case ATTN_PROJ -> attnProj[layer];
            case FC -> fc[layer];
            case FC_PROJ -> fcProj[layer];
            default -> throw new IllegalArgumentException("matrix " + k);
        };
        Matmul.matmul(pool, y, 0, x, 0, m, b, rows);
    }

    @Override
    public void head(CpuThreads pool, float[] logits, int logitsOff, float[] xn, float[] bias, int rows) {
        Matmul.matmul(pool, logits, logitsOff, xn, 0, lmHeadT, bias, rows);
    }

    @Override
    public CpuWeightFormat format() { return CpuWeightFormat.BF16; }
}
