package dev.kvdecode.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A cuBLAS handle (cublasCreate_v2) and the GEMM forms the runtime uses.
 *
 * <p>cuBLAS is column-major. Our tensors are row-major, and a row-major (R, C) matrix is,
 * read column-major, its (C, R) transpose. So row-major {@code out(M,N) = x(M,K) · w(K,N)}
 * is column-major {@code out^T(N,M) = w^T(N,K) · x^T(K,M)}: {@link #matmulRowMajor} calls
 * cublasGemmEx with m=N, n=M, k=K, A=w (lda=N), B=x (ldb=K), C=out (ldc=N), no transposes.
 *
 * <p>Accumulation is always fp32 (CUBLAS_COMPUTE_32F): inputs may be fp16/bf16 but products
 * and sums are fp32. The handle stays in CUBLAS_DEFAULT_MATH, where CUBLAS_COMPUTE_32F never
 * rounds fp32 inputs to TF32 (that takes CUBLAS_COMPUTE_32F_FAST_TF32 or the TF32 math mode),
 * so fp32 GEMMs match the CPU's fp32 within summation-order error.
 */
public final class CublasHandle implements AutoCloseable {
    public static final int CUBLAS_OP_N = 0;
    public static final int CUBLAS_OP_T = 1;
    public static final int CUDA_R_32F = 0;
    public static final int CUDA_R_16F = 2;
    public static final int CUDA_R_16BF = 14;
    public static final int CUBLAS_COMPUTE_32F = 68;
    public static final int CUBLAS_COMPUTE_32F_PEDANTIC = 69;
    public static final int CUBLAS_GEMM_DEFAULT = -1;
    public static final int CUBLAS_DEFAULT_MATH = 0;
    public static final int CUBLAS_PEDANTIC_MATH = 2;

    private final Cublas cublas;
    private final MemorySegment handle;
    // alpha and beta live here: host pointer mode reads them when the call is made (or captured).
    private final Arena scalarsArena = Arena.ofShared();
    private final MemorySegment alpha = scalarsArena.allocate(ValueLayout.JAVA_FLOAT);
    private final MemorySegment beta = scalarsArena.allocate(ValueLayout.JAVA_FLOAT);
    private boolean closed;

    private CublasHandle(Cublas cublas, MemorySegment handle) {
        this.cublas = cublas;
        this.handle = handle;
    }

    /** Creates a handle in CUBLAS_DEFAULT_MATH (no TF32 for fp32 inputs). */
    public static CublasHandle create(Cublas cublas) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            cublas.cublasCreate_v2(out);
            CublasHandle h = new CublasHandle(cublas, out.get(ValueLayout.ADDRESS, 0));
            try {
                cublas.cublasSetMathMode(h.handle, CUBLAS_DEFAULT_MATH);
            } catch (RuntimeException e) {
                h.close();
                throw e;
            }
            return h;
        }
    }

    public Cublas cublas() { return cublas; }

    public MemorySegment handle() {
        if (closed) throw new IllegalStateException("cuBLAS handle used after close");
        return handle;
    }

    /** Queues this handle's work on {@code stream}. */
    public void setStream(CudaStream stream) { cublas.cublasSetStream_v2(handle(), stream.handle()); }

    /**
     * Gives cuBLAS a workspace of ours so it allocates nothing during graph capture (NVIDIA's
     * cuBLAS docs, "CUDA Graphs support"). The buffer must outlive the handle's use.
     */
    public void setWorkspace(DeviceBuffer workspace) {
        cublas.cublasSetWorkspace_v2(handle(), MemorySegment.ofAddress(workspace.address()), workspace.sizeBytes());
    }

    /**
     * Row-major {@code out(M,N) = alpha * x(M,K) · w(K,N) + beta * out}, every matrix dense
     * (leading dimension = its row length), all of dtype {@code dataType} (CUDA_R_*), fp32 accumulation.
     * See the class comment for the column-major mapping.
     */
    public void matmulRowMajor(int m, int n, int k, float alphaValue,
                               long x, long w, float betaValue, long out, int dataType) {
        gemmEx(CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, alphaValue,
                w, dataType, n, x, dataType, k, betaValue, out, dataType, n);
    }

    /** cublasGemmEx with host-side alpha/beta and CUBLAS_COMPUTE_32F (column-major arguments). */
    public void gemmEx(int transa, int transb, int m, int n, int k, float alphaValue,
                       long a, int aType, int lda, long b, int bType, int ldb,
                       float betaValue, long c, int cType, int ldc) {
        alpha.set(ValueLayout.JAVA_FLOAT, 0, alphaValue);
        beta.set(ValueLayout.JAVA_FLOAT, 0, betaValue);
        cublas.cublasGemmEx(handle(), transa, transb, m, n, k, alpha,
                MemorySegment.ofAddress(a), aType, lda, MemorySegment.ofAddress(b), bType, ldb, beta,
                MemorySegment.ofAddress(c), cType, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    }

    /** cublasGemmStridedBatchedEx with host-side alpha/beta and fp32 accumulation (column-major arguments). */
    public void gemmStridedBatchedEx(int transa, int transb, int m, int n, int k, float alphaValue,
                                     long a, int aType, int lda, long strideA,
                                     long b, int bType, int ldb, long strideB,
                                     float betaValue, long c, int cType, int ldc, long strideC, int batchCount) {
        alpha.set(ValueLayout.JAVA_FLOAT, 0, alphaValue);
        beta.set(ValueLayout.JAVA_FLOAT, 0, betaValue);
        cublas.cublasGemmStridedBatchedEx(handle(), transa, transb, m, n, k, alpha,
                MemorySegment.ofAddress(a), aType, lda, strideA, MemorySegment.ofAddress(b), bType, ldb, strideB, beta,
                MemorySegment.ofAddress(c), cType, ldc, strideC, batchCount, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            cublas.cublasDestroy_v2(handle);
        } finally {
            scalarsArena.close();
        }
    }
}
