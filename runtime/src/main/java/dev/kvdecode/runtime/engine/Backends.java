package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.cli.UsageException;
import dev.kvdecode.runtime.cpu.CpuBackend;

/** Picks a backend by its CLI name. */
public final class Backends {
    private Backends() {}

    public static Backend create(String name, String dtype) {
        return switch (name) {
            case "cpu", "auto" -> {
                if (!dtype.equals("fp32"))
                    throw new UsageException("--dtype " + dtype + ": the CPU backend computes in fp32 (use --dtype fp32)");
                yield new CpuBackend();
            }
            case "cuda", "cuda-emu" -> throw new UsageException("--backend " + name + ": not available in this build");
            default -> throw new UsageException("--backend: expected auto, cpu, cuda or cuda-emu, got '" + name + "'");
        };
    }
}
