// Rotary position embedding (Su et al. 2021, RoFormer) in Hugging Face's rotate-half convention
// for the decode step and the prompt, fused with what surrounds it in a Llama-family block: the
// split of the fused [q | k | v] projection, its bias (Qwen2), Qwen3's per-head q/k RMSNorm, and
// the append of k and v to the KV cache (grouped-query: the cache holds the NKV KV heads only).
// The key is stored rotated to its position ("cached keys carry their rotation").
// CPU twin: the composition in dev.kvdecode.runtime.cpu.CpuSession.blocks of RmsNorm.rmsNormHeads,
// Rope.apply and runtime.cache.KvCache.append (whose SHIFT rotates the kept keys back when its
// window moves; Rope.rotateKeys).
//
// Angles: pos * invFreq[i] in fp32 (invFreq precomputed on the host with the rope scaling applied:
// default, linear, llama3), cos and sin in double rounded once to fp32, as Rope.cosSin; a pair
// (x[i], x[i + HS/2]) turns to (x1 cos - x2 sin, x2 cos + x1 sin), as Rope.apply.
//
// Positions with the overflow policies (host twin: CudaRope.position):
//   SHIFT_FLAT (cached SHIFT, the 2cap window): the slot the key goes to; when the window moves its
//     kept cap-1 keys back to slots 0..cap-2 they are turned back by cap+1 positions, once (what
//     llama.cpp's context shift does), so the window always holds consecutive positions;
//   SHIFT (the tutorial's in-place shift, one slot per token): min(n, cap-1); every shift turns the
//     kept keys back by one position;
//   RING, STOP: min(n, maxT-1) (positions keep growing up to max_position_embeddings).
#include "kvd_cuda.h"
#include "rmsnorm_row.h"

namespace kvd_rope {

// Floats the in-place shift stages per tile (whole keys; HS <= STAGE).
constexpr int STAGE = 2048;

// The position the query and key of token number n get.
__device__ inline int rope_position(int n, int cap, int policy, int maxT) {
    if (policy == KVD_SHIFT_FLAT) return kvd_flat_slot(n, cap);
    if (policy == KVD_SHIFT) return n < cap ? n : cap - 1;
    return n < maxT ? n : maxT - 1;
}

// The slot token number n is written to; -1: none (STOP when full). As kv_cache.cu's append_slot.
__device__ inline int rope_slot(int n, int cap, int policy) {
    if (policy == KVD_SHIFT_FLAT) return kvd_flat_slot(n, cap);
    if (n < cap) return n;
    if (policy == KVD_SHIFT) return cap - 1;
    if (policy == KVD_RING) return n % cap;
    return -1;
}

// cs, sn (HS/2, shared) = cos, sin of pos * invFreq[i]; read after the caller's next barrier.
__device__ inline void angles(float* cs, float* sn, const float* __restrict__ invFreq, int half, int pos) {
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        const float a = (float)pos * invFreq[i];
        cs[i] = (float)cos((double)a);
        sn[i] = (float)sin((double)a);
    }
}

// xs (HS, shared) = src + bias[boff..], then RMSNorm'd with weight norm (HS) when given (Qwen3).
// Ends with a barrier: xs (and angles written before) complete for every thread.
template <class T>
__device__ void load_head(float* xs, const float* __restrict__ src, const T* __restrict__ bias, int boff,
                          const T* __restrict__ norm, float eps, int HS, float* scratch) {
    for (int d = threadIdx.x; d < HS; d += blockDim.x) xs[d] = src[d] + kvd_bias(bias, boff + d);
    if (norm) {  // uniform; each thread reads back only its own columns before the block sum
        const float r = kvd_rmsnorm::rms_scale(xs, HS, eps, scratch);
        for (int d = threadIdx.x; d < HS; d += blockDim.x) xs[d] = kvd_to_float(norm[d]) * (xs[d] * r);
    }
    __syncthreads();
}

// out (HS) = xs turned by (cs, sn), rotate-half pairing.
template <class O>
__device__ void rotate_store(O* out, const float* xs, const float* cs, const float* sn, int half) {
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        const float x1 = xs[i], x2 = xs[i + half];
        out[i] = kvd_from_float<O>(x1 * cs[i] + -x2 * sn[i]);
        out[i + half] = kvd_from_float<O>(x2 * cs[i] + x1 * sn[i]);
    }
}

// Keys of slots [src, src+n) -> slots [dst, dst+n), each turned by (cs, sn); values copied.
// The ranges must not overlap (the flat window's move: cap+1.. -> 0..).
template <class T>
__device__ void move_rotated(T* krow, T* vrow, int src, int dst, int n, int HS, const float* cs, const float* sn) {
    const int half = HS / 2;
    for (size_t e = threadIdx.x; e < (size_t)n * half; e += blockDim.x) {
        const size_t j = e / half;
        const int i = (int)(e - j * half);
        const T* s = krow + (src + j) * HS;
        T* d = krow + (dst + j) * HS;
        const float x1 = kvd_to_float(s[i]), x2 = kvd_to_float(s[i + half]);
        d[i] = kvd_from_float<T>(x1 * cs[i] + -x2 * sn[i]);
        d[i + half] = kvd_from_float<T>(x2 * cs[i] + x1 * sn[i]);
    }
    for (size_t e = threadIdx.x; e < (size_t)n * HS; e += blockDim.x) vrow[(size_t)dst * HS + e] = vrow[(size_t)src * HS + e];
}

// In place, one block per row: slot j = slot j+1 for j < cap-1 (the oldest entry drops out), the
// keys turned by (cs, sn) as they move. Tiles of whole keys are staged in shared memory first and
// written after a barrier; a tile writes [j0, j0+nk) and reads [j0+1, j0+nk+1), the next tile reads
// beyond every slot this one writes, so reads always run ahead of writes (as kv_cache.cu's
// shift_row_left). Ends with a barrier: slot cap-1 may be written next.
template <class T>
__device__ void shift_rotated(T* krow, T* vrow, int cap, int HS, const float* cs, const float* sn, float* stage) {
    const int half = HS / 2, per = STAGE / HS;
    for (int pass = 0; pass < 2; pass++) {
        T* row = pass == 0 ? krow : vrow;
        for (int j0 = 0; j0 < cap - 1; j0 += per) {
            const int nk = min(per, cap - 1 - j0);
            for (int e = threadIdx.x; e < nk * HS; e += blockDim.x) stage[e] = kvd_to_float(row[(size_t)(j0 + 1) * HS + e]);
            __syncthreads();
            if (pass == 0) {
                for (int e = threadIdx.x; e < nk * half; e += blockDim.x) {
                    const int j = e / half, i = e - j * half;
                    const float x1 = stage[j * HS + i], x2 = stage[j * HS + i + half];
                    T* d = row + (size_t)(j0 + j) * HS;
                    d[i] = kvd_from_float<T>(x1 * cs[i] + -x2 * sn[i]);
                    d[i + half] = kvd_from_float<T>(x2 * cs[i] + x1 * sn[i]);
                }
            } else {
                for (int e = threadIdx.x; e < nk * HS; e += blockDim.x) row[(size_t)j0 * HS + e] = kvd_from_float<T>(stage[e]);
            }
            __syncthreads();
        }
    }
}

// Decode: block (hh, b); hh < NH: query head hh; else KV head g = hh - NH (the move or shift of
// its row when the policy asks for one, then k and v of this token).
template <class T>
__device__ void rope_kv_append(const float* __restrict__ qkv, const T* __restrict__ bias, const T* __restrict__ qNorm,
                               const T* __restrict__ kNorm, const float* __restrict__ invFreq, float* __restrict__ q,
                               T* kc, T* vc, const int* __restrict__ seen, int B, int NH, int NKV, int HS, int cap,
                               int policy, int maxT, float eps) {
    extern __shared__ float kvd_rope_smem[];  // xs (HS) | cs, sn (HS/2 each) | mc, ms (HS/2 each)
    __shared__ float scratch[32];
    __shared__ float stage[STAGE];
    const int hh = blockIdx.x, b = blockIdx.y;
    if (hh >= NH + NKV || b >= B) return;
    const int half = HS / 2, QD = NH * HS, KVD = NKV * HS;
    float* xs = kvd_rope_smem;
    float *cs = xs + HS, *sn = cs + half, *mc = sn + half, *ms = mc + half;
    const float* row = qkv + (size_t)b * (QD + 2 * KVD);
    const int n = seen[b];
    angles(cs, sn, invFreq, half, rope_position(n, cap, policy, maxT));
    if (hh < NH) {
        load_head(xs, row + hh * HS, bias, hh * HS, qNorm, eps, HS, scratch);
        rotate_store(q + (size_t)b * QD + hh * HS, xs, cs, sn, half);
        return;
    }
    const int g = hh - NH;
    const int slot = rope_slot(n, cap, policy);
    const size_t rs = kvd_row_slots(cap, policy);
    T* krow = kc + ((size_t)b * NKV + g) * rs * HS;
    T* vrow = vc + ((size_t)b * NKV + g) * rs * HS;
    if (policy == KVD_SHIFT_FLAT && n >= 2 * cap && slot == cap - 1) {
        // The 2cap window is full: its newest cap-1 entries move to slots 0..cap-2, the keys turned
        // back by cap+1 positions (the distance they move), once per cap+1 tokens.
        angles(mc, ms, invFreq, half, -(cap + 1));
        __syncthreads();
        move_rotated(krow, vrow, cap + 1, 0, cap - 1, HS, mc, ms);
    } else if (policy == KVD_SHIFT && n >= cap) {
        angles(mc, ms, invFreq, half, -1);
        __syncthreads();
        shift_rotated(krow, vrow, cap, HS, mc, ms, stage);
    }
    load_head(xs, row + QD + g * HS, bias, QD + g * HS, kNorm, eps, HS, scratch);
    if (slot >= 0) {
        rotate_store(krow + (size_t)slot * HS, xs, cs, sn, half);
        const float* vs = row + QD + KVD + g * HS;
        for (int d = threadIdx.x; d < HS; d += blockDim.x)
            vrow[(size_t)slot * HS + d] = kvd_from_float<T>(vs[d] + kvd_bias(bias, QD + KVD + g * HS + d));
    }
}

// Prompt tokens after `past` cached ones (0: an empty cache): row t is token past + t, at position
// and slot past + t (past + t < cap). Block (hh, t, b).
template <class T>
__device__ void rope_kv_prefill_append(const float* __restrict__ qkv, const T* __restrict__ bias,
                                       const T* __restrict__ qNorm, const T* __restrict__ kNorm,
                                       const float* __restrict__ invFreq, float* __restrict__ q, T* __restrict__ kc,
                                       T* __restrict__ vc, int B, int T_, int NH, int NKV, int HS, int cap, float eps,
                                       int past) {
    extern __shared__ float kvd_rope_smem[];  // xs (HS) | cs, sn (HS/2 each)
    __shared__ float scratch[32];
    const int hh = blockIdx.x, t = blockIdx.y, b = blockIdx.z;
    if (hh >= NH + NKV || t >= T_ || b >= B) return;
    const int half = HS / 2, QD = NH * HS, KVD = NKV * HS;
    float* xs = kvd_rope_smem;
    float *cs = xs + HS, *sn = cs + half;
    const float* row = qkv + ((size_t)b * T_ + t) * (QD + 2 * KVD);
    const int pos = past + t;
    angles(cs, sn, invFreq, half, pos);
    if (hh < NH) {
        load_head(xs, row + hh * HS, bias, hh * HS, qNorm, eps, HS, scratch);
        rotate_store(q + ((size_t)b * T_ + t) * QD + hh * HS, xs, cs, sn, half);
        return;
    }
    if (pos >= cap) return;  // uniform over the block
    const int g = hh - NH;
    const size_t o = (((size_t)b * NKV + g) * cap + pos) * HS;
    load_head(xs, row + QD + g * HS, bias, QD + g * HS, kNorm, eps, HS, scratch);
    rotate_store(kc + o, xs, cs, sn, half);
    const float* vs = row + QD + KVD + g * HS;
    for (int d = threadIdx.x; d < HS; d += blockDim.x) vc[o + d] = kvd_from_float<T>(vs[d] + kvd_bias(bias, QD + KVD + g * HS + d));
}

}  // namespace kvd_rope

// Decode step, no host arguments (seen[b] = tokens already cached). grid (NH + NKV, B), block 128,
// dynamic shared memory 4 * 3 * HS bytes. HS even, HS <= 2048. The counter is not advanced here.
// qkv (B, NH*HS + 2*NKV*HS) f32 [q | k | v], bias (qkv width) T or null, qNorm,kNorm (HS) T or null,
// invFreq (HS/2) f32, seen (B) int -> q (B, NH*HS) f32, kc,vc (B, NKV, rowSlots, HS) T (one layer) updated
#define KVD_ROPE_KV_APPEND(SUF, T)                                                                     \
    extern "C" __global__ void rope_kv_append_##SUF(const float* qkv, const T* bias, const T* qNorm, const T* kNorm, \
                                                    const float* invFreq, float* q, T* kc, T* vc, const int* seen, \
                                                    int B, int NH, int NKV, int HS, int cap, int policy, int maxT, \
                                                    float eps) {                                       \
        kvd_rope::rope_kv_append<T>(qkv, bias, qNorm, kNorm, invFreq, q, kc, vc, seen, B, NH, NKV, HS, cap, policy, \
                                    maxT, eps);                                                        \
    }
// qkv (B,QKV) f32, bias (QKV) f32 or null, qNorm,kNorm (HS) f32 or null, invFreq (HS/2) f32, seen (B) int
//   -> q (B,NH*HS) f32, kc,vc (B,NKV,rowSlots,HS) f32
KVD_ROPE_KV_APPEND(f32, float)
// qkv (B,QKV) f32, bias (QKV) f16 or null, qNorm,kNorm (HS) f16 or null, invFreq (HS/2) f32, seen (B) int
//   -> q (B,NH*HS) f32, kc,vc (B,NKV,rowSlots,HS) f16
KVD_ROPE_KV_APPEND(f16, __half)
// qkv (B,QKV) f32, bias (QKV) bf16 or null, qNorm,kNorm (HS) bf16 or null, invFreq (HS/2) f32, seen (B) int
//   -> q (B,NH*HS) f32, kc,vc (B,NKV,rowSlots,HS) bf16
KVD_ROPE_KV_APPEND(bf16, __nv_bfloat16)

// Prompt of T <= cap tokens into an empty cache, positions 0..T-1. grid (NH + NKV, T, B), block 128,
// dynamic shared memory 4 * 2 * HS bytes.
// qkv (B,T,QKV) f32, bias (QKV) T or null, qNorm,kNorm (HS) T or null, invFreq (HS/2) f32
//   -> q (B,T,NH*HS) f32, kc,vc (B,NKV,cap,HS) T slots 0..T-1
#define KVD_ROPE_KV_PREFILL_APPEND(SUF, T)                                                             \
    extern "C" __global__ void rope_kv_prefill_append_##SUF(const float* qkv, const T* bias, const T* qNorm,    \
                                                            const T* kNorm, const float* invFreq, float* q, T* kc, \
                                                            T* vc, int B, int T_, int NH, int NKV, int HS, int cap, \
                                                            float eps) {                               \
        kvd_rope::rope_kv_prefill_append<T>(qkv, bias, qNorm, kNorm, invFreq, q, kc, vc, B, T_, NH, NKV, HS, cap, eps, \
                                            0);                                                        \
    }
// A later chunk of a prompt (chunked prefill): rows are tokens past..past+T-1, at those positions
// and slots (past + T <= cap). Same launch shape.
#define KVD_ROPE_KV_PREFILL_APPEND_AT(SUF, T)                                                          \
    extern "C" __global__ void rope_kv_prefill_append_at_##SUF(const float* qkv, const T* bias, const T* qNorm, \
                                                               const T* kNorm, const float* invFreq, float* q, T* kc, \
                                                               T* vc, int B, int T_, int NH, int NKV, int HS, int cap, \
                                                               float eps, int past) {                  \
        kvd_rope::rope_kv_prefill_append<T>(qkv, bias, qNorm, kNorm, invFreq, q, kc, vc, B, T_, NH, NKV, HS, cap, eps, \
                                            past);                                                     \
    }
// qkv (B,T,QKV) f32, bias (QKV) f32 or null, qNorm,kNorm (HS) f32 or null, invFreq (HS/2) f32
//   -> q (B,T,NH*HS) f32, kc,vc (B,NKV,cap,HS) f32
KVD_ROPE_KV_PREFILL_APPEND(f32, float)
// qkv (B,T,QKV) f32, bias (QKV) f16 or null, qNorm,kNorm (HS) f16 or null, invFreq (HS/2) f32
//   -> q (B,T,NH*HS) f32, kc,vc (B,NKV,cap,HS) f16
KVD_ROPE_KV_PREFILL_APPEND(f16, __half)
// qkv (B,T,QKV) f32, bias (QKV) bf16 or null, qNorm,kNorm (HS) bf16 or null, invFreq (HS/2) f32
//   -> q (B,T,NH*HS) f32, kc,vc (B,NKV,cap,HS) bf16
KVD_ROPE_KV_PREFILL_APPEND(bf16, __nv_bfloat16)
// qkv (B,T,QKV) f32, bias (QKV) T or null, qNorm,kNorm (HS) T or null, invFreq (HS/2) f32
//   -> q (B,T,NH*HS) f32, kc,vc (B,NKV,cap,HS) T slots past..past+T-1
KVD_ROPE_KV_PREFILL_APPEND_AT(f32, float)
KVD_ROPE_KV_PREFILL_APPEND_AT(f16, __half)
KVD_ROPE_KV_PREFILL_APPEND_AT(bf16, __nv_bfloat16)
