// Token + learned absolute position embedding (GPT-2; Radford et al. 2019): out = wte[token] + wpe[pos];
// with wpe null (rotary positions, the Llama family) out = wte[token].
// CPU twin: dev.kvdecode.kernels.Embedding. Positions follow the cached-decode rule
// pos = min(t, maxT - 1) for token number t (InferenceSession's contract), so a window that has
// overflowed keeps using the last learned position instead of reading past wpe.
#include "kvd_cuda.h"

namespace kvd_embedding {

// An id outside [0, V) is a bug upstream; the row becomes NaN so the logits show it.
template <class T>
__device__ void embed_row(float* __restrict__ out, const T* __restrict__ wte, const T* __restrict__ wpe,
                          int token, int pos, int C, int V) {
    const bool ok = token >= 0 && token < V;
    const T* te = wte + (size_t)(ok ? token : 0) * C;
    // wpe null: rotary positions (Llama family), the token embedding alone
    const T* pe = wpe ? wpe + (size_t)pos * C : nullptr;
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x)
        out[c] = ok ? (pe ? kvd_to_float(te[c]) + kvd_to_float(pe[c]) : kvd_to_float(te[c])) : NAN;
}

template <class T>
__device__ void embed_decode(float* out, const T* wte, const T* wpe, const int* tokens, const int* seen,
                             int B, int C, int V, int maxT) {
    const int b = blockIdx.y;
    if (b >= B) return;
    const int pos = min(seen[b], maxT - 1);
    embed_row(out + (size_t)b * C, wte, wpe, tokens[b], pos, C, V);
}

template <class T>
__device__ void embed_prefill(float* out, const T* wte, const T* wpe, const int* tokens, const int* seen,
                              int B, int T_, int C, int V, int maxT) {
    const int t = blockIdx.y, b = blockIdx.z;
    if (t >= T_ || b >= B) return;
    const int pos = min((seen ? seen[b] : 0) + t, maxT - 1);
    embed_row(out + ((size_t)b * T_ + t) * C, wte, wpe, tokens[(size_t)b * T_ + t], pos, C, V);
}

}  // namespace kvd_embedding

// Decode step, no host arguments: the token is tokens[b] (written by the sampler), the position
// min(seen[b], maxT-1). grid (ceil(C/256), B), block 256.
// wte (V,C) T, wpe (maxT,C) T, tokens (B) int, seen (B) int -> out (B,C) f32
#define KVD_EMBED_DECODE(SUF, T)                                                                   \
    extern "C" __global__ void embed_decode_##SUF(float* out, const T* wte, const T* wpe,         \
                                                  const int* tokens, const int* seen,             \
                                                  int B, int C, int V, int maxT) {                \
        kvd_pdl_wait();                                                                           \
        kvd_embedding::embed_decode<T>(out, wte, wpe, tokens, seen, B, C, V, maxT);               \
    }
// wte (V,C) f32, wpe (maxT,C) f32, tokens (B) int, seen (B) int -> out (B,C) f32
KVD_EMBED_DECODE(f32, float)
// wte (V,C) f16, wpe (maxT,C) f16, tokens (B) int, seen (B) int -> out (B,C) f32
KVD_EMBED_DECODE(f16, __half)
// wte (V,C) bf16, wpe (maxT,C) bf16, tokens (B) int, seen (B) int -> out (B,C) f32
KVD_EMBED_DECODE(bf16, __nv_bfloat16)

// Prompt of T tokens per sequence: token t of sequence b gets position min(seen[b] + t, maxT-1)
// (seen may be 0 = null: positions 0..T-1, the recompute mode's window). grid (ceil(C/256), T, B), block 256.
// wte (V,C) T, wpe (maxT,C) T, tokens (B,T) int, seen (B) int or null -> out (B,T,C) f32
#define KVD_EMBED_PREFILL(SUF, T)                                                                  \
    extern "C" __global__ void embed_prefill_##SUF(float* out, const T* wte, const T* wpe,        \
                                                   const int* tokens, const int* seen,            \
                                                   int B, int T_, int C, int V, int maxT) {       \
        kvd_embedding::embed_prefill<T>(out, wte, wpe, tokens, seen, B, T_, C, V, maxT);          \
    }
// wte (V,C) f32, wpe (maxT,C) f32, tokens (B,T) int, seen (B) int or null -> out (B,T,C) f32
KVD_EMBED_PREFILL(f32, float)
// wte (V,C) f16, wpe (maxT,C) f16, tokens (B,T) int, seen (B) int or null -> out (B,T,C) f32
KVD_EMBED_PREFILL(f16, __half)
// wte (V,C) bf16, wpe (maxT,C) bf16, tokens (B,T) int, seen (B) int or null -> out (B,T,C) f32
KVD_EMBED_PREFILL(bf16, __nv_bfloat16)
