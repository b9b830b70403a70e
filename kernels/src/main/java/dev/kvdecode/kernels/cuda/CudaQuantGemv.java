package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.KernelArgs;
import dev.kvdecode.kernels.GgmlBlocks;
import dev.kvdecode.kernels.cuda.CudaGemv.Epilogue;

import java.util.Locale;

import static dev.kvdecode.kernels.cuda.CudaKernels.addressOrNull;
import static dev.kvdecode.kernels.cuda.CudaKernels.need;
import static dev.kvdecode.kernels.cuda.CudaKernels.needOptional;
import static dev.kvdecode.kernels.cuda.CudaKernels.positive;

/**
 * Launchers for native/gemv_quant.cu (issue 20): the decode step's matrix-vector products for up to
 * {@link CudaGemv#MAX_ROWS} rows with W kept in a ggml block format ({@link GgmlBlocks.Layout}:
 * Q8_0, Q4_0, Q4_K, Q6_K) exactly as a GGUF file stores it, (N, K) in blocks along K, dequantized
 * in the load path; x, bias and out fp32; the epilogues of {@link CudaGemv}. CPU twin: the
 * composition {@link GgmlBlocks#dequantize}, {@link dev.kvdecode.kernels.Matmul#matmul}, then
 * {@link dev.kvdecode.kernels.Activations#apply} or {@link dev.kvdecode.kernels.Residual#add}.
 */
public final class CudaQuantGemv {
    private CudaQuantGemv() {}

    /** The kernel's extern "C" name: gemv_q_&lt;epilogue&gt;_&lt;format&gt;, e.g. gemv_q_bias_residual_q4_k. */
    public static String kernel(GgmlBlocks.Layout f, Epilogue e) {
        return "gemv_q_" + e.op.substring("gemv_".length()) + "_" + f.name().toLowerCase(Locale.ROOT);
    }

    /** Bytes of W (N, K) in format f: N x K / E blocks. */
    public static long weightBytes(GgmlBlocks.Layout f, int K, int N) { return (long) N * (K / f.elements) * f.sizeBytes; }

    // x (M,K) f32, w (N rows of K/E blocks), bias (N) f32 or null -> out (M,N) f32 (BIAS_RESIDUAL: in/out)
    /** out = epilogue(x W^T + bias) for M &lt;= 8 rows; K a multiple of the format's block (32 or 256). */
    public static void gemv(CudaKernels k, CudaStream s, GgmlBlocks.Layout f, Epilogue e, DeviceBuffer x, DeviceBuffer w,
                            DeviceBuffer bias, DeviceBuffer out, int M, int K, int N) {
        String name = kernel(f, e);
        positive(name, "M", M); positive(name, "K", K); positive(name, "N", N);
        if (M > CudaGemv.MAX_ROWS)
            throw new IllegalArgumentException(name + ": " + M + " rows (at most " + CudaGemv.MAX_ROWS + ")");
        if (K % f.elements != 0)
            throw new IllegalArgumentException(name + ": K = " + K + " is not a multiple of the " + f + " block (" + f.elements + ")");
        need(name, "x", x, 4L * M * K);
        need(name, "w", w, weightBytes(f, K, N));
        needOptional(name, "bias", bias, 4L * N);
        need(name, "out", out, 4L * M * N);
        k.launch(s, name, Dim3.of((N + CudaGemv.COLUMNS_PER_BLOCK - 1) / CudaGemv.COLUMNS_PER_BLOCK), Dim3.of(CudaGemv.BLOCK), 0,
                new KernelArgs().ptr(x).ptr(w).ptr(addressOrNull(bias)).ptr(out).i32(M).i32(K).i32(N),
                bytesMoved(f, e, M, K, N, bias != null));
    }

    /** Bytes a launch moves: W's blocks, the bias, the input rows, the outputs (read and written for the residual). */
    public static long bytesMoved(GgmlBlocks.Layout f, Epilogue e, int M, int K, int N, boolean hasBias) {
        long outBytes = 4L * M * N * (e == Epilogue.BIAS_RESIDUAL ? 2 : 1);
        return weightBytes(f, K, N) + (hasBias ? 4L * N : 0) + 4L * M * K + outBytes;
    }
}
