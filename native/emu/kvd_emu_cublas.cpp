// The cuBLAS subset kvdecode uses, on the host, compiled against NVIDIA's cublas_api.h when the
// build could fetch it (so the compiler proves the signatures), with the contract of the cuBLAS
// documentation ("cublasGemmEx", "cublasGemmStridedBatchedEx", cuBLAS 13 library guide):
//   C = alpha * op(A) * op(B) + beta * C, column-major; op(A) is m x k, op(B) k x n, C m x n;
//   A is lda x (transa == N ? k : m) with lda >= max(1, transa == N ? m : k), likewise
//   ldb >= max(1, transb == N ? k : n), ldc >= max(1, m); m, n, k < 0 or a short leading
//   dimension -> CUBLAS_STATUS_INVALID_VALUE; an unsupported Atype/Btype/Ctype/computeType
//   combination -> CUBLAS_STATUS_NOT_SUPPORTED; when beta == 0, C is not read (it may hold NaN).
// alpha and beta point to floats for the CUBLAS_COMPUTE_32F family (host pointer mode).
// Stricter than cuBLAS: the elements each matrix spans (leading dimensions and batch strides
// included) must lie inside one live device allocation, else the call fails naming the matrix.
// Products are accumulated in double (at least the fp32 the contract asks), so the emulator's
// rounding error is far below the CPU reference's; cuBLAS's own numerics need a real GPU.
#include "kvd_emu_internal.h"

#if __has_include(<cublas_api.h>)
#include <cublas_api.h>
#else
#include "cublas_fallback.h"
#endif

#include <algorithm>
#include <set>

namespace kvd {

struct GemmCall {
    std::string what;
    cublasOperation_t ta, tb;
    int m, n, k;
    float alpha, beta;
    uint64_t A, B, C;
    cudaDataType at, bt, ct;
    int lda, ldb, ldc;
    long long strideA, strideB, strideC;
    int batch;
};

namespace {

struct Handle {
    CUstream stream = nullptr;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
    cublasPointerMode_t pointerMode = CUBLAS_POINTER_MODE_HOST;
};
std::set<Handle*>& handles() {
    static std::set<Handle*>* h = new std::set<Handle*>();
    return *h;
}
Handle* live(cublasHandle_t h) {
    Handle* p = reinterpret_cast<Handle*>(h);
    return handles().count(p) ? p : nullptr;
}

size_t elem_bytes(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }

float load(const unsigned char* base, cudaDataType t, size_t i) {
    switch (t) {
        case CUDA_R_32F: { float v; std::memcpy(&v, base + 4 * i, 4); return v; }
        case CUDA_R_16F: { __half v; std::memcpy(&v, base + 2 * i, 2); return __half2float(v); }
        default: { __nv_bfloat16 v; std::memcpy(&v, base + 2 * i, 2); return __bfloat162float(v); }
    }
}
void store(unsigned char* base, cudaDataType t, size_t i, float x) {
    switch (t) {
        case CUDA_R_32F: std::memcpy(base + 4 * i, &x, 4); break;
        case CUDA_R_16F: { __half v = __float2half_rn(x); std::memcpy(base + 2 * i, &v, 2); break; }
        default: { __nv_bfloat16 v = __float2bfloat16_rn(x); std::memcpy(base + 2 * i, &v, 2); break; }
    }
}

// Elements spanned by a column-major rows x cols matrix with leading dimension ld, over all batches.
size_t span_elems(int rows, int cols, int ld, long long stride, int batch) {
    if (rows == 0 || cols == 0 || batch == 0) return 0;
    return (size_t)ld * (cols - 1) + rows + (size_t)stride * (batch - 1);
}

// Which device allocation problem a matrix has, as a message, or "".
std::string check_matrix(const GemmCall& g, const char* name, uint64_t p, cudaDataType t, int rows, int cols, int ld,
                         long long stride) {
    const size_t n = span_elems(rows, cols, ld, stride, g.batch);
    if (n == 0) return "";
    const size_t bytes = n * elem_bytes(t);
    if (heap_find(p, bytes)) return "";
    const Allocation* a = heap_find(p, 0);
    if (!a)
        return format("%s: %s (0x%llx) does not point into a live device allocation", g.what.c_str(), name,
                      (unsigned long long)p);
    return format("%s: %s (%dx%d, ld=%d%s) spans %zu bytes from 0x%llx, past the end of its %zu-byte allocation "
                  "(%zu bytes left): wrong leading dimension, stride or shape?", g.what.c_str(), name, rows, cols, ld,
                  g.batch > 1 ? format(", stride=%lld, batch=%d", stride, g.batch).c_str() : "", bytes,
                  (unsigned long long)p, a->sizeBytes, (size_t)(a->base + a->sizeBytes - p));
}

std::string check_extents(const GemmCall& g) {
    const int ar = g.ta == CUBLAS_OP_N ? g.m : g.k, ac = g.ta == CUBLAS_OP_N ? g.k : g.m;
    const int br = g.tb == CUBLAS_OP_N ? g.k : g.n, bc = g.tb == CUBLAS_OP_N ? g.n : g.k;
    std::string e;
    if (g.alpha != 0.0f && g.k > 0) {
        e = check_matrix(g, "A", g.A, g.at, ar, ac, g.lda, g.strideA);
        if (e.empty()) e = check_matrix(g, "B", g.B, g.bt, br, bc, g.ldb, g.strideB);
    }
    if (e.empty()) e = check_matrix(g, "C", g.C, g.ct, g.m, g.n, g.ldc, g.strideC);
    return e;
}

// C (m x n, ldc) = alpha * At Bt^T + beta * C, where At is op(A) packed row-major m x k and Bt is
// op(B)^T packed row-major n x k, so every dot product runs over two contiguous rows.
void gemm_packed(const float* At, const float* Bt, int m, int n, int k, float alpha, float beta, unsigned char* C,
                 cudaDataType ct, int ldc) {
    auto finish = [&](int i, int j, double acc) {
        const size_t idx = (size_t)i + (size_t)j * ldc;
        double v = (double)alpha * acc;
        if (beta != 0.0f) v += (double)beta * load(C, ct, idx);  // beta == 0: C is not read
        store(C, ct, idx, (float)v);
    };
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float* a0 = At + (size_t)i * k;
        const float *a1 = a0 + k, *a2 = a1 + k, *a3 = a2 + k;
        int j = 0;
        for (; j + 2 <= n; j += 2) {
            const float* b0 = Bt + (size_t)j * k;
            const float* b1 = b0 + k;
            double c00 = 0, c10 = 0, c20 = 0, c30 = 0, c01 = 0, c11 = 0, c21 = 0, c31 = 0;
            for (int p = 0; p < k; p++) {
                const double x0 = b0[p], x1 = b1[p];
                c00 += a0[p] * x0; c10 += a1[p] * x0; c20 += a2[p] * x0; c30 += a3[p] * x0;
                c01 += a0[p] * x1; c11 += a1[p] * x1; c21 += a2[p] * x1; c31 += a3[p] * x1;
            }
            finish(i, j, c00); finish(i + 1, j, c10); finish(i + 2, j, c20); finish(i + 3, j, c30);
            finish(i, j + 1, c01); finish(i + 1, j + 1, c11); finish(i + 2, j + 1, c21); finish(i + 3, j + 1, c31);
        }
        for (; j < n; j++) {
            const float* b0 = Bt + (size_t)j * k;
            double c0 = 0, c1 = 0, c2 = 0, c3 = 0;
            for (int p = 0; p < k; p++) {
                const double x = b0[p];
                c0 += a0[p] * x; c1 += a1[p] * x; c2 += a2[p] * x; c3 += a3[p] * x;
            }
            finish(i, j, c0); finish(i + 1, j, c1); finish(i + 2, j, c2); finish(i + 3, j, c3);
        }
    }
    for (; i < m; i++) {
        const float* a0 = At + (size_t)i * k;
        for (int j = 0; j < n; j++) {
            const float* b0 = Bt + (size_t)j * k;
            double c = 0;
            for (int p = 0; p < k; p++) c += (double)a0[p] * b0[p];
            finish(i, j, c);
        }
    }
}

}  // namespace

CUresult run_gemm_inner(const GemmCall& g);

CUresult run_gemm(const GemmCall& g) {
    const double t0 = profiling() ? now_ms_raw() : 0;
    const CUresult r = run_gemm_inner(g);
    if (profiling()) profile_add(g.what.c_str(), "run", now_ms_raw() - t0);
    return r;
}

CUresult run_gemm_inner(const GemmCall& g) {
    const std::string e = check_extents(g);
    if (!e.empty()) return fail(CUDA_ERROR_ILLEGAL_ADDRESS, "%s (when it ran)", e.c_str());
    // NaN check on C, as after a kernel.
    std::vector<unsigned char> before;
    const size_t cBytes = span_elems(g.m, g.n, g.ldc, g.strideC, g.batch) * elem_bytes(g.ct);
    if (nan_check_enabled() && cBytes <= (size_t(64) << 20)) {
        const unsigned char* h = static_cast<const unsigned char*>(heap_host(g.C));
        before.assign(h, h + cBytes);
    }
    std::vector<float> At((size_t)g.m * g.k), Bt((size_t)g.n * g.k);
    const bool useAB = g.alpha != 0.0f && g.k > 0;
    for (int b = 0; b < g.batch; b++) {
        unsigned char* C = static_cast<unsigned char*>(heap_host(g.C)) + (size_t)g.strideC * b * elem_bytes(g.ct);
        if (useAB) {
            const unsigned char* A = static_cast<const unsigned char*>(heap_host(g.A)) + (size_t)g.strideA * b * elem_bytes(g.at);
            const unsigned char* B = static_cast<const unsigned char*>(heap_host(g.B)) + (size_t)g.strideB * b * elem_bytes(g.bt);
            // op(A)(i,p) = A[i + p*lda] (N) or A[p + i*lda] (T); op(B)(p,j) = B[p + j*ldb] (N) or B[j + p*ldb] (T).
            for (int i = 0; i < g.m; i++)
                for (int p = 0; p < g.k; p++)
                    At[(size_t)i * g.k + p] = load(A, g.at, g.ta == CUBLAS_OP_N ? (size_t)i + (size_t)p * g.lda
                                                                                  : (size_t)p + (size_t)i * g.lda);
            for (int j = 0; j < g.n; j++)
                for (int p = 0; p < g.k; p++)
                    Bt[(size_t)j * g.k + p] = load(B, g.bt, g.tb == CUBLAS_OP_N ? (size_t)p + (size_t)j * g.ldb
                                                                                  : (size_t)j + (size_t)p * g.ldb);
            gemm_packed(At.data(), Bt.data(), g.m, g.n, g.k, g.alpha, g.beta, C, g.ct, g.ldc);
        } else {
            for (int j = 0; j < g.n; j++)
                for (int i = 0; i < g.m; i++) {
                    const size_t idx = (size_t)i + (size_t)j * g.ldc;
                    store(C, g.ct, idx, g.beta == 0.0f ? 0.0f : (float)((double)g.beta * load(C, g.ct, idx)));
                }
        }
    }
    const std::string guard = heap_check_guards();
    if (!guard.empty()) return fail(CUDA_ERROR_ILLEGAL_ADDRESS, "%s: %s", g.what.c_str(), guard.c_str());
    if (!before.empty()) {
        const int kind = g.ct == CUDA_R_32F ? 1 : g.ct == CUDA_R_16F ? 2 : 3;
        const long long e = first_new_nan(before.data(), static_cast<const unsigned char*>(heap_host(g.C)), cBytes, kind);
        if (e >= 0)
            return fail(CUDA_ERROR_LAUNCH_FAILED, "%s (m=%d, n=%d, k=%d) wrote NaN to C element %lld: A or B holds a "
                        "poisoned (never written) element or a NaN", g.what.c_str(), g.m, g.n, g.k, e);
    }
    return CUDA_SUCCESS;
}

}  // namespace kvd

using namespace kvd;

namespace {

bool op_ok(cublasOperation_t t) { return t == CUBLAS_OP_N || t == CUBLAS_OP_T || t == CUBLAS_OP_C; }

cublasStatus_t gemm(const char* what, cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                    int n, int k, const void* alpha, const void* A, cudaDataType Atype, int lda, long long strideA,
                    const void* B, cudaDataType Btype, int ldb, long long strideB, const void* beta, void* C,
                    cudaDataType Ctype, int ldc, long long strideC, int batchCount, cublasComputeType_t computeType) {
    std::lock_guard<std::recursive_mutex> lock(api_lock());
    Handle* h = live(handle);
    if (!h) { fail(CUDA_ERROR_INVALID_HANDLE, "%s: invalid cuBLAS handle", what); return CUBLAS_STATUS_NOT_INITIALIZED; }
    if (check_context() != CUDA_SUCCESS) return CUBLAS_STATUS_NOT_INITIALIZED;
    auto invalid = [&](const std::string& why) {
        fail(CUDA_ERROR_INVALID_VALUE, "%s: %s", what, why.c_str());
        return CUBLAS_STATUS_INVALID_VALUE;
    };
    if (m < 0 || n < 0 || k < 0 || batchCount < 0)
        return invalid(format("negative size (m=%d, n=%d, k=%d, batchCount=%d)", m, n, k, batchCount));
    if (!op_ok(transa) || !op_ok(transb)) return invalid("transa/transb must be CUBLAS_OP_N, _T or _C");
    const int minLda = std::max(1, transa == CUBLAS_OP_N ? m : k);
    const int minLdb = std::max(1, transb == CUBLAS_OP_N ? k : n);
    if (lda < minLda) return invalid(format("lda=%d < %d (transa=%s, m=%d, k=%d)", lda, minLda, transa == CUBLAS_OP_N ? "N" : "T", m, k));
    if (ldb < minLdb) return invalid(format("ldb=%d < %d (transb=%s, k=%d, n=%d)", ldb, minLdb, transb == CUBLAS_OP_N ? "N" : "T", k, n));
    if (ldc < std::max(1, m)) return invalid(format("ldc=%d < max(1, m=%d)", ldc, m));
    if (!alpha || !beta) return invalid("alpha and beta must not be null");
    if (h->pointerMode != CUBLAS_POINTER_MODE_HOST) {
        fail(CUDA_ERROR_NOT_SUPPORTED, "%s: the emulator supports only CUBLAS_POINTER_MODE_HOST", what);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    const bool computeOk = computeType == CUBLAS_COMPUTE_32F || computeType == CUBLAS_COMPUTE_32F_PEDANTIC ||
                           computeType == CUBLAS_COMPUTE_32F_FAST_16F || computeType == CUBLAS_COMPUTE_32F_FAST_16BF ||
                           computeType == CUBLAS_COMPUTE_32F_FAST_TF32;
    const bool typesOk = Atype == Btype &&
                         ((Atype == CUDA_R_32F && Ctype == CUDA_R_32F) ||
                          (Atype == CUDA_R_16F && (Ctype == CUDA_R_16F || Ctype == CUDA_R_32F)) ||
                          (Atype == CUDA_R_16BF && (Ctype == CUDA_R_16BF || Ctype == CUDA_R_32F)));
    if (!computeOk || !typesOk) {
        fail(CUDA_ERROR_NOT_SUPPORTED, "%s: unsupported combination Atype=%d Btype=%d Ctype=%d computeType=%d (the "
             "emulator implements fp32 compute with fp32/fp16/bf16 inputs)", what, (int)Atype, (int)Btype, (int)Ctype,
             (int)computeType);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    auto g = std::make_shared<GemmCall>();
    g->what = what;
    g->ta = transa; g->tb = transb;
    g->m = m; g->n = n; g->k = k;
    std::memcpy(&g->alpha, alpha, 4);  // host pointer mode: read at the call
    std::memcpy(&g->beta, beta, 4);
    g->A = reinterpret_cast<uint64_t>(A); g->B = reinterpret_cast<uint64_t>(B); g->C = reinterpret_cast<uint64_t>(C);
    g->at = Atype; g->bt = Btype; g->ct = Ctype;
    g->lda = lda; g->ldb = ldb; g->ldc = ldc;
    g->strideA = strideA; g->strideB = strideB; g->strideC = strideC;
    g->batch = batchCount;
    if (m == 0 || n == 0 || batchCount == 0) return CUBLAS_STATUS_SUCCESS;
    if (strideA < 0 || strideB < 0 || strideC < 0) return invalid("negative batch stride");
    const std::string e = check_extents(*g);
    if (!e.empty()) {
        fail(CUDA_ERROR_INVALID_VALUE, "%s", e.c_str());
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    CUresult err;
    Stream* s = resolve_stream(h->stream, &err);
    if (!s) { fail(err, "%s: the handle's stream is no longer valid", what); return CUBLAS_STATUS_EXECUTION_FAILED; }
    Op op;
    op.kind = Op::GEMM;
    op.gemm = g;
    op.what = what;
    const CUresult r = submit(s, std::move(op));
    return r == CUDA_SUCCESS ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace

extern "C" {

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
    std::lock_guard<std::recursive_mutex> lock(api_lock());
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    if (check_context() != CUDA_SUCCESS) return CUBLAS_STATUS_NOT_INITIALIZED;
    Handle* h = new Handle();
    handles().insert(h);
    *handle = reinterpret_cast<cublasHandle_t>(h);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
    std::lock_guard<std::recursive_mutex> lock(api_lock());
    Handle* h = live(handle);
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    handles().erase(h);
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetVersion_v2(cublasHandle_t handle, int* version) {
    (void)handle;
    if (!version) return CUBLAS_STATUS_INVALID_VALUE;
    *version = 130101;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId) {
    std::lock_guard<std::recursive_mutex> lock(api_lock());
    Handle* h = live(handle);
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    CUresult err;
    if (!resolve_stream(reinterpret_cast<CUstream>(streamId), &err)) return CUBLAS_STATUS_INVALID_VALUE;
    h->stream = reinterpret_cast<CUstream>(streamId);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetStream_v2(cublasHandle_t handle, cudaStream_t* streamId) {
    std::lock_guard<std::recursive_mutex> lock(api_lock());
    Handle* h = live(handle);
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!streamId) return CUBLAS_STATUS_INVALID_VALUE;
    *streamId = reinterpret_cast<cudaStream_t>(h->stream);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t workspaceSizeInBytes) {
    std::lock_guard<std::recursive_mutex> lock(api_lock());
    if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (workspaceSizeInBytes > 0 && !heap_find(reinterpret_cast<uint64_t>(workspace), workspaceSizeInBytes))
        return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;  // the host GEMM needs no workspace
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    std::lock_guard<std::recursive_mutex> lock(api_lock());
    Handle* h = live(handle);
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->math = mode;  // every mode computes the same here: fp32 inputs are never rounded to TF32
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
    std::lock_guard<std::recursive_mutex> lock(api_lock());
    Handle* h = live(handle);
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = h->math;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
    std::lock_guard<std::recursive_mutex> lock(api_lock());
    Handle* h = live(handle);
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
    h->pointerMode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

const char* CUBLASWINAPI cublasGetStatusName(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

const char* CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "success";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
        case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
        default: return cublasGetStatusName(status);
    }
}

cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                                         int lda, const void* B, cudaDataType Btype, int ldb, const void* beta,
                                         void* C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                                         cublasGemmAlgo_t algo) {
    (void)algo;
    return gemm("cublasGemmEx", handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C,
                Ctype, ldc, 0, 1, computeType);
}

cublasStatus_t CUBLASWINAPI cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                                       cublasOperation_t transb, int m, int n, int k, const void* alpha,
                                                       const void* A, cudaDataType Atype, int lda, long long int strideA,
                                                       const void* B, cudaDataType Btype, int ldb, long long int strideB,
                                                       const void* beta, void* C, cudaDataType Ctype, int ldc,
                                                       long long int strideC, int batchCount,
                                                       cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
    (void)algo;
    return gemm("cublasGemmStridedBatchedEx", handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype,
                ldb, strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType);
}

cublasStatus_t CUBLASWINAPI cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                           int m, int n, int k, const float* alpha, const float* A, int lda,
                                           const float* B, int ldb, const float* beta, float* C, int ldc) {
    return gemm("cublasSgemm_v2", handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, 0, B, CUDA_R_32F, ldb,
                0, beta, C, CUDA_R_32F, ldc, 0, 1, CUBLAS_COMPUTE_32F);
}

}  // extern "C"
