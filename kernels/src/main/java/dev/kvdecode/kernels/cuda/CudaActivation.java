package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.KernelArgs;
import dev.kvdecode.kernels.Activation;

import static dev.kvdecode.kernels.cuda.CudaKernels.addressOrNull;
import static dev.kvdecode.kernels.cuda.CudaKernels.blocks;
import static dev.kvdecode.kernels.cuda.CudaKernels.need;
import static dev.kvdecode.kernels.cuda.CudaKernels.needOptional;
import static dev.kvdecode.kernels.cuda.CudaKernels.positive;

/** Launchers for native/activation.cu; CPU twins: {@link dev.kvdecode.kernels.Activations} and Residual. */
public final class CudaActivation {
    private CudaActivation() {}

    static final int BLOCK = 256;

    /** The kernel op for an activation: bias_gelu_tanh, bias_gelu_erf or bias_relu. */
    public static String op(Activation act) {
        return switch (act) {
            case GELU_NEW -> "bias_gelu_tanh";
            case GELU -> "bias_gelu_erf";
            case RELU -> "bias_relu";
            case SILU -> throw new IllegalArgumentException("silu has no CUDA kernel yet (issue 18)");
        };
    }

    // x (N,D) f32, bias (D) T or null -> out (N,D) T
    /** out = act(x + bias): the MLP's nonlinearity after the fc GEMM. */
    public static void biasActivation(CudaKernels k, CudaStream s, DType dt, Activation act, DeviceBuffer x, DeviceBuffer bias,
                                      DeviceBuffer out, int N, int D) {
        String name = dt.kernel(op(act));
        positive(name, "N", N); positive(name, "D", D);
        need(name, "x", x, 4L * N * D);
        needOptional(name, "bias", bias, (long) dt.sizeBytes() * D);
        need(name, "out", out, (long) dt.sizeBytes() * N * D);
        k.launch(s, name, Dim3.of(blocks((long) N * D, BLOCK)), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(x).ptr(addressOrNull(bias)).ptr(out).i32(N).i32(D));
    }

    // resid (N,D) f32 in/out, y (N,D) f32, bias (D) T or null
    /** resid = resid + (y + bias): a residual connection after a projection GEMM. */
    public static void biasResidualAdd(CudaKernels k, CudaStream s, DType dt, DeviceBuffer resid, DeviceBuffer y,
                                       DeviceBuffer bias, int N, int D) {
        String name = dt.kernel("bias_residual_add");
        positive(name, "N", N); positive(name, "D", D);
        need(name, "resid", resid, 4L * N * D);
        need(name, "y", y, 4L * N * D);
        needOptional(name, "bias", bias, (long) dt.sizeBytes() * D);
        k.launch(s, name, Dim3.of(blocks((long) N * D, BLOCK)), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(resid).ptr(y).ptr(addressOrNull(bias)).i32(N).i32(D));
    }

    // x (N,D) f32 in/out, bias (D) T
    /** x = x + bias, e.g. the LM-head bias of the char model on the logits. */
    public static void biasAdd(CudaKernels k, CudaStream s, DType dt, DeviceBuffer x, DeviceBuffer bias, int N, int D) {
        String name = dt.kernel("bias_add");
        positive(name, "N", N); positive(name, "D", D);
        need(name, "x", x, 4L * N * D);
        need(name, "bias", bias, (long) dt.sizeBytes() * D);
        k.launch(s, name, Dim3.of(blocks((long) N * D, BLOCK)), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(x).ptr(bias).i32(N).i32(D));
    }
}
