package dev.kvdecode.runtime.cli;

import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.Backends;
import picocli.CommandLine.Option;

/** {@code --backend}, {@code --dtype} and {@code --threads}, shared by generate, eval and bench. */
public final class BackendOptions {
    @Option(names = "--backend", defaultValue = "auto", description = "auto, cpu, cuda or cuda-emu (default: ${DEFAULT-VALUE})")
    String backendName;

    @Option(names = "--dtype", defaultValue = "fp32",
            description = "weights (and, on CUDA, the KV cache): fp32, fp16, bf16, or int8 (CPU only: int8 with one scale per "
                    + "32 weights); on the CPU reduced-precision matmul weights are widened as they are read and arithmetic "
                    + "stays fp32 (default: ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--kv-dtype",
            description = "the CPU's KV cache: fp32 (default) or bf16 (half the bytes per cached token; K and V are rounded "
                    + "where they are computed, so cached and recomputed output still agree); the CUDA backend keeps its "
                    + "cache in --dtype")
    String kvDtype;

    @Option(names = "--threads", defaultValue = "0", description = "CPU threads, at most the available processors (more is an error); 0 = one per available processor (default: ${DEFAULT-VALUE})")
    int threads;

    /** Opens the chosen backend; a bad value is a {@link UsageException} naming the flag. */
    public Backend open() {
        dev.kvdecode.runtime.engine.Sizes.cpuThreads(threads);   // every backend: a bad --threads is an error, not ignored
        return Backends.create(backendName, dtype, threads, kvDtype);
    }

    private final java.io.ByteArrayOutputStream heldNotices = new java.io.ByteArrayOutputStream();

    /**
     * As {@link #open()}, but the backend's notices (auto fell back to the CPU, cuda-emu is slow)
     * are held until {@link #printNotices}: a command calls that once its session is open, so a
     * size the session refuses is the only line on stderr (issue 21).
     */
    public Backend openHoldingNotices() {
        dev.kvdecode.runtime.engine.Sizes.cpuThreads(threads);
        return Backends.create(backendName, dtype, threads, kvDtype,
                new java.io.PrintStream(heldNotices, true, java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Prints the notices {@link #openHoldingNotices} held, once. */
    public void printNotices(java.io.PrintWriter err) {
        String s = heldNotices.toString(java.nio.charset.StandardCharsets.UTF_8);
        heldNotices.reset();
        if (!s.isEmpty()) {
            err.print(s);
            err.flush();
        }
    }

    /** --kv-dtype as given, or null. */
    public String kvDtype() { return kvDtype; }

    /** fp32, fp16, bf16 or int8 as given on the command line. */
    public String dtype() { return dtype; }
}
