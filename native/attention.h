// Shared by decode_attention.cu and prefill_attention.cu: one query of one head against a range of
// cached keys, scaled dot-product attention (Vaswani et al. 2017, eq. 1) with fp32 accumulation
// and the max-shifted softmax (exp(s - max) never overflows; the shift cancels in the ratio).
// CPU twin: dev.kvdecode.kernels.Attention.attendOne (same logical order of keys).
#pragma once
#include "kvd_cuda.h"

namespace kvd_attention {

// Logical entry j (0 = oldest) of a cache row lives in slot (start + j) mod cap; start = 0 for a
// shifted cache and for prompts, (seen+1) mod cap for a ring that has wrapped. Visiting keys in
// logical order makes RING and SHIFT give the same bits.
__device__ inline int slot_of(int start, int j, int cap) {
    const int s = start + j;
    return s < cap ? s : s - cap;
}

// Scores of logical keys [j0, j1) into sc[0 .. j1-j0): p_j = exp(s_j - m), s_j = (q . k_j) * scale.
// qs: the query (HS floats) in shared memory. Returns m (-inf for an empty range) and sets l = sum p_j.
// One thread per key, the dot product in d order: no warp traffic per key (each thread streams
// its own key row; rows a warp reads together share L1 lines across the d loop).
template <class T>
__device__ float softmax_scores(const float* qs, const T* __restrict__ krow, int start, int j0, int j1, int cap,
                                int HS, float scale, float* sc, float* scratch, float* l_out) {
    for (int j = j0 + (int)threadIdx.x; j < j1; j += blockDim.x) {
        const T* k = krow + (size_t)slot_of(start, j, cap) * HS;
        float dot = 0.0f;
        for (int d = 0; d < HS; d++) dot += qs[d] * kvd_to_float(k[d]);
        sc[j - j0] = dot * scale;
    }
    __syncthreads();
    float m = -INFINITY;
    for (int j = threadIdx.x; j < j1 - j0; j += blockDim.x) m = fmaxf(m, sc[j]);
    m = kvd_block_max(m, scratch);
    float l = 0.0f;
    if (j1 > j0) {
        for (int j = threadIdx.x; j < j1 - j0; j += blockDim.x) {
            const float p = expf(sc[j] - m);
            sc[j] = p;
            l += p;
        }
    }
    *l_out = kvd_block_sum(l, scratch);  // its barriers also publish the p_j written above
    return m;
}

// sum_j p_j v_j[d] for logical keys [j0, j1), in increasing j (deterministic).
template <class T>
__device__ inline float weighted_value(const float* sc, const T* __restrict__ vrow, int start, int j0, int j1,
                                       int cap, int HS, int d) {
    float acc = 0.0f;
    for (int j = j0; j < j1; j++) acc += sc[j - j0] * kvd_to_float(vrow[(size_t)slot_of(start, j, cap) * HS + d]);
    return acc;
}

// Shared-memory layout of the decode kernels: qs (HS floats) | sc (keys), each part padded to a
// multiple of 4 floats (16 bytes). ptxas merges the remainder iterations of the d loop into one
// wide shared load of up to 16 bytes from 16-byte-aligned qs + d; with the padding that load stays
// inside qs (a tight HS + keys let it read past the block's allocation, or into sc while other
// threads write it: compute-sanitizer memcheck and racecheck on an H200 found both).
// Host twin: CudaDecodeAttention.sharedBytes.
__device__ inline int smem_pad4(int n) { return (n + 3) & ~3; }

// Stage the query of one head in shared memory (read by every warp).
__device__ inline void load_query(float* qs, const float* __restrict__ q, int HS) {
    for (int d = threadIdx.x; d < HS; d += blockDim.x) qs[d] = q[d];
    __syncthreads();
}

}  // namespace kvd_attention
