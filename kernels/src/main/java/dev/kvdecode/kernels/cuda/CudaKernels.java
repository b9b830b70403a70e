package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaFunction;
import dev.kvdecode.bindings.CudaModule;
import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.GpuContext;
import dev.kvdecode.bindings.KernelArgs;
import dev.kvdecode.bindings.NativeLibraries;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Our kernels (native/*.cu) loaded into one context: the fatbin from the kernels jar, loaded with
 * cuModuleLoadData, and the CUfunction handles looked up once by name (CudaModule caches them).
 * The per-family launchers (CudaLayerNorm, CudaKvCache, ...) take this as their first argument.
 *
 * <p>On the emulator the same resource is loaded; where the build had no nvcc the jar holds no
 * fatbin and {@link #EMU_MODULE_MARKER} stands for it (the emulator resolves kernels by name from
 * its own registry either way).
 */
public final class CudaKernels implements AutoCloseable {
    /** Where scripts/build-fatbin.sh puts the fatbin inside the kernels jar. */
    public static final String FATBIN_RESOURCE = "dev/kvdecode/kernels/kvdecode.fatbin";
    /** The image passed to the emulator's cuModuleLoadData when the jar has no fatbin. */
    public static final byte[] EMU_MODULE_MARKER = "KVDEMU kvdecode kernels\0".getBytes(StandardCharsets.US_ASCII);

    private final CudaModule module;
    private List<Launch> recording;

    /**
     * One launch as recorded by {@link #startRecording}: the kernel, its grid and block, dynamic
     * shared memory, and the bytes its launcher says the arguments' shapes imply (reads + writes;
     * 0 where the launcher does not say). Counted here, in the Java launcher, so the same table
     * comes from the emulator and a real driver.
     */
    public record Launch(String kernel, Dim3 grid, Dim3 block, int sharedMemBytes, long bytes) {}

    /** Records every launch from now on (until {@link #stopRecording}). */
    public void startRecording() { recording = new ArrayList<>(); }

    /** The launches since {@link #startRecording}, in order; recording stops. */
    public List<Launch> stopRecording() {
        List<Launch> r = recording == null ? List.of() : List.copyOf(recording);
        recording = null;
        return r;
    }

    /** Adds work that does not go through {@link #launch} (a cuBLAS GEMM) to the recording, if one runs. */
    public void record(Launch launch) {
        if (recording != null) recording.add(launch);
    }

    private CudaKernels(CudaModule module) {
        this.module = module;
    }

    /**
     * Loads the kernels into {@code gpu}'s context.
     *
     * @throws IllegalStateException on a real GPU when the jar was built without nvcc
     */
    public static CudaKernels load(GpuContext gpu) {
        byte[] image = readFatbin();
        if (image == null) {
            if (gpu.mode() != NativeLibraries.Mode.EMU)
                throw new IllegalStateException("the CUDA kernels are missing: the kernels jar has no " + FATBIN_RESOURCE
                        + " (it was built where nvcc was absent; rebuild with the CUDA toolkit installed)");
            image = EMU_MODULE_MARKER;
        }
        return new CudaKernels(gpu.loadModule(image));
    }

    /** The fatbin bytes from the class path, or null when the build skipped nvcc. */
    public static byte[] readFatbin() {
        try (InputStream in = CudaKernels.class.getClassLoader().getResourceAsStream(FATBIN_RESOURCE)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the kernel fatbin " + FATBIN_RESOURCE + ": " + e.getMessage(), e);
        }
    }

    /** The kernel named {@code name} (its extern "C" name). */
    public CudaFunction function(String name) { return module.function(name); }

    /** Checks the arguments against the kernel's parameters (see CudaFunction) and queues the launch. */
    void launch(CudaStream stream, String name, Dim3 grid, Dim3 block, int sharedMemBytes, KernelArgs args) {
        launch(stream, name, grid, block, sharedMemBytes, args, 0);
    }

    /** As {@link #launch(CudaStream, String, Dim3, Dim3, int, KernelArgs)}, stating the bytes the launch moves. */
    void launch(CudaStream stream, String name, Dim3 grid, Dim3 block, int sharedMemBytes, KernelArgs args, long bytes) {
        record(new Launch(name, grid, block, sharedMemBytes, bytes));
        try (Arena arena = Arena.ofConfined()) {
            function(name).launch(stream, grid, block, sharedMemBytes, arena, args, waitsForPredecessor(name));
        }
    }

    /**
     * Kernels whose entry point calls kvd_pdl_wait() (native/kvd_cuda.h) before any global
     * memory access: those the decode step launches (and their fallbacks). On a stream with
     * {@link CudaStream#programmaticLaunch()} they are launched with programmatic stream
     * serialization; every other kernel the usual way (the emulator fails a programmatic launch
     * of a kernel that never waits, and faults one that touches memory before it waits).
     */
    static final List<String> WAITING_KERNEL_PREFIXES = List.of("embed_decode_", "gemv_bias_", "gemv_ln_bias_",
            "gemv_qkv_append_", "gemv_ln_qkv_append_", "decode_attention_", "kv_append_", "layernorm_", "counters_advance",
            "sample_argmax", "sample_top_kp");

    /** Whether {@code kernel} waits for its predecessor itself (see {@link #WAITING_KERNEL_PREFIXES}). */
    public static boolean waitsForPredecessor(String kernel) {
        for (String p : WAITING_KERNEL_PREFIXES) if (kernel.startsWith(p)) return true;
        return false;
    }

    @Override
    public void close() { module.close(); }

    // ---- argument checks shared by the launchers: a short buffer is a launcher bug, caught before the device sees it ----

    static void need(String kernel, String what, DeviceBuffer buffer, long bytes) {
        if (buffer == null) throw new IllegalArgumentException(kernel + ": " + what + " is required");
        if (buffer.sizeBytes() < bytes)
            throw new IllegalArgumentException(kernel + ": " + what + " holds " + buffer.sizeBytes() + " bytes, needs " + bytes);
    }

    static void needOptional(String kernel, String what, DeviceBuffer buffer, long bytes) {
        if (buffer != null) need(kernel, what, buffer, bytes);
    }

    static void positive(String kernel, String what, int value) {
        if (value < 1) throw new IllegalArgumentException(kernel + ": " + what + " must be >= 1, got " + value);
    }

    static long addressOrNull(DeviceBuffer buffer) { return buffer == null ? 0L : buffer.address(); }

    static int blocks(long n, int perBlock) { return (int) Math.min((n + perBlock - 1) / perBlock, 65535); }
}
