package dev.kvdecode.kernels;

/**
 * The packed layout of the CPU's matmul weights ({@link F32Matrix}, {@link HalfMatrix}, {@link Q8Matrix}):
 * W (in, out) cut into panels of {@link #WIDTH} consecutive columns, each panel stored row after
 * row (panel p holds rows 0..in-1 of columns [64p, 64p + width)), the panels one after another.
 *
 * <p>Why: a batch-1 matmul then streams each thread's share of W as one contiguous region (the
 * prefetchers never restart), and a panel's 64 accumulators stay in eight 256-bit registers over
 * all in rows instead of being loaded and stored for every row. Measured on the 2-core build
 * machine (docs/PERF_NOTES_CPU.md, section 9): GPT-2 int8 decode 56-64 -> ~70 tokens/s; a packed
 * fp32 microbenchmark streamed 23-28 GB/s against the flat layout's 19-22, and GPT-2 fp32 decode
 * went from ~40 to ~45 tokens/s steady once the loader packed the fp32 weights too (section 13).
 * The loader packs them as it reads the file, so the model still holds one copy.
 */
final class Panels {
    private Panels() {}

    /** Columns per panel: eight 8-lane vectors. */
    static final int WIDTH = 64;

    static int count(int out) { return (out + WIDTH - 1) / WIDTH; }

    static int width(int p, int out) { return Math.min(WIDTH, out - p * WIDTH); }

    /** Index of the first element of panel p. */
    static int base(int p, int in) { return p * WIDTH * in; }

    /** Index of W[i, c]. */
    static int index(int i, int c, int in, int out) {
        int p = c / WIDTH;
        return base(p, in) + i * width(p, out) + (c - p * WIDTH);
    }

    /** Checks in x out fits one Java array. */
    static void checkShape(int in, int out, long elements) {
        if (in < 1 || out < 1 || (long) in * out != elements)
            throw new IllegalArgumentException("W has " + elements + " elements, expected " + in + " x " + out);
    }
}
