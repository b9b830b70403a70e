package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.cli.UsageException;
import dev.kvdecode.runtime.cpu.CpuBackend;

/** Picks a backend by its CLI name. */
public final class Backends {
    private Backends() {}

    public static Backend create(String name, String dtype) {
        return create(name, dtype, 0);
    }

    /** @param threads CPU threads, 0 = one per available processor */
    public static Backend create(String name, String dtype, int threads) {
        if (threads < 0) throw new UsageException("--threads: must be >= 0, got " + threads);
        return switch (name) {
            case "cpu", "auto" -> {
                if (!dtype.equals("fp32"))
                    throw new UsageException("--dtype " + dtype + ": the CPU backend computes in fp32 (use --dtype fp32)");
                yield threads == 0 ? new CpuBackend() : new CpuBackend(threads);
            }
            case "cuda", "cuda-emu" -> throw new UsageException("--backend " + name + ": not available in this build");
            default -> throw new UsageException("--backend: expected auto, cpu, cuda or cuda-emu, got '" + name + "'");
        };
    }
}
