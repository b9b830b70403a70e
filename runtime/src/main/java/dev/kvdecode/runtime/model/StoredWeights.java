package dev.kvdecode.runtime.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * A model's matmul weights kept in the formats of its file (a GGUF with quantized tensors, issue
 * 20), for the CPU backend: the four linear layers of every block, and the LM head and the token
 * embedding where they are quantized. The model's {@link Gpt2Weights} then holds the rest (norms,
 * biases, wpe, and wte / lmHead only where they are not kept here) and null in the place of these.
 *
 * <pre>
 * attn[l] (C, QKV)  attnProj[l] (QD, C)  fc[l] (C, FC)  fcProj[l] (I, C)
 *         (a Llama's q|k|v and gate|up fused as for the fp32 weights: one matrix of the parts'
 *         concatenated rows when they share a format, else {@link StoredMatrix#concat})
 * head    (C, V) or null: the LM head transposed (ggml stores it (V, C) row-major in blocks of C,
 *         which is W^T of this matmul); null = Gpt2Weights.lmHead
 * tokenEmbedding (C, V) or null: token v's embedding is column v; the same object as head when
 *         the head is tied; null = Gpt2Weights.wte
 * </pre>
 */
public record StoredWeights(StoredMatrix[] attn, StoredMatrix[] attnProj, StoredMatrix[] fc, StoredMatrix[] fcProj,
                            StoredMatrix head, StoredMatrix tokenEmbedding) {

    /** Bytes of all the matrices (a tied head once). */
    public long bytes() {
        long n = 0;
        for (StoredMatrix[] ms : new StoredMatrix[][] {attn, attnProj, fc, fcProj}) for (StoredMatrix m : ms) n += m.bytes();
        if (head != null) n += head.bytes();
        if (tokenEmbedding != null && tokenEmbedding != head) n += tokenEmbedding.bytes();
        return n;
    }

    /** The formats in use, sorted. */
    public Set<String> formats() {
        Set<String> s = new TreeSet<>();
        for (StoredMatrix[] ms : new StoredMatrix[][] {attn, attnProj, fc, fcProj}) for (StoredMatrix m : ms) s.addAll(m.formats());
        if (head != null) s.addAll(head.formats());
        if (tokenEmbedding != null) s.addAll(tokenEmbedding.formats());
        return s;
    }

    // token, C -> dst[off .. off + C) = row `token` of wte
    /** Token {@code token}'s embedding (C floats) into dst at off: column {@code token} of {@link #tokenEmbedding}. */
    public void tokenEmbedding(int token, float[] dst, int off) {
        StoredMatrix e = tokenEmbedding;
        for (int i = 0, C = e.in(); i < C; i++) dst[off + i] = e.get(i, token);
    }

    /**
     * The fp32 weights, every kept matrix dequantized into {@code skeleton}'s null places: what a
     * consumer without kernels for these formats runs on (the CUDA backend, {@code --dtype}), and
     * the reference the kept-quantized CPU path is tested against.
     */
    public Gpt2Weights dequantized(Gpt2Weights skeleton) {
        int C = skeleton.config().nEmbd(), V = skeleton.config().vocabSize();
        List<LayerWeights> layers = new ArrayList<>(skeleton.layers().size());
        for (int l = 0; l < skeleton.layers().size(); l++) {
            LayerWeights w = skeleton.layers().get(l);
            layers.add(new LayerWeights(w.ln1Weight(), w.ln1Bias(), attn[l].toF32(), w.attnBias(),
                    attnProj[l].toF32(), w.attnProjBias(), w.ln2Weight(), w.ln2Bias(), fc[l].toF32(), w.fcBias(),
                    fcProj[l].toF32(), w.fcProjBias(), w.qNorm(), w.kNorm()));
        }
        float[] wte = skeleton.wte() != null ? skeleton.wte() : rows(tokenEmbedding, C, V);
        float[] lmHead = skeleton.lmHead() != null ? skeleton.lmHead() : head == tokenEmbedding ? wte : rows(head, C, V);
        return new Gpt2Weights(skeleton.config(), wte, skeleton.wpe(), List.copyOf(layers), skeleton.lnfWeight(),
                skeleton.lnfBias(), lmHead, skeleton.lmHeadBias(), skeleton.storedDtype());
    }

    // m (C, V) -> its transpose (V, C) row-major
    private static float[] rows(StoredMatrix m, int C, int V) {
        float[] r = new float[Math.multiplyExact(C, V)];
        for (int v = 0; v < V; v++) for (int i = 0; i < C; i++) r[v * C + i] = m.get(i, v);
        return r;
    }
}
