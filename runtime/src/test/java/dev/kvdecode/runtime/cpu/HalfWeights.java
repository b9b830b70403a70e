package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.HalfFormat;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.ModelConfig;

/**
 * Test reference: the matmul weights in a 16-bit format, flat (the checkpoint's (in, out) order),
 * run by Matmul's flat 16-bit path, which widens them segment by segment (see {@link HalfFormat}).
 * The backend uses the packed {@link PackedHalfWeights} (it adds the bias last, so its bits
 * differ slightly); this flat form is a second, independently written path the tests hold the
 * packed one against.
 *
 * <p>Narrowing rounds to nearest even once; a checkpoint stored in the same format (widened
 * exactly by the loader) round-trips bit for bit.
 *
 * <pre>
 * attn[l]      (C, 3C)   attnProj[l] (C, C)   fc[l] (C, 4C)   fcProj[l] (4C, C)
 * lmHeadT      (C, V)   the LM head transposed, so the logits use the matmul kernel (vectorized)
 * </pre>
 */
public record HalfWeights(HalfFormat halfFormat, int C, int V, short[][] attn, short[][] attnProj, short[][] fc,
                          short[][] fcProj, short[] lmHeadT) implements MatmulWeights {

    /** Narrows the matmul weights of {@code w} to {@code format}. */
    public static HalfWeights of(Gpt2Weights w, HalfFormat format) {
        int L = w.layers().size();
        short[][] attn = new short[L][], attnProj = new short[L][], fc = new short[L][], fcProj = new short[L][];
        for (int l = 0; l < L; l++) {
            LayerWeights lw = w.layers().get(l);
            attn[l] = format.narrow(lw.attnWeight().flat());
            attnProj[l] = format.narrow(lw.attnProjWeight().flat());
            fc[l] = format.narrow(lw.fcWeight().flat());
            fcProj[l] = format.narrow(lw.fcProjWeight().flat());
        }
        ModelConfig cfg = w.config();
        float[] headT = transposeHead(w.lmHead(), cfg.vocabSize(), cfg.nEmbd());
        return new HalfWeights(format, cfg.nEmbd(), cfg.vocabSize(), attn, attnProj, fc, fcProj, format.narrow(headT));
    }

    @Override
    public void linear(CpuThreads pool, int layer, int k, float[] y, float[] x, float[] b, int rows) {
        short[] w = MatmulWeights.matrix(layer, k, attn, attnProj, fc, fcProj);
        int in = k == FC_PROJ ? 4 * C : C;
        int out = switch (k) { case ATTN -> 3 * C; case FC -> 4 * C; default -> C; };
        Matmul.matmul(pool, y, 0, x, 0, w, halfFormat, b, rows, in, out);
    }

    @Override
    public void head(CpuThreads pool, float[] logits, int logitsOff, float[] xn, float[] bias, int rows) {
        Matmul.matmul(pool, logits, logitsOff, xn, 0, lmHeadT, halfFormat, bias, rows, C, V);
    }

    @Override
    public CpuWeightFormat format() { return halfFormat == HalfFormat.FP16 ? CpuWeightFormat.FP16 : CpuWeightFormat.BF16; }

    // head (V,C) -> (C,V)
    static float[] transposeHead(float[] head, int V, int C) {
        float[] t = new float[Math.multiplyExact(V, C)];
        for (int v = 0; v < V; v++) for (int c = 0; c < C; c++) t[c * V + v] = head[v * C + c];
        return t;
    }
}
