package dev.kvdecode.kernels;

/** Token + learned absolute position embedding (GPT-2; Radford et al. 2019). */
public final class Embedding {
    private Embedding() {}

    // wte (V,C), wpe (maxT,C), token, pos -> out (C) = wte[token] + wpe[pos]
    public static void embedRow(float[] out, int outOff, float[] wte, float[] wpe, int token, int pos, int C) {
        int t = token * C, p = pos * C;
        for (int i = 0; i < C; i++) out[outOff + i] = wte[t + i] + wpe[p + i];
    }

    // wte (V,C), wpe (maxT,C), tokens (T) from tokOff, positions pos0..pos0+T-1 -> out (T,C)
    public static void embed(float[] out, int outOff, float[] wte, float[] wpe,
                             int[] tokens, int tokOff, int pos0, int T, int C) {
        for (int t = 0; t < T; t++) embedRow(out, outOff + t * C, wte, wpe, tokens[tokOff + t], pos0 + t, C);
    }
}
