package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.kernels.Q8Matrix;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.ModelConfig;

/**
 * The matmul weights of a model in the int8 format of {@link Q8Matrix} for the CPU backend
 * ({@code --dtype int8}, opt-in): the four linear layers of every block and the LM head, quantized
 * once when the session's backend first sees the model. A decode step reads 1.125 bytes per weight
 * instead of 4; embeddings, LayerNorm parameters, biases, the KV cache and arithmetic stay fp32.
 *
 * <pre>
 * attn[l]   (C, 3C)   attnProj[l] (C, C)   fc[l] (C, 4C)   fcProj[l] (4C, C)
 * lmHeadT   (C, V)    the LM head transposed, so the logits use the matmul kernel
 * </pre>
 */
public record Q8Weights(Q8Matrix[] attn, Q8Matrix[] attnProj, Q8Matrix[] fc, Q8Matrix[] fcProj, Q8Matrix lmHeadT)
        implements MatmulWeights {

    /** Quantizes the matmul weights of {@code w}. */
    public static Q8Weights of(Gpt2Weights w) {
        ModelConfig cfg = w.config();
        int L = w.layers().size(), C = cfg.nEmbd();
        Q8Matrix[] attn = new Q8Matrix[L], attnProj = new Q8Matrix[L], fc = new Q8Matrix[L], fcProj = new Q8Matrix[L];
        MatmulWeights.fill(w, attn, attnProj, fc, fcProj, m -> Q8Matrix.quantize(m.flat(), m.in(), m.out()));
        // the head (V, C) is W^T of the (C, V) matmul it runs as
        return new Q8Weights(attn, attnProj, fc, fcProj, Q8Matrix.quantizeTransposed(w.lmHead(), C, cfg.vocabSize()));
    }

    @Override
    public void linear(CpuThreads pool, int layer, int k, float[] y, float[] x, float[] b, int rows) {
        Q8Matrix m = MatmulWeights.matrix(layer, k, attn, attnProj, fc, fcProj);
        Matmul.matmul(pool, y, 0, x, 0, m, b, rows);
    }

    @Override
    public void head(CpuThreads pool, float[] logits, int logitsOff, float[] xn, float[] bias, int rows) {
        Matmul.matmul(pool, logits, logitsOff, xn, 0, lmHeadT, bias, rows);
    }

    @Override
    public CpuWeightFormat format() { return CpuWeightFormat.INT8; }

    /** Bytes of all the int8 matrices with their scales. */
    public long bytes() {
        long n = lmHeadT.bytes();
        for (Q8Matrix[] ms : new Q8Matrix[][] {attn, attnProj, fc, fcProj}) for (Q8Matrix m : ms) n += m.bytes();
        return n;
    }
}
