// Causal self-attention over a prompt of T tokens (query t attends to keys 0..t), reading K/V from
// the cache that kv_prefill_append filled (slots 0..T-1, T <= cap). The recompute mode
// (--kv-cache off) runs its whole window through this kernel each step.
// CPU twin: dev.kvdecode.kernels.Attention.causalSelfAttention.
#include "attention.h"

namespace kvd_prefill_attention {
using namespace kvd_attention;

template <class T>
__device__ void prefill_attention(const float* q, const T* kc, const T* vc, T* out, int B, int T_, int NH, int HS,
                                  int cap, float scale) {
    extern __shared__ float kvd_smem[];  // qs (HS) | sc (T)
    __shared__ float scratch[32];
    const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    if (t >= T_ || h >= NH || b >= B) return;
    const int C = NH * HS;
    const size_t row = ((size_t)b * NH + h) * cap * HS;
    float* qs = kvd_smem;
    float* sc = kvd_smem + HS;
    load_query(qs, q + ((size_t)b * T_ + t) * C + h * HS, HS);
    float l;
    softmax_scores(qs, kc + row, 0, 0, t + 1, cap, HS, scale, sc, scratch, &l);
    for (int d = threadIdx.x; d < HS; d += blockDim.x)
        out[((size_t)b * T_ + t) * C + h * HS + d] = kvd_from_float<T>(weighted_value(sc, vc + row, 0, 0, t + 1, cap, HS, d) / l);
}

}  // namespace kvd_prefill_attention

// One block per (t, h, b). grid (T, NH, B), block 128, dynamic shared memory (HS + T) * 4 bytes.
// scale = 1/sqrt(HS). Requires T <= cap.
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) T -> out (B,T,C) T
#define KVD_PREFILL_ATTENTION(SUF, T)                                                                  \
    extern "C" __global__ void prefill_attention_##SUF(const float* q, const T* kc, const T* vc, T* out, int B, int T_, \
                                                       int NH, int HS, int cap, float scale) {         \
        kvd_prefill_attention::prefill_attention<T>(q, kc, vc, out, B, T_, NH, HS, cap, scale);        \
    }
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) f32 -> out (B,T,C) f32
KVD_PREFILL_ATTENTION(f32, float)
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) f16 -> out (B,T,C) f16
KVD_PREFILL_ATTENTION(f16, __half)
// q (B,T,C) f32, kc,vc (B,NH,cap,HS) bf16 -> out (B,T,C) bf16
KVD_PREFILL_ATTENTION(bf16, __nv_bfloat16)
