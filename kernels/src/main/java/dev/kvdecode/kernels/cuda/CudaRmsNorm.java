package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.KernelArgs;

import static dev.kvdecode.kernels.cuda.CudaKernels.addressOrNull;
import static dev.kvdecode.kernels.cuda.CudaKernels.need;
import static dev.kvdecode.kernels.cuda.CudaKernels.needOptional;
import static dev.kvdecode.kernels.cuda.CudaKernels.positive;

/** Launchers for native/rmsnorm.cu; CPU twin: {@link dev.kvdecode.kernels.RmsNorm}. */
public final class CudaRmsNorm {
    private CudaRmsNorm() {}

    /** One block of 256 threads per row (native/rmsnorm.cu). */
    static final int BLOCK = 256;

    // x (N,C) f32, w (C) T -> out (N,C) T
    /** out = w * (x * rsqrt(mean(x^2) + eps)) per row. */
    public static void rmsNorm(CudaKernels k, CudaStream s, DType dt, DeviceBuffer x, DeviceBuffer w, DeviceBuffer out,
                               int N, int C, float eps) {
        String name = dt.kernel("rmsnorm");
        check(name, dt, w, out, N, C);
        need(name, "x", x, 4L * N * C);
        k.launch(s, name, Dim3.of(N), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(x).ptr(w).ptr(out).i32(N).i32(C).f32(eps));
    }

    // resid (N,C) f32 in/out, y (N,C) f32, ybias (C) T or null, w (C) T -> out (N,C) T
    /** resid = resid + (y + ybias); out = RMSNorm(resid). */
    public static void residualRmsNorm(CudaKernels k, CudaStream s, DType dt, DeviceBuffer resid, DeviceBuffer y,
                                       DeviceBuffer ybias, DeviceBuffer w, DeviceBuffer out, int N, int C, float eps) {
        String name = dt.kernel("residual_rmsnorm");
        check(name, dt, w, out, N, C);
        need(name, "resid", resid, 4L * N * C);
        need(name, "y", y, 4L * N * C);
        needOptional(name, "ybias", ybias, (long) dt.sizeBytes() * C);
        k.launch(s, name, Dim3.of(N), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(resid).ptr(y).ptr(addressOrNull(ybias)).ptr(w).ptr(out).i32(N).i32(C).f32(eps));
    }

    private static void check(String name, DType dt, DeviceBuffer w, DeviceBuffer out, int N, int C) {
        positive(name, "N", N);
        positive(name, "C", C);
        need(name, "w", w, (long) dt.sizeBytes() * C);
        need(name, "out", out, (long) dt.sizeBytes() * N * C);
    }
}
