package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.HalfFormat;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.ModelConfig;

/**
 * The matmul weights of a model in a 16-bit format for the CPU backend ({@code --dtype fp16|bf16}):
 * the four linear layers of every block and the LM head, which are ~all the bytes a decode step
 * reads. The matmuls widen them to fp32 segment by segment (see {@link HalfFormat}), so a step
 * streams half the bytes of fp32. Embeddings, LayerNorm parameters and biases stay fp32 (a row
 * of wte/wpe per token and O(C) vectors: negligible traffic), and so does all arithmetic.
 *
 * <p>Narrowing rounds to nearest even once; a checkpoint stored in the same format (widened
 * exactly by the loader) round-trips bit for bit.
 *
 * <pre>
 * attn[l]      (C, 3C)   attnProj[l] (C, C)   fc[l] (C, 4C)   fcProj[l] (4C, C)
 * lmHeadT      (C, V)   the LM head transposed, so the logits use the matmul kernel (vectorized)
 * </pre>
 */
public record HalfWeights(HalfFormat format, short[][] attn, short[][] attnProj, short[][] fc, short[][] fcProj,
                          short[] lmHeadT) {

    /** Narrows the matmul weights of {@code w} to {@code format}. */
    public static HalfWeights of(Gpt2Weights w, HalfFormat format) {
        int L = w.layers().size();
        short[][] attn = new short[L][], attnProj = new short[L][], fc = new short[L][], fcProj = new short[L][];
        for (int l = 0; l < L; l++) {
            LayerWeights lw = w.layers().get(l);
            attn[l] = format.narrow(lw.attnWeight());
            attnProj[l] = format.narrow(lw.attnProjWeight());
            fc[l] = format.narrow(lw.fcWeight());
            fcProj[l] = format.narrow(lw.fcProjWeight());
        }
        ModelConfig cfg = w.config();
        float[] headT = CpuSession.transposeHead(w.lmHead(), cfg.vocabSize(), cfg.nEmbd());
        return new HalfWeights(format, attn, attnProj, fc, fcProj, format.narrow(headT));
    }
}
