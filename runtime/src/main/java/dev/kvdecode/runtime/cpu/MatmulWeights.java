package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.F32Matrix;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;

import java.util.function.Function;

/**
 * A reduced-precision copy of a model's matmul weights for the CPU backend ({@code --dtype fp16|bf16|int8}):
 * the four linear layers of every block and the LM head (transposed to (C, V), so the logits run
 * through the matmul kernel), ~all the bytes a decode step reads. Embeddings, LayerNorm
 * parameters, biases, the KV cache and all arithmetic stay fp32.
 */
public interface MatmulWeights {
    /** Matrix k of a layer: 0 attn (C, 3C), 1 attnProj (C, C), 2 fc (C, 4C), 3 fcProj (4C, C). */
    int ATTN = 0, ATTN_PROJ = 1, FC = 2, FC_PROJ = 3;

    /** y (rows, out) = x (rows, in) W + b for matrix k of layer l; y must not alias x. */
    void linear(CpuThreads pool, int layer, int k, float[] y, float[] x, float[] b, int rows);

    /** logits (rows, V) at logitsOff = xn (rows, C) head^T + bias (bias may be null). */
    void head(CpuThreads pool, float[] logits, int logitsOff, float[] xn, float[] bias, int rows);

    /** The format the matrices are stored in. */
    CpuWeightFormat format();

    /** Whether the token embedding is read from these weights ({@link #tokenEmbedding}) instead of the model's fp32 wte. */
    default boolean embedsTokens() { return false; }

    // token -> dst[off .. off + C) = row `token` of wte
    /** Token {@code token}'s embedding (C floats) into dst at off; only where {@link #embedsTokens()}. */
    default void tokenEmbedding(int token, float[] dst, int off) {
        throw new UnsupportedOperationException("these weights hold no token embedding");
    }

    /** Matrix k of a layer from the four per-layer arrays an implementation keeps. */
    static <M> M matrix(int layer, int k, M[] attn, M[] attnProj, M[] fc, M[] fcProj) {
        return switch (k) {
            case ATTN -> attn[layer];
            case ATTN_PROJ -> attnProj[layer];
            case FC -> fc[layer];
            case FC_PROJ -> fcProj[layer];
            default -> throw new IllegalArgumentException("matrix " + k);
        };
    }

    /** attn[l], attnProj[l], fc[l], fcProj[l] = f(that matrix of layer l of {@code w}) for every layer. */
    static <M> void fill(Gpt2Weights w, M[] attn, M[] attnProj, M[] fc, M[] fcProj, Function<F32Matrix, M> f) {
        for (int l = 0; l < w.layers().size(); l++) {
            LayerWeights lw = w.layers().get(l);
            attn[l] = f.apply(lw.attnWeight());
            attnProj[l] = f.apply(lw.attnProjWeight());
            fc[l] = f.apply(lw.fcWeight());
            fcProj[l] = f.apply(lw.fcProjWeight());
        }
    }
}
