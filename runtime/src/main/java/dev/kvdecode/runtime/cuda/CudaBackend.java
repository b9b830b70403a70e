package dev.kvdecode.runtime.cuda;

import dev.kvdecode.bindings.GpuContext;
import dev.kvdecode.bindings.NativeLibraries;
import dev.kvdecode.kernels.cuda.CudaKernels;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;

/**
 * The CUDA backend: one device context and our kernels loaded into it; each session owns its
 * weights on the device, its cache, stream and cuBLAS handle. The same code runs on a real GPU
 * ({@code cuda}) and on the device emulator ({@code cuda-emu}); only the library differs.
 *
 * <p>The driver binds the context to the opening thread: open sessions and use them there.
 */
public final class CudaBackend implements Backend {
    private final GpuContext gpu;
    private final CudaKernels kernels;
    private final CudaOptions options;

    private CudaBackend(GpuContext gpu, CudaKernels kernels, CudaOptions options) {
        this.gpu = gpu;
        this.kernels = kernels;
        this.options = options;
    }

    /**
     * Opens device 0 with the given libraries and loads the kernels.
     *
     * @throws dev.kvdecode.bindings.CudaException e.g. {@code cuInit: CUDA_ERROR_NO_DEVICE}
     * @throws IllegalStateException               when the kernels jar has no fatbin (built without nvcc)
     */
    public static CudaBackend open(NativeLibraries.Loaded libraries, CudaOptions options) {
        GpuContext gpu = GpuContext.open(libraries, 0);
        try {
            return new CudaBackend(gpu, CudaKernels.load(gpu), options);
        } catch (RuntimeException e) {
            gpu.close();
            throw e;
        }
    }

    /** The real driver and cuBLAS, found by {@link NativeLibraries#loadCuda()}. */
    public static CudaBackend openCuda(CudaOptions options) {
        return open(NativeLibraries.loadCuda(), options);
    }

    /** The device emulator shipped in the kernels jar (or $KVDECODE_EMU_LIB). */
    public static CudaBackend openEmulator(CudaOptions options) {
        return open(NativeLibraries.loadEmulator(CudaKernels.class.getClassLoader()), options);
    }

    @Override
    public String name() { return gpu.mode() == NativeLibraries.Mode.EMU ? "cuda-emu" : "cuda"; }

    public GpuContext gpu() { return gpu; }

    /** Our kernels, loaded into this backend's context. */
    public CudaKernels kernels() { return kernels; }

    public CudaOptions options() { return options; }

    /** A one-line description: device name, compute capability, driver version. */
    public String describe() {
        int v = gpu.driverVersion();
        return name() + ": " + gpu.deviceName() + " (sm_" + gpu.computeCapability() + ", CUDA driver "
                + v / 1000 + "." + (v % 1000) / 10 + ", " + options.dtype().suffix() + (options.graphs() ? ", graphs" : ", step-by-step") + ")";
    }

    @Override
    public CudaSession open(Model model, SessionOptions sessionOptions) {
        return open(model, sessionOptions, options);
    }

    /** A session with other CUDA options than the backend's (e.g. graphs off for a comparison). */
    public CudaSession open(Model model, SessionOptions sessionOptions, CudaOptions cudaOptions) {
        checkSupported(model.config(), name());
        gpu.makeCurrent();
        // a quantized GGUF: its kept weights dequantized (the quantized GEMVs, native/gemv_quant.cu,
        // are not wired into the session yet; issue 20)
        if (model.stored() != null)
            System.err.println("kvdecode: " + model.name() + ": the " + String.join(", ", model.stored().formats())
                    + " weights are dequantized to fp32 for --backend " + name() + " (quantized GEMV not wired yet)");
        return new CudaSession(gpu, kernels, model.fp32Weights(), sessionOptions, cudaOptions);
    }

    /** The CUDA path runs the GPT-2 layout only so far (issue 18): anything else is a one-line error. */
    public static void checkSupported(dev.kvdecode.runtime.model.ModelConfig cfg, String backend) {
        if (!cfg.gpt2Layout())
            throw new dev.kvdecode.runtime.model.ModelFormatException(cfg.architecture()
                    + " is not yet supported on --backend " + backend + "; use --backend cpu");
    }

    @Override
    public void close() {
        try {
            kernels.close();
        } finally {
            gpu.close();
        }
    }
}
