// One row of RMSNorm (Zhang & Sennrich 2019), shared by rmsnorm.cu (the rmsnorm kernels) and
// rope.cu (Qwen3's per-head q/k norm), so every RMSNorm on the device rounds the same way.
// out = w * (x * r), r = 1 / sqrt(mean(x^2) + eps): the mean of squares summed in fp32, eps added
// in fp32, the reciprocal square root taken in double and rounded once to fp32, then x times r,
// then times the weight, as LlamaRMSNorm (and the CPU twin dev.kvdecode.kernels.RmsNorm) orders
// it. No mean is subtracted and there is no bias.
#pragma once
#include "kvd_cuda.h"

namespace kvd_rmsnorm {

// The reciprocal root of one row's mean square, for the whole block (every thread gets it).
// Each thread sums the columns c = threadIdx.x, +blockDim.x, ...; scratch: 32 floats of shared memory.
__device__ inline float rms_scale(const float* __restrict__ x, int C, float eps, float* scratch) {
    float sq = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) sq += x[c] * x[c];
    const float ms = kvd_block_sum(sq, scratch) / C;
    return (float)(1.0 / sqrt((double)(ms + eps)));
}

// One block per row: out (C) T = w * (x * r).
template <class T>
__device__ void rms_normalize_row(const float* __restrict__ x, const T* __restrict__ w, T* __restrict__ out, int C,
                                  float eps) {
    __shared__ float scratch[32];
    const float r = rms_scale(x, C, eps, scratch);
    for (int c = threadIdx.x; c < C; c += blockDim.x) out[c] = kvd_from_float<T>(kvd_to_float(w[c]) * (x[c] * r));
}

}  // namespace kvd_rmsnorm
