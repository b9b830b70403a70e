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
    final float[] qkv;     // (R, 3C) q | k | v
    final float[] att;     // (R, C)  attention output, heads concatenated
    final float[] proj;    // (R, C)  output of a projection before the residual add
    final float[] fc;      // (R, 4C) MLP hidden
    final float[] scores;  // (NH, contextTokens) attention scores / probabilities
    final float[] logits;  // (B, V)

    // Per-row bookkeeping of the current forward (cached mode).
    final int[] rowSeq;    // sequence of row r
    final int[] rowAhead;  // tokens of the same sequence earlier in this forward
    final int[] rowStart;  // oldest cache slot row r attends from
    final int[] rowCount;  // cache entries row r attends over

    DecodeState(int batch, int contextTokens, int C, int NH, int V) {
        // CpuSession.checkFits has checked these sizes against the heap and the array limit;
        // Sizes.arrayLength still refuses an overflowing product instead of wrapping it.
        this.rows = Math.max(batch, contextTokens);
        String what = "the decode state of --batch " + batch + " --context " + contextTokens;
        x = new float[Sizes.arrayLength(what, (long) rows * C)];
        xn = new float[x.length];
        qkv = new float[Sizes.arrayLength(what, 3L * rows * C)];
        att = new float[x.length];
        proj = new float[x.length];
        fc = new float[Sizes.arrayLength(what, 4L * rows * C)];
        scores = new float[Sizes.arrayLength(what, (long) NH * contextTokens)];
        logits = new float[Sizes.arrayLength(what, (long) batch * V)];
        rowSeq = new int[rows];
        rowAhead = new int[rows];
        rowStart = new int[rows];
        rowCount = new int[rows];
    }
}
