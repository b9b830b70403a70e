package dev.kvdecode.runtime.engine;

import dev.kvdecode.bindings.CudaException;
import dev.kvdecode.bindings.NativeLibraryException;
import dev.kvdecode.runtime.cli.UsageException;
import dev.kvdecode.runtime.cpu.CpuBackend;
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

    /**
     * Opens the named backend.
     *
     * @param notices where the one-line notices go (auto falling back to the CPU, cuda-emu is slow)
     * @throws UsageException for an unknown name, or {@code cuda} without a usable device, e.g.
     *                        {@code --backend cuda: no CUDA driver found (searched: ...)}
     */
    public static Backend create(String name, CudaOptions cudaOptions, PrintStream notices) {
        Kind kind = Kind.parse(name);
        return switch (kind) {
            case CPU -> new CpuBackend();
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
                    notices.println("kvdecode: no usable CUDA device (" + e.getMessage() + "); using the CPU backend");
                    yield new CpuBackend();
                }
            }
        };
    }
}
