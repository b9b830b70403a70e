// One row of LayerNorm (Ba et al. 2016), shared by layernorm.cu (the layernorm kernels) and
// gemv.cu (the gemv_ln_* prologue): one definition, so the fused prologue gives the bits of the
// LayerNorm kernel by construction. Two passes (mean, then mean of squared deviations), eps
// inside the square root, fp32 sums, rounded once to T. CPU twin: dev.kvdecode.kernels.LayerNorm.
#pragma once
#include "kvd_cuda.h"

namespace kvd_layernorm {

// One block per row: the three passes each touch C / blockDim elements per thread (3 for GPT-2's
// 768 on 256 threads), so a decode step's single row is not serialised on one warp (a warp per
// row measured 13 us for layernorm and 25 us for residual_layernorm at C = 768 on an H200, ~10x
// the bytes' worth). Each thread reads back only the elements it wrote itself; the reductions are
// block sums (kvd_block_sum), whose barriers also separate consecutive uses of scratch.
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

}  // namespace kvd_layernorm
