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
        CACHED("cached"), RECOMPUTE("recompute");
        final String label;
        Mode(String label) { this.label = label; }
    }
}
