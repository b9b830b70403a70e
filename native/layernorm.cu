// Layer normalization (Ba et al. 2016) over the last dimension, as GPT-2 uses it, and the fused
// residual add + LayerNorm that follows each attention/MLP projection.
// CPU twin: dev.kvdecode.kernels.LayerNorm (two passes: mean, then mean of squared deviations —
// not E[x^2]-E[x]^2, which cancels when |mean| >> std). eps is added to the variance inside the
// square root, as PyTorch does (GPT-2: 1e-5). fp32 accumulation; one block per row, the row is
// read three times (sum, deviations, output) and stays in L1/L2 between passes.
#include "kvd_cuda.h"

namespace kvd_layernorm {

template <class T>
__device__ void normalize_row(const float* __restrict__ x, const T* __restrict__ gamma,
                              const T* __restrict__ beta, T* __restrict__ out, int C, float eps) {
    __shared__ float scratch[32];
    float sum = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) sum += x[c];
    const float mean = kvd_block_sum(sum, scratch) / C;
    float sq = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float d = x[c] - mean;
        sq += d * d;
    }
    const float rstd = 1.0f / sqrtf(kvd_block_sum(sq, scratch) / C + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        out[c] = kvd_from_float<T>((x[c] - mean) * rstd * kvd_to_float(gamma[c]) + kvd_to_float(beta[c]));
}

template <class T>
__device__ void layernorm(const float* x, const T* gamma, const T* beta, T* out, int N, int C, float eps) {
    const int row = blockIdx.x;
    if (row >= N) return;
    normalize_row(x + (size_t)row * C, gamma, beta, out + (size_t)row * C, C, eps);
}

// resid += y + ybias, then out = LN(resid). Each thread rewrites only the elements it reads, and
// the block barrier inside the first reduction orders those writes before the other passes.
template <class T>
__device__ void residual_layernorm(float* resid, const float* y, const T* ybias, const T* gamma, const T* beta,
                                   T* out, int N, int C, float eps) {
    const int row = blockIdx.x;
    if (row >= N) return;
    float* r = resid + (size_t)row * C;
    const float* yr = y + (size_t)row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) r[c] = r[c] + (yr[c] + kvd_bias(ybias, c));
    __syncthreads();
    normalize_row(r, gamma, beta, out + (size_t)row * C, C, eps);
}

}  // namespace kvd_layernorm

// grid (N), block 256.
// x (N,C) f32, gamma,beta (C) T -> out (N,C) T
#define KVD_LAYERNORM(SUF, T)                                                                       \
    extern "C" __global__ void layernorm_##SUF(const float* x, const T* gamma, const T* beta, T* out, \
                                               int N, int C, float eps) {                          \
        kvd_layernorm::layernorm<T>(x, gamma, beta, out, N, C, eps);                               \
    }
// x (N,C) f32, gamma,beta (C) f32 -> out (N,C) f32
KVD_LAYERNORM(f32, float)
// x (N,C) f32, gamma,beta (C) f16 -> out (N,C) f16
KVD_LAYERNORM(f16, __half)
// x (N,C) f32, gamma,beta (C) bf16 -> out (N,C) bf16
KVD_LAYERNORM(bf16, __nv_bfloat16)

// Fused residual add + LayerNorm: resid = resid + (y + ybias); out = LN(resid). ybias may be null.
// grid (N), block 256.
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
