package dev.kvdecode.runtime.engine;

import dev.kvdecode.kernels.HalfFormat;
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
                // fp16/bf16: the matmul weights are kept in that format and widened as read; arithmetic stays fp32
                HalfFormat format = switch (dtype) {
                    case "fp32" -> null;
                    case "fp16" -> HalfFormat.FP16;
                    case "bf16" -> HalfFormat.BF16;
                    default -> throw new UsageException("--dtype: expected fp32, fp16 or bf16, got '" + dtype + "'");
                };
                yield new CpuBackend(threads, format);
            }
            case "cuda", "cuda-emu" -> throw new UsageException("--backend " + name + ": not available in this build");
            default -> throw new UsageException("--backend: expected auto, cpu, cuda or cuda-emu, got '" + name + "'");
        };
    }
}
