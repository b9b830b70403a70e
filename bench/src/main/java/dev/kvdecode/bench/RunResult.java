package dev.kvdecode.bench;

/**
 * One timed generation: {@code steps} tokens from a single start token in one mode.
 *
 * @param stepNanos   wall time of each forward pass (index i = the pass that produced token i)
 * @param contextLens the number of tokens attended by pass i (min(i + 1, context))
 */
record RunResult(Mode mode, int steps, int rep, long totalNanos, long[] stepNanos, int[] contextLens) {
    double seconds() { return totalNanos / 1e9; }

    double tokensPerSecond(int batch) { return steps * (double) batch / seconds(); }

    enum Mode {
        /** Host loop: the logits of every step come back to the host, which picks the next token. */
        CACHED("cached"),
        /** Host loop without the cache: every step re-encodes the window. */
        RECOMPUTE("recompute"),
        /** The session's own generate(): on CUDA the device-resident loop (sampling and feedback on
         *  the GPU, graph replay, only token ids come back); on the CPU the same loop as cached. */
        LOOP("loop");
        final String label;
        boolean usesCache() { return this != RECOMPUTE; }
        Mode(String label) { this.label = label; }
    }
}
