// RMSNorm (Zhang & Sennrich 2019) over the last dimension, as the Llama family uses it, and the
// fused residual add + RMSNorm that follows each projection in prefill (the twin of
// residual_layernorm). CPU twin: dev.kvdecode.kernels.RmsNorm (rmsnorm_row.h gives the order of
// operations). One block per row; fp32 sums, the result rounded once to T.
#include "kvd_cuda.h"
#include "rmsnorm_row.h"

namespace kvd_rmsnorm {

template <class T>
__device__ void rmsnorm(const float* x, const T* w, T* out, int N, int C, float eps) {
    const int row = blockIdx.x;
    if (row >= N) return;  // the whole block leaves together
    rms_normalize_row(x + (size_t)row * C, w, out + (size_t)row * C, C, eps);
}

// resid += y + ybias, then out = RMSNorm(resid); thread t owns columns t, t+blockDim, ... in every pass.
template <class T>
__device__ void residual_rmsnorm(float* resid, const float* y, const T* ybias, const T* w, T* out, int N, int C,
                                 float eps) {
    const int row = blockIdx.x;
    if (row >= N) return;
    float* r = resid + (size_t)row * C;
    const float* yr = y + (size_t)row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) r[c] = r[c] + (yr[c] + kvd_bias(ybias, c));
    rms_normalize_row(r, w, out + (size_t)row * C, C, eps);
}

}  // namespace kvd_rmsnorm

// grid (N), block 256 (a multiple of 32, at most 1024): one row per block.
// x (N,C) f32, w (C) T -> out (N,C) T
#define KVD_RMSNORM(SUF, T)                                                                          \
    extern "C" __global__ void rmsnorm_##SUF(const float* x, const T* w, T* out, int N, int C, float eps) { \
        kvd_rmsnorm::rmsnorm<T>(x, w, out, N, C, eps);                                               \
    }
// x (N,C) f32, w (C) f32 -> out (N,C) f32
KVD_RMSNORM(f32, float)
// x (N,C) f32, w (C) f16 -> out (N,C) f16
KVD_RMSNORM(f16, __half)
// x (N,C) f32, w (C) bf16 -> out (N,C) bf16
KVD_RMSNORM(bf16, __nv_bfloat16)

// Fused residual add + RMSNorm: resid = resid + (y + ybias); out = RMSNorm(resid). ybias may be null.
// grid (N), block 256: one row per block.
// resid (N,C) f32 in/out, y (N,C) f32, ybias (C) T or null, w (C) T -> out (N,C) T
#define KVD_RESIDUAL_RMSNORM(SUF, T)                                                                 \
    extern "C" __global__ void residual_rmsnorm_##SUF(float* resid, const float* y, const T* ybias, const T* w, \
                                                      T* out, int N, int C, float eps) {             \
        kvd_rmsnorm::residual_rmsnorm<T>(resid, y, ybias, w, out, N, C, eps);                        \
    }
// resid (N,C) f32 in/out, y (N,C) f32, ybias (C) f32 or null, w (C) f32 -> out (N,C) f32
KVD_RESIDUAL_RMSNORM(f32, float)
// resid (N,C) f32 in/out, y (N,C) f32, ybias (C) f16 or null, w (C) f16 -> out (N,C) f16
KVD_RESIDUAL_RMSNORM(f16, __half)
// resid (N,C) f32 in/out, y (N,C) f32, ybias (C) bf16 or null, w (C) bf16 -> out (N,C) bf16
KVD_RESIDUAL_RMSNORM(bf16, __nv_bfloat16)
