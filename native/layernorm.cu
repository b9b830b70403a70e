// Layer normalization (Ba et al. 2016) over the last dimension, as GPT-2 uses it, and the fused
// residual add + LayerNorm that follows each attention/MLP projection.
// CPU twin: dev.kvdecode.kernels.LayerNorm (two passes: mean, then mean of squared deviations —
// not E[x^2]-E[x]^2, which cancels when |mean| >> std). eps is added to the variance inside the
// square root, as PyTorch does (GPT-2: 1e-5). fp32 accumulation; one block per row, the row is
// read three times (sum, deviations, output) and stays in L1/L2 between passes.
#include "kvd_cuda.h"
#include "layernorm_row.h"

namespace kvd_layernorm {

template <class T>
__device__ void layernorm(const float* x, const T* gamma, const T* beta, T* out, int N, int C, float eps) {
    const int row = blockIdx.x;
    if (row >= N) return;  // the whole block leaves together
    normalize_row(x + (size_t)row * C, gamma, beta, out + (size_t)row * C, C, eps);
}

// resid += y + ybias, then out = LN(resid); thread t owns columns t, t+blockDim, ... in every pass.
template <class T>
__device__ void residual_layernorm(float* resid, const float* y, const T* ybias, const T* gamma, const T* beta,
                                   T* out, int N, int C, float eps) {
    const int row = blockIdx.x;
    if (row >= N) return;
    float* r = resid + (size_t)row * C;
    const float* yr = y + (size_t)row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) r[c] = r[c] + (yr[c] + kvd_bias(ybias, c));
    normalize_row(r, gamma, beta, out + (size_t)row * C, C, eps);
}

}  // namespace kvd_layernorm

// grid (N), block 256 (a multiple of 32, at most 1024): one row per block.
// x (N,C) f32, gamma,beta (C) T -> out (N,C) T
#define KVD_LAYERNORM(SUF, T)                                                                       \
    extern "C" __global__ void layernorm_##SUF(const float* x, const T* gamma, const T* beta, T* out, \
                                               int N, int C, float eps) {                          \
        kvd_pdl_wait();                                                                            \
        kvd_layernorm::layernorm<T>(x, gamma, beta, out, N, C, eps);                               \
    }
// x (N,C) f32, gamma,beta (C) f32 -> out (N,C) f32
KVD_LAYERNORM(f32, float)
// x (N,C) f32, gamma,beta (C) f16 -> out (N,C) f16
KVD_LAYERNORM(f16, __half)
// x (N,C) f32, gamma,beta (C) bf16 -> out (N,C) bf16
KVD_LAYERNORM(bf16, __nv_bfloat16)

// Fused residual add + LayerNorm: resid = resid + (y + ybias); out = LN(resid). ybias may be null.
// grid (N), block 256 (a multiple of 32, at most 1024): one row per block.
// resid (N,C) f32 in/out, y (N,C) f32, ybias (C) T, gamma,beta (C) T -> out (N,C) T
#define KVD_RESIDUAL_LAYERNORM(SUF, T)                                                              \
    extern "C" __global__ void residual_layernorm_##SUF(float* resid, const float* y, const T* ybias, \
                                                        const T* gamma, const T* beta, T* out,      \
                                                        int N, int C, float eps) {                  \
        kvd_layernorm::residual_layernorm<T>(resid, y, ybias, gamma, beta, out, N, C, eps);         \
    }
// resid (N,C) f32 in/out, y (N,C) f32, ybias (C) f32, gamma,beta (C) f32 -> out (N,C) f32
KVD_RESIDUAL_LAYERNORM(f32, float)
// resid (N,C) f32 in/out, y (N,C) f32, ybias (C) f16, gamma,beta (C) f16 -> out (N,C) f16
KVD_RESIDUAL_LAYERNORM(f16, __half)
// resid (N,C) f32 in/out, y (N,C) f32, ybias (C) bf16, gamma,beta (C) bf16 -> out (N,C) bf16
KVD_RESIDUAL_LAYERNORM(bf16, __nv_bfloat16)
