package dev.kvdecode.runtime.cpu;

import dev.kvdecode.runtime.engine.Sizes;

/**
 * The mutable working buffers of one CPU session, allocated once for the largest forward it will
 * run (R = max(B, contextTokens) rows) so that no step allocates. Row r of an (R, n) buffer starts
 * at r * n. The weights live elsewhere and are never written.
 */
final class DecodeState {
    final int rows;
    final float[] x;       // (R, C)  the residual stream
    final float[] xn;      // (R, C)  LayerNorm output
    final float[] qkv;     // (R, QKV) q | k | v, QKV = NH*HS + 2*NKV*HS (3C for GPT-2)
    final float[] att;     // (R, NH*HS)  attention output, heads concatenated
    final float[] proj;    // (R, C)  output of a projection before the residual add
    final float[] fc;      // (R, FC) MLP hidden (4C for GPT-2; [gate | up], 2I, for a gated MLP)
    final float[] ropeCos, ropeSin;  // (R, HS/2) the rotation of row r's position (rotary models)
    final float[] scores;  // (NH, contextTokens) attention scores / probabilities
    final float[] logits;  // (B, V)

    // Per-row bookkeeping of the current forward (cached mode).
    final int[] rowSeq;    // sequence of row r
    final int[] rowAhead;  // tokens of the same sequence earlier in this forward
    final int[] rowStart;  // oldest cache slot row r attends from
    final int[] rowCount;  // cache entries row r attends over
    final int[] rowPos;    // position of row r (learned: the wpe row; rotary: the rotation)

    DecodeState(int batch, int contextTokens, int C, int NH, int V) {
        this(batch, contextTokens, C, NH, V, 3 * C, C, 4 * C, 0);
    }

    /** @param qkvDim, attDim, fcDim the widths of q|k|v, the attention output and the MLP hidden; ropeHalf HS/2 or 0 */
    DecodeState(int batch, int contextTokens, int C, int NH, int V, int qkvDim, int attDim, int fcDim, int ropeHalf) {
        // CpuSession.checkFits has checked these sizes against the heap and the array limit;
        // Sizes.arrayLength still refuses an overflowing product instead of wrapping it.
        this.rows = Math.max(batch, contextTokens);
        String what = "the decode state of --batch " + batch + " --context " + contextTokens;
        x = new float[Sizes.arrayLength(what, (long) rows * C)];
        xn = new float[x.length];
        qkv = new float[Sizes.arrayLength(what, (long) rows * qkvDim)];
        att = new float[Sizes.arrayLength(what, (long) rows * attDim)];
        proj = new float[x.length];
        fc = new float[Sizes.arrayLength(what, (long) rows * fcDim)];
        ropeCos = new float[Sizes.arrayLength(what, (long) rows * ropeHalf)];
        ropeSin = new float[ropeCos.length];
        scores = new float[Sizes.arrayLength(what, (long) NH * contextTokens)];
        logits = new float[Sizes.arrayLength(what, (long) batch * V)];
        rowSeq = new int[rows];
        rowAhead = new int[rows];
        rowStart = new int[rows];
        rowCount = new int[rows];
        rowPos = new int[rows];
    }
}
