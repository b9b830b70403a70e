// Single-query attention over the KV cache for the decode step (one new token per sequence).
// The valid length is read from device memory (seen[b], before counters_advance): this step's
// entry is already appended, so the cache holds n = min(seen+1, cap) entries, oldest first from
// start = (seen+1) mod cap when a RING has wrapped, else 0 (SHIFT keeps them in order).
// Two forms: one block per (b, h) over the whole row (short contexts), and flash-decoding
// (Dao et al. 2023, "Flash-Decoding for long-context inference"): S blocks per (b, h) each over a
// chunk of the sequence, writing (m, l, unnormalized acc), then a reduce kernel that rescales the
// partials by exp(m_s - M) and divides once.
#include "attention.h"

namespace kvd_decode_attention {
using namespace kvd_attention;

__device__ inline void valid_range(const int* seen, int b, int cap, int policy, int* n, int* start) {
    const int total = seen[b] + 1;
    *n = min(total, cap);
    *start = (policy == KVD_RING && total > cap) ? total % cap : 0;
}

template <class T>
__device__ void decode_attention(const float* q, const T* kc, const T* vc, const int* seen, T* out,
                                 int B, int NH, int HS, int cap, int policy, float scale) {
    extern __shared__ float kvd_smem[];  // qs (HS, padded) | sc (cap, padded)
    __shared__ float scratch[32];
    const int h = blockIdx.x, b = blockIdx.y;
    if (h >= NH || b >= B) return;
    const int C = NH * HS;
    int n, start;
    valid_range(seen, b, cap, policy, &n, &start);
    const size_t row = ((size_t)b * NH + h) * cap * HS;
    float* qs = kvd_smem;
    float* sc = kvd_smem + smem_pad4(HS);
    load_query(qs, q + (size_t)b * C + h * HS, HS);
    float l;
    softmax_scores(qs, kc + row, start, 0, n, cap, HS, scale, sc, scratch, &l);
    for (int d = threadIdx.x; d < HS; d += blockDim.x)
        out[(size_t)b * C + h * HS + d] = kvd_from_float<T>(weighted_value(sc, vc + row, start, 0, n, cap, HS, d) / l);
}

// Partial s covers logical keys [s*chunk, min((s+1)*chunk, n)); part (B,NH,S,HS+2): acc | m | l.
template <class T>
__device__ void decode_attention_split(const float* q, const T* kc, const T* vc, const int* seen, float* part,
                                       int B, int NH, int HS, int cap, int policy, float scale, int chunk) {
    extern __shared__ float kvd_smem[];  // qs (HS, padded) | sc (chunk, padded)
    __shared__ float scratch[32];
    const int s = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int S = gridDim.x;
    if (h >= NH || b >= B) return;
    int n, start;
    valid_range(seen, b, cap, policy, &n, &start);
    const int j0 = min(s * chunk, n), j1 = min(j0 + chunk, n);
    const size_t row = ((size_t)b * NH + h) * cap * HS;
    float* qs = kvd_smem;
    float* sc = kvd_smem + smem_pad4(HS);
    load_query(qs, q + (size_t)b * NH * HS + h * HS, HS);
    float l;
    const float m = softmax_scores(qs, kc + row, start, j0, j1, cap, HS, scale, sc, scratch, &l);
    float* p = part + (((size_t)b * NH + h) * S + s) * (HS + 2);
    for (int d = threadIdx.x; d < HS; d += blockDim.x) p[d] = weighted_value(sc, vc + row, start, j0, j1, cap, HS, d);
    if (threadIdx.x == 0) {
        p[HS] = m;
        p[HS + 1] = l;
    }
}

template <class T>
__device__ void decode_attention_reduce(const float* part, T* out, int B, int NH, int HS, int S) {
    const int h = blockIdx.x, b = blockIdx.y;
    if (h >= NH || b >= B) return;
    const float* p = part + ((size_t)b * NH + h) * S * (HS + 2);
    float M = -INFINITY;
    for (int s = 0; s < S; s++)
        if (p[(size_t)s * (HS + 2) + HS + 1] > 0.0f) M = fmaxf(M, p[(size_t)s * (HS + 2) + HS]);
    float L = 0.0f;
    for (int s = 0; s < S; s++) {
        const float l = p[(size_t)s * (HS + 2) + HS + 1];
        if (l > 0.0f) L += expf(p[(size_t)s * (HS + 2) + HS] - M) * l;
    }
    for (int d = threadIdx.x; d < HS; d += blockDim.x) {
        float acc = 0.0f;
        for (int s = 0; s < S; s++) {
            const float* ps = p + (size_t)s * (HS + 2);
            if (ps[HS + 1] > 0.0f) acc += expf(ps[HS] - M) * ps[d];
        }
        out[(size_t)b * NH * HS + h * HS + d] = kvd_from_float<T>(acc / L);
    }
}

}  // namespace kvd_decode_attention

// One block per (h, b) over all n valid keys. grid (NH, B), block 128,
// dynamic shared memory (HS + cap) * 4 bytes. scale = 1/sqrt(HS).
// q (B,C) f32, kc,vc (B,NH,cap,HS) T, seen (B) int -> out (B,C) T
#define KVD_DECODE_ATTENTION(SUF, T)                                                                   \
    extern "C" __global__ void decode_attention_##SUF(const float* q, const T* kc, const T* vc, const int* seen, \
                                                      T* out, int B, int NH, int HS, int cap, int policy, float scale) { \
        kvd_decode_attention::decode_attention<T>(q, kc, vc, seen, out, B, NH, HS, cap, policy, scale); \
    }
// q (B,C) f32, kc,vc (B,NH,cap,HS) f32, seen (B) int -> out (B,C) f32
KVD_DECODE_ATTENTION(f32, float)
// q (B,C) f32, kc,vc (B,NH,cap,HS) f16, seen (B) int -> out (B,C) f16
KVD_DECODE_ATTENTION(f16, __half)
// q (B,C) f32, kc,vc (B,NH,cap,HS) bf16, seen (B) int -> out (B,C) bf16
KVD_DECODE_ATTENTION(bf16, __nv_bfloat16)

// Flash-decoding pass 1: S = ceil(cap/chunk) blocks per (h, b); blocks past n write l = 0.
// grid (S, NH, B), block 128, dynamic shared memory (HS + chunk) * 4 bytes.
// q (B,C) f32, kc,vc (B,NH,cap,HS) T, seen (B) int -> part (B,NH,S,HS+2) f32 [acc (HS) | m | l]
#define KVD_DECODE_ATTENTION_SPLIT(SUF, T)                                                             \
    extern "C" __global__ void decode_attention_split_##SUF(const float* q, const T* kc, const T* vc, const int* seen, \
                                                            float* part, int B, int NH, int HS, int cap, int policy, \
                                                            float scale, int chunk) {                  \
        kvd_decode_attention::decode_attention_split<T>(q, kc, vc, seen, part, B, NH, HS, cap, policy, scale, chunk); \
    }
// q (B,C) f32, kc,vc (B,NH,cap,HS) f32, seen (B) int -> part (B,NH,S,HS+2) f32
KVD_DECODE_ATTENTION_SPLIT(f32, float)
// q (B,C) f32, kc,vc (B,NH,cap,HS) f16, seen (B) int -> part (B,NH,S,HS+2) f32
KVD_DECODE_ATTENTION_SPLIT(f16, __half)
// q (B,C) f32, kc,vc (B,NH,cap,HS) bf16, seen (B) int -> part (B,NH,S,HS+2) f32
KVD_DECODE_ATTENTION_SPLIT(bf16, __nv_bfloat16)

// Flash-decoding pass 2. grid (NH, B), block 64.
// part (B,NH,S,HS+2) f32 -> out (B,C) T
#define KVD_DECODE_ATTENTION_REDUCE(SUF, T)                                                            \
    extern "C" __global__ void decode_attention_reduce_##SUF(const float* part, T* out, int B, int NH, int HS, int S) { \
        kvd_decode_attention::decode_attention_reduce<T>(part, out, B, NH, HS, S);                     \
    }
// part (B,NH,S,HS+2) f32 -> out (B,C) f32
KVD_DECODE_ATTENTION_REDUCE(f32, float)
// part (B,NH,S,HS+2) f32 -> out (B,C) f16
KVD_DECODE_ATTENTION_REDUCE(f16, __half)
// part (B,NH,S,HS+2) f32 -> out (B,C) bf16
KVD_DECODE_ATTENTION_REDUCE(bf16, __nv_bfloat16)
