package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.KernelArgs;

import static dev.kvdecode.kernels.cuda.CudaKernels.addressOrNull;
import static dev.kvdecode.kernels.cuda.CudaKernels.need;
import static dev.kvdecode.kernels.cuda.CudaKernels.needOptional;
import static dev.kvdecode.kernels.cuda.CudaKernels.positive;

/**
 * Launcher for native/swiglu.cu, the gated MLP's middle; CPU twin: {@link dev.kvdecode.kernels.Activations#gated}
 * with {@link dev.kvdecode.kernels.Activation#SILU}.
 */
public final class CudaSwiGlu {
    private CudaSwiGlu() {}

    static final int BLOCK = 256;
    /** Grid-strided: enough blocks to fill a large GPU, never more than the elements need. */
    static final int MAX_BLOCKS = 1024;

    // gu (N,2I) f32 [gate | up], bias (2I) T or null -> out (N,I) T
    /** out = silu(gate + b_gate) * (up + b_up), row by row. */
    public static void swiglu(CudaKernels k, CudaStream s, DType dt, DeviceBuffer gu, DeviceBuffer bias, DeviceBuffer out,
                              int N, int I) {
        String name = dt.kernel("swiglu");
        positive(name, "N", N);
        positive(name, "I", I);
        need(name, "gu", gu, 4L * N * 2 * I);
        needOptional(name, "bias", bias, (long) dt.sizeBytes() * 2 * I);
        need(name, "out", out, (long) dt.sizeBytes() * N * I);
        long blocks = Math.min(MAX_BLOCKS, ((long) N * I + BLOCK - 1) / BLOCK);
        k.launch(s, name, Dim3.of((int) blocks), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(gu).ptr(addressOrNull(bias)).ptr(out).i32(N).i32(I));
    }
}
