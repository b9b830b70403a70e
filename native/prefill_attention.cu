// Causal self-attention over a prompt of T tokens (query t attends to keys 0..t), reading K/V from
// the cache that kv_prefill_append filled (slots 0..T-1, T <= cap). The recompute mode
// (--kv-cache off) runs its whole window through this kernel each step.
// CPU twin: dev.kvdecode.kernels.Attention.causalSelfAttention.
#include "attention.h"

namespace kvd_prefill_attention {
using namespace kvd_attention;

// One warp per query row (t, h, b): a lane per key for the scores (dot product in d order), warp
// shuffles for the max and the sum, lanes over d for the weighted values. No block barriers: a
// warp past the last row just leaves, and each warp owns its slice of shared memory.
template <class T>
__device__ void prefill_attention(const float* q, const T* kc, const T* vc, T* out, int B, int T_, int NH, int HS,
                                  int cap, float scale, int past) {
    extern __shared__ float kvd_smem[];  // per warp: qs (HS) | sc (T)
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const int t = blockIdx.x * nwarps + warp, h = blockIdx.y, b = blockIdx.z;
    if (t >= T_ || h >= NH || b >= B) return;
    const int C = NH * HS;
    const T* krow = kc + ((size_t)b * NH + h) * cap * HS;
    const T* vrow = vc + ((size_t)b * NH + h) * cap * HS;
    float* qs = kvd_smem + (size_t)warp * (HS + past + T_);
    float* sc = qs + HS;
    const float* qt = q + ((size_t)b * T_ + t) * C + h * HS;
    for (int d = lane; d < HS; d += 32) qs[d] = qt[d];
    __syncwarp();
    float m = -INFINITY;
    const int last = past + t;  // the query's own key: keys 0..past+t are visible
    for (int j = lane; j <= last; j += 32) {
        const T* k = krow + (size_t)j * HS;
        float dot = 0.0f;
        for (int d = 0; d < HS; d++) dot += qs[d] * kvd_to_float(k[d]);
        sc[j] = dot * scale;
        m = fmaxf(m, sc[j]);
    }
    m = kvd_warp_max(m);
    float l = 0.0f;
    for (int j = lane; j <= last; j += 32) {
        const float p = expf(sc[j] - m);
        sc[j] = p;
        l += p;
    }
    l = kvd_warp_sum(l);
    __syncwarp();  // every lane reads every p_j below
    for (int d = lane; d < HS; d += 32)
        out[((size_t)b * T_ + t) * C + h * HS + d] = kvd_from_float<T>(weighted_value(sc, vrow, 0, 0, last + 1, cap, HS, d) / l);
}

}  // namespace kvd_prefill_attention

// One warp per (t, h, b), W warps per block. grid (ceil(T/W), NH, B), block 32*W,
// dynamic shared memory W * (HS + T) * 4 bytes.
// scale = 1/sqrt(HS). Requires T <= cap.
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) T -> out (B,T,C) T
#define KVD_PREFILL_ATTENTION(SUF, T)                                                                  \
    extern "C" __global__ void prefill_attention_##SUF(const float* q, const T* kc, const T* vc, T* out, int B, int T_, \
                                                       int NH, int HS, int cap, float scale) {         \
        kvd_prefill_attention::prefill_attention<T>(q, kc, vc, out, B, T_, NH, HS, cap, scale, 0);     \
    }
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) f32 -> out (B,T,C) f32
KVD_PREFILL_ATTENTION(f32, float)
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) f16 -> out (B,T,C) f16
KVD_PREFILL_ATTENTION(f16, __half)
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) bf16 -> out (B,T,C) bf16
KVD_PREFILL_ATTENTION(bf16, __nv_bfloat16)

// A later chunk of a prompt (chunked prefill): the T queries are tokens past..past+T-1 and query t
// attends to keys 0..past+t, which kv_prefill_append (earlier chunks) and kv_prefill_append_at
// (this one) wrote. Same launch shape, dynamic shared memory W * (HS + past + T) * 4 bytes.
// Requires past + T <= cap. CPU twin: causalSelfAttention over the whole prompt, rows past.. of it.
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) T (slots 0..past+T-1) -> out (B,T,C) T
#define KVD_PREFILL_ATTENTION_PAST(SUF, T)                                                             \
    extern "C" __global__ void prefill_attention_past_##SUF(const float* q, const T* kc, const T* vc, T* out, int B, \
                                                            int T_, int NH, int HS, int cap, float scale, int past) { \
        kvd_prefill_attention::prefill_attention<T>(q, kc, vc, out, B, T_, NH, HS, cap, scale, past);  \
    }
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) f32 -> out (B,T,C) f32
KVD_PREFILL_ATTENTION_PAST(f32, float)
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) f16 -> out (B,T,C) f16
KVD_PREFILL_ATTENTION_PAST(f16, __half)
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) bf16 -> out (B,T,C) bf16
KVD_PREFILL_ATTENTION_PAST(bf16, __nv_bfloat16)
