package dev.kvdecode.bindings;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * The cuBLAS subset kvdecode uses (cublas_api.h from the nvidia-cublas 13 wheel), in the same
 * style as {@link CudaDriver}: one holder per C function with the exported symbol (the
 * {@code _v2} names cublas_v2.h maps the API to), the quoted prototype and the descriptor.
 *
 * <p>cuBLAS is column-major: a row-major (M, N) matrix is, to cuBLAS, its (N, M) transpose.
 * {@link CublasHandle} wraps the calls in the row-major form the runtime uses.
 */
@SuppressWarnings("unused")
public final class Cublas {

    // ---- one holder per C function: symbol, quoted prototype, descriptor (checked by PrototypeCheck) ----

    /**
     * Creates a cuBLAS handle; cublas_v2.h maps cublasCreate here.
     * {@snippet lang=c :
     * cublasStatus_t cublasCreate_v2(cublasHandle_t *handle);
     * }
     */
    public static final class cublasCreate_v2 {
        private cublasCreate_v2() {}
        public static final NativeFunction FN = new NativeFunction("cublasCreate_v2",
                "cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * Destroys a handle; cublas_v2.h maps cublasDestroy here.
     * {@snippet lang=c :
     * cublasStatus_t cublasDestroy_v2(cublasHandle_t handle);
     * }
     */
    public static final class cublasDestroy_v2 {
        private cublasDestroy_v2() {}
        public static final NativeFunction FN = new NativeFunction("cublasDestroy_v2",
                "cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * The cuBLAS version, e.g. 130101.
     * {@snippet lang=c :
     * cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version);
     * }
     */
    public static final class cublasGetVersion_v2 {
        private cublasGetVersion_v2() {}
        public static final NativeFunction FN = new NativeFunction("cublasGetVersion_v2",
                "cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    /**
     * Makes the handle queue its work on a stream.
     * {@snippet lang=c :
     * cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId);
     * }
     */
    public static final class cublasSetStream_v2 {
        private cublasSetStream_v2() {}
        public static final NativeFunction FN = new NativeFunction("cublasSetStream_v2",
                "cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    /**
     * Gives the handle a workspace of ours, so GEMMs allocate nothing while a graph is captured.
     * {@snippet lang=c :
     * cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t workspaceSizeInBytes);
     * }
     */
    public static final class cublasSetWorkspace_v2 {
        private cublasSetWorkspace_v2() {}
        public static final NativeFunction FN = new NativeFunction("cublasSetWorkspace_v2",
                "cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t workspaceSizeInBytes)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    }
    /**
     * Math mode (we use CUBLAS_PEDANTIC_MATH / CUBLAS_DEFAULT_MATH: no TF32 for fp32 inputs).
     * {@snippet lang=c :
     * cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
     * }
     */
    public static final class cublasSetMathMode {
        private cublasSetMathMode() {}
        public static final NativeFunction FN = new NativeFunction("cublasSetMathMode",
                "cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    /**
     * C = alpha op(A) op(B) + beta C, column-major, mixed types.
     * {@snippet lang=c :
     * cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B, cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo);
     * }
     */
    public static final class cublasGemmEx {
        private cublasGemmEx() {}
        public static final NativeFunction FN = new NativeFunction("cublasGemmEx",
                "cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B, cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    }
    /**
     * batchCount GEMMs whose operands are strideX elements apart.
     * {@snippet lang=c :
     * cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda, long long int strideA, const void *B, cudaDataType Btype, int ldb, long long int strideB, const void *beta, void *C, cudaDataType Ctype, int ldc, long long int strideC, int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo);
     * }
     */
    public static final class cublasGemmStridedBatchedEx {
        private cublasGemmStridedBatchedEx() {}
        public static final NativeFunction FN = new NativeFunction("cublasGemmStridedBatchedEx",
                "cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda, long long int strideA, const void *B, cudaDataType Btype, int ldb, long long int strideB, const void *beta, void *C, cudaDataType Ctype, int ldc, long long int strideC, int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT));
    }

    /** Every function this class binds, in header order (read by PrototypeCheck and gen-bindings.sh). */
    public static final List<NativeFunction> FUNCTIONS = List.of(
            cublasCreate_v2.FN,
            cublasDestroy_v2.FN,
            cublasGetVersion_v2.FN,
            cublasSetStream_v2.FN,
            cublasSetWorkspace_v2.FN,
            cublasSetMathMode.FN,
            cublasGemmEx.FN,
            cublasGemmStridedBatchedEx.FN);

    // ---- the handles, bound to one library ----

    private final String libraryLabel;
    private final java.util.Map<String, NativeFunction.Bound> bound = new java.util.LinkedHashMap<>();
    private final MethodHandle cublasCreate_v2$mh;
    private final MethodHandle cublasDestroy_v2$mh;
    private final MethodHandle cublasGetVersion_v2$mh;
    private final MethodHandle cublasSetStream_v2$mh;
    private final MethodHandle cublasSetWorkspace_v2$mh;
    private final MethodHandle cublasSetMathMode$mh;
    private final MethodHandle cublasGemmEx$mh;
    private final MethodHandle cublasGemmStridedBatchedEx$mh;

    /**
     * Binds every function of {@link #FUNCTIONS} in {@code lookup}. A symbol the library lacks
     * throws {@link UnsatisfiedLinkError} when called, not here.
     *
     * @param libraryLabel where the library came from, for messages (e.g. its path)
     */
    public Cublas(SymbolLookup lookup, String libraryLabel) {
        this.libraryLabel = libraryLabel;
        this.cublasCreate_v2$mh = bind(cublasCreate_v2.FN, lookup, libraryLabel);
        this.cublasDestroy_v2$mh = bind(cublasDestroy_v2.FN, lookup, libraryLabel);
        this.cublasGetVersion_v2$mh = bind(cublasGetVersion_v2.FN, lookup, libraryLabel);
        this.cublasSetStream_v2$mh = bind(cublasSetStream_v2.FN, lookup, libraryLabel);
        this.cublasSetWorkspace_v2$mh = bind(cublasSetWorkspace_v2.FN, lookup, libraryLabel);
        this.cublasSetMathMode$mh = bind(cublasSetMathMode.FN, lookup, libraryLabel);
        this.cublasGemmEx$mh = bind(cublasGemmEx.FN, lookup, libraryLabel);
        this.cublasGemmStridedBatchedEx$mh = bind(cublasGemmStridedBatchedEx.FN, lookup, libraryLabel);

    }

    private MethodHandle bind(NativeFunction fn, SymbolLookup lookup, String label) {
        NativeFunction.Bound b = fn.bind(lookup, label);
        bound.put(fn.name(), b);
        return b.handle();
    }

    /** Where the library came from. */
    public String libraryLabel() { return libraryLabel; }

    /** Whether the library exports {@code symbol} (e.g. cuFuncGetParamInfo needs a 12.4+ driver). */
    public boolean has(String symbol) {
        NativeFunction.Bound b = bound.get(symbol);
        return b != null && b.present();
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    // ---- typed calls: each status goes through CudaCheck ----

    /** {@code cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)}; throws {@link CudaException} unless it succeeds. */
    public void cublasCreate_v2(MemorySegment handle) {
        int status;
        try {
            status = (int) cublasCreate_v2$mh.invokeExact(handle);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.cublas("cublasCreate", status);
    }
    /** {@code cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)}; throws {@link CudaException} unless it succeeds. */
    public void cublasDestroy_v2(MemorySegment handle) {
        int status;
        try {
            status = (int) cublasDestroy_v2$mh.invokeExact(handle);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.cublas("cublasDestroy", status);
    }
    /** {@code cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version)}; throws {@link CudaException} unless it succeeds. */
    public void cublasGetVersion_v2(MemorySegment handle, MemorySegment version) {
        int status;
        try {
            status = (int) cublasGetVersion_v2$mh.invokeExact(handle, version);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.cublas("cublasGetVersion", status);
    }
    /** {@code cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)}; throws {@link CudaException} unless it succeeds. */
    public void cublasSetStream_v2(MemorySegment handle, MemorySegment streamId) {
        int status;
        try {
            status = (int) cublasSetStream_v2$mh.invokeExact(handle, streamId);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.cublas("cublasSetStream", status);
    }
    /** {@code cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t workspaceSizeInBytes)}; throws {@link CudaException} unless it succeeds. */
    public void cublasSetWorkspace_v2(MemorySegment handle, MemorySegment workspace, long workspaceSizeInBytes) {
        int status;
        try {
            status = (int) cublasSetWorkspace_v2$mh.invokeExact(handle, workspace, workspaceSizeInBytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.cublas("cublasSetWorkspace", status);
    }
    /** {@code cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)}; throws {@link CudaException} unless it succeeds. */
    public void cublasSetMathMode(MemorySegment handle, int mode) {
        int status;
        try {
            status = (int) cublasSetMathMode$mh.invokeExact(handle, mode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.cublas("cublasSetMathMode", status);
    }
    /** {@code cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B, cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo)}; throws {@link CudaException} unless it succeeds. */
    public void cublasGemmEx(MemorySegment handle, int transa, int transb, int m, int n, int k, MemorySegment alpha, MemorySegment A, int Atype, int lda, MemorySegment B, int Btype, int ldb, MemorySegment beta, MemorySegment C, int Ctype, int ldc, int computeType, int algo) {
        int status;
        try {
            status = (int) cublasGemmEx$mh.invokeExact(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc, computeType, algo);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.cublas("cublasGemmEx", status);
    }
    /** {@code cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda, long long int strideA, const void *B, cudaDataType Btype, int ldb, long long int strideB, const void *beta, void *C, cudaDataType Ctype, int ldc, long long int strideC, int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo)}; throws {@link CudaException} unless it succeeds. */
    public void cublasGemmStridedBatchedEx(MemorySegment handle, int transa, int transb, int m, int n, int k, MemorySegment alpha, MemorySegment A, int Atype, int lda, long strideA, MemorySegment B, int Btype, int ldb, long strideB, MemorySegment beta, MemorySegment C, int Ctype, int ldc, long strideC, int batchCount, int computeType, int algo) {
        int status;
        try {
            status = (int) cublasGemmStridedBatchedEx$mh.invokeExact(handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType, algo);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.cublas("cublasGemmStridedBatchedEx", status);
    }
}
