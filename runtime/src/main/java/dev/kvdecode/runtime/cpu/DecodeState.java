package dev.kvdecode.runtime.cpu;

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
        this.rows = Math.max(batch, contextTokens);
        x = new float[rows * C];
        xn = new float[rows * C];
        qkv = new float[rows * 3 * C];
        att = new float[rows * C];
        proj = new float[rows * C];
        fc = new float[Math.multiplyExact(rows, 4 * C)];
        scores = new float[NH * contextTokens];
        logits = new float[Math.multiplyExact(batch, V)];
        rowSeq = new int[rows];
        rowAhead = new int[rows];
        rowStart = new int[rows];
        rowCount = new int[rows];
    }
}
