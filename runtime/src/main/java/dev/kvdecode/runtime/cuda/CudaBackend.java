package dev.kvdecode.runtime.cuda;

import dev.kvdecode.bindings.GpuContext;
import dev.kvdecode.bindings.NativeLibraries;
import dev.kvdecode.kernels.cuda.CudaDecodeAttention;
import dev.kvdecode.kernels.cuda.CudaKernels;
import dev.kvdecode.kernels.cuda.CudaRope;
import dev.kvdecode.kernels.cuda.DType;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.ModelFormatException;

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

    /**
     * What the CUDA path cannot run, as a one-line error naming the field: the family's members
     * (GPT-2, the char model, Llama, Mistral, Qwen2, Qwen3) all pass. Grouped-query attention and
     * Qwen3's q/k norm come with rotary positions only (native/rope.cu), at most
     * {@link CudaDecodeAttention#MAX_GROUP} query heads per KV head.
     */
    public static void checkSupported(ModelConfig cfg, String backend) {
        ModelConfig.Attention a = cfg.attention();
        String where = cfg.architecture() + " on --backend " + backend + ": ";
        boolean rotary = cfg.positions() instanceof ModelConfig.Rotary;
        if (!rotary && (a.kvHeads() != a.heads() || a.qkNorm()))
            throw new ModelFormatException(where + "num_key_value_heads != num_attention_heads or a q/k norm needs rotary positions; use --backend cpu");
        if (a.heads() / a.kvHeads() > CudaDecodeAttention.MAX_GROUP)
            throw new ModelFormatException(where + "num_attention_heads / num_key_value_heads = " + a.heads() / a.kvHeads()
                    + " is not supported (at most " + CudaDecodeAttention.MAX_GROUP + "); use --backend cpu");
        if (rotary && a.headSize() > CudaRope.MAX_HEAD_SIZE)
            throw new ModelFormatException(where + "head_dim " + a.headSize() + " is not supported (at most "
                    + CudaRope.MAX_HEAD_SIZE + "); use --backend cpu");
    }

    /** {@link #checkSupported(ModelConfig, String)} plus what depends on the dtype: GQA's attention kernel must serve head_dim. */
    static void checkSupported(ModelConfig cfg, DType dt) {
        checkSupported(cfg, "cuda");
        if (cfg.nKvHead() != cfg.nHead() && !CudaDecodeAttention.chunkedSupports(dt, cfg.headSize()))
            throw new ModelFormatException(cfg.architecture() + " on --backend cuda: head_dim " + cfg.headSize()
                    + " with grouped-query attention is not supported in " + dt.suffix() + "; use --backend cpu");
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
