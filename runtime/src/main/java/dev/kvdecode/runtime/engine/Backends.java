package dev.kvdecode.runtime.engine;

import dev.kvdecode.bindings.CudaException;
import dev.kvdecode.bindings.NativeLibraryException;
import dev.kvdecode.runtime.cli.UsageException;
import dev.kvdecode.kernels.cuda.DType;
import dev.kvdecode.runtime.cpu.CpuBackend;
import dev.kvdecode.runtime.cpu.CpuWeightFormat;
import dev.kvdecode.runtime.cuda.CudaBackend;
import dev.kvdecode.runtime.cuda.CudaOptions;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Picks a backend by name ({@code --backend}): {@code auto} (CUDA when a device and the kernels
 * are present, else the CPU with a one-line notice), {@code cpu}, {@code cuda} (a clear error
 * without a GPU) or {@code cuda-emu} (the CUDA code path on the device emulator; never picked by
 * auto, slow, says so).
 */
public final class Backends {
    private Backends() {}

    /** The names {@code --backend} accepts. */
    public enum Kind {
        AUTO("auto"), CPU("cpu"), CUDA("cuda"), CUDA_EMU("cuda-emu");

        private final String flag;

        Kind(String flag) { this.flag = flag; }

        public String flag() { return flag; }

        /** Parses a --backend value; a {@link UsageException} names the valid ones. */
        public static Kind parse(String name) {
            String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
            for (Kind k : values()) if (k.flag.equals(n)) return k;
            throw new UsageException("--backend: unknown backend '" + name + "' (expected auto, cpu, cuda or cuda-emu)");
        }
    }

    /** {@link #create(String, CudaOptions, PrintStream)} with default CUDA options and notices on stderr. */
    public static Backend create(String name) {
        return create(name, CudaOptions.defaults(), System.err);
    }

    /** The CLI's entry: {@code --backend}, {@code --dtype} (fp32, fp16, bf16; int8 on the CPU). */
    public static Backend create(String name, String dtype) {
        return create(name, dtype, 0);
    }

    /** As {@link #create(String, String)} with {@code --threads} for the CPU (0 = one per core). */
    public static Backend create(String name, String dtype, int threads) {
        return create(name, dtype, threads, null);
    }

    /**
     * As {@link #create(String, String, int)} with {@code --kv-dtype} (null: the default, fp32 on
     * the CPU; CUDA keeps its cache in {@code dtype} and refuses any other value).
     */
    public static Backend create(String name, String dtype, int threads, String kvDtype) {
        return create(name, dtype, threads, kvDtype, System.err);
    }

    /** As {@link #create(String, String, int, String)} with the one-line notices going to {@code notices}. */
    public static Backend create(String name, String dtype, int threads, String kvDtype, PrintStream notices) {
        boolean kvBf16;
        if (kvDtype == null || kvDtype.equals("fp32")) kvBf16 = false;
        else if (kvDtype.equals("bf16")) kvBf16 = true;
        else throw new UsageException("--kv-dtype: expected fp32 or bf16, got '" + kvDtype + "'");
        Kind kind = Kind.parse(name);
        boolean cudaKind = kind == Kind.CUDA || kind == Kind.CUDA_EMU;
        if (cudaKind && kvDtype != null && !kvDtype.equals(dtype))
            throw new UsageException("--kv-dtype: the " + kind.flag() + " backend keeps its KV cache in --dtype (" + dtype
                    + "); --kv-dtype " + kvDtype + " is for the CPU backend");
        boolean int8 = "int8".equals(dtype);
        if (cudaKind && int8)
            throw new UsageException("--dtype int8: int8 weights are CPU-only; use --backend cpu, or fp32, fp16 or bf16 with --backend "
                    + kind.flag());
        if (!cudaKind && (int8 || kvBf16)) {   // CPU-only features: auto resolves to the CPU
            if (kind == Kind.AUTO)
                notices.println(int8 ? "kvdecode: --dtype int8 runs on the CPU backend (int8 weights are CPU-only)"
                        : "kvdecode: --kv-dtype bf16 runs on the CPU backend");
            CpuWeightFormat f = CpuWeightFormat.ofFlag(dtype);
            if (f == null)
                throw new UsageException("--dtype: expected fp32, fp16, bf16 or int8 (CPU only), got '" + dtype + "'");
            return cpu(threads, f, kvBf16);
        }
        DType d = switch (dtype) {
            case "fp32" -> DType.F32;
            case "fp16" -> DType.F16;
            case "bf16" -> DType.BF16;
            default -> throw new UsageException("--dtype: expected fp32, fp16, bf16 or int8 (CPU only), got '" + dtype + "'");
        };
        return create(name, CudaOptions.defaults().withDtype(d), threads, notices);
    }

    /** {@link #create(String, CudaOptions, int, PrintStream)} with one CPU thread per core. */
    public static Backend create(String name, CudaOptions cudaOptions, PrintStream notices) {
        return create(name, cudaOptions, 0, notices);
    }

    /**
     * The CPU backend; fp16/bf16 keep the matmul weights in that format and widen them as they are
     * read, int8 quantizes them with per-block scales (arithmetic and the KV cache stay fp32).
     */
    private static CpuBackend cpu(int threads, DType dtype) {
        return cpu(threads, switch (dtype) {
            case F32 -> CpuWeightFormat.FP32;
            case F16 -> CpuWeightFormat.FP16;
            case BF16 -> CpuWeightFormat.BF16;
        }, false);
    }

    private static CpuBackend cpu(int threads, CpuWeightFormat format, boolean kvBf16) {
        return new CpuBackend(Sizes.cpuThreads(threads), format, kvBf16);
    }

    /**
     * Opens the named backend.
     *
     * @param notices where the one-line notices go (auto falling back to the CPU, cuda-emu is slow)
     * @throws UsageException for an unknown name, or {@code cuda} without a usable device, e.g.
     *                        {@code --backend cuda: no CUDA driver found (searched: ...)}
     */
    public static Backend create(String name, CudaOptions cudaOptions, int cpuThreads, PrintStream notices) {
        Kind kind = Kind.parse(name);
        return switch (kind) {
            case CPU -> cpu(cpuThreads, cudaOptions.dtype());
            case CUDA -> {
                try {
                    yield CudaBackend.openCuda(cudaOptions);
                } catch (NativeLibraryException | CudaException | IllegalStateException e) {
                    throw new UsageException("--backend cuda: " + e.getMessage());
                }
            }
            case CUDA_EMU -> {
                notices.println("kvdecode: --backend cuda-emu runs the CUDA code path on the CPU device emulator; "
                        + "it is slow (for tests without a GPU)");
                try {
                    yield CudaBackend.openEmulator(cudaOptions);
                } catch (NativeLibraryException | CudaException | IllegalStateException e) {
                    throw new UsageException("--backend cuda-emu: " + e.getMessage());
                }
            }
            case AUTO -> {
                try {
                    yield CudaBackend.openCuda(cudaOptions);
                } catch (NativeLibraryException | CudaException | IllegalStateException e) {
                    String why = String.valueOf(e.getMessage());
                    int cut = why.indexOf(" (searched");   // the full search list is for --backend cuda
                    notices.println("kvdecode: " + (cut > 0 ? why.substring(0, cut) : why) + "; using the CPU backend");
                    yield cpu(cpuThreads, cudaOptions.dtype());
                }
            }
        };
    }
}
