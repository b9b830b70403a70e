// Matrix-vector products for the decode step (issue 17): out (M, N) = x (M, K) . W^T for M <= 8
// rows, W stored (N, K) row-major (each output's weights contiguous: a GEMV streams W once, in
// 16-byte loads), fp32 accumulation, with the op that follows fused into the epilogue:
//   gemv_bias              out (f32) = acc + bias                     (the qkv projection, LM head)
//   gemv_bias_residual     resid (f32) += acc + bias                  (attn proj, fc proj: x += ...)
//   gemv_bias_gelu_tanh    out (T) = GELU_tanh(acc + bias)            (GPT-2's fc; Hendrycks & Gimpel 2016)
//   gemv_bias_gelu_erf     out (T) = GELU(acc + bias)
//   gemv_bias_relu         out (T) = max(acc + bias, 0)               (the char model's fc)
// CPU twin: the composition Matmul.matmul then Activations.apply / Residual.add (CudaGemvTest).
// cuBLAS stays for prefill and for more than 8 rows.
//
// One warp per output column n: lane l reads the pieces l, l+32, ... of W's row n (VEC elements a
// piece; 16 bytes when K allows) and the same pieces of each of the M input rows, sums them per row
// in piece order, then a butterfly over the 32 lanes. Batch invariance: row m's sum is the same
// sequence of fp32 operations whatever M is (M only bounds the loop over rows), so a sequence's
// output has the same bits in a batch of 1, 3 or 8.
#include "kvd_cuda.h"
#include "layernorm_row.h"
#include "rmsnorm_row.h"

namespace kvd_gemv {

constexpr int MAX_ROWS = 8;

struct alignas(16) vec16 { unsigned int w[4]; };

template <class T, int VEC>
__device__ inline void load_piece(const T* __restrict__ p, float* out) {
    if constexpr (VEC * sizeof(T) == 16) {
        const vec16 raw = *reinterpret_cast<const vec16*>(p);  // one 16-byte load
        T e[VEC];
        memcpy(static_cast<void*>(e), &raw, 16);
#pragma unroll
        for (int i = 0; i < VEC; i++) out[i] = kvd_to_float(e[i]);
    } else {
#pragma unroll
        for (int i = 0; i < VEC; i++) out[i] = kvd_to_float(p[i]);
    }
}

enum Epilogue { BIAS, BIAS_RESIDUAL, BIAS_GELU_TANH, BIAS_GELU_ERF, BIAS_RELU };

__device__ inline float gelu_tanh(float v) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi), as activation.cu
    return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
}

// acc[m] = sum over pieces of x[m] . w[n] for the warp's column n (valid in every lane).
template <class T, int VEC>
__device__ inline void dot_rows(const T* __restrict__ x, const T* __restrict__ wrow, int M, int K, float* acc) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int m = 0; m < MAX_ROWS; m++) acc[m] = 0.0f;
    const int pieces = K / VEC;
#pragma unroll 4
    for (int c = lane; c < pieces; c += 32) {
        float wv[VEC];
        load_piece<T, VEC>(wrow + (size_t)c * VEC, wv);
#pragma unroll
        for (int m = 0; m < MAX_ROWS; m++) {
            if (m < M) {
                float xv[VEC];
                load_piece<T, VEC>(x + (size_t)m * K + (size_t)c * VEC, xv);
                float s = acc[m];
#pragma unroll
                for (int i = 0; i < VEC; i++) s += xv[i] * wv[i];
                acc[m] = s;
            }
        }
    }
#pragma unroll
    for (int m = 0; m < MAX_ROWS; m++)
        if (m < M)  // uniform over the warp
            for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(KVD_FULL_MASK, acc[m], o);
}

// x (M,K) T, w (N,K) T, bias (N) T or null -> out (M,N): f32 (BIAS, BIAS_RESIDUAL in place) or T.
template <class T, Epilogue E, class O>
__device__ void gemv(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias, O* out,
                     int M, int K, int N) {
    const int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= N) return;  // whole warps only: the butterfly below never misses a lane
    const int lane = threadIdx.x & 31;
    float acc[MAX_ROWS];
    constexpr int VEC = 16 / sizeof(T);
    // 16-byte pieces when every row starts 16-byte aligned (launcher: K a multiple of VEC and
    // aligned bases); uniform over the grid.
    const bool vec = (K % VEC == 0) && ((reinterpret_cast<size_t>(x) | reinterpret_cast<size_t>(w)) % 16 == 0);
    if (vec) dot_rows<T, VEC>(x, w + (size_t)n * K, M, K, acc);
    else dot_rows<T, 1>(x, w + (size_t)n * K, M, K, acc);
    const float b = kvd_bias(bias, n);
#pragma unroll
    for (int m = 0; m < MAX_ROWS; m++) {
        if (m < M && lane == m) {
            const float v = acc[m] + b;
            O* o = out + (size_t)m * N + n;
            if constexpr (E == BIAS) *o = v;
            else if constexpr (E == BIAS_RESIDUAL) *o = *o + v;
            else if constexpr (E == BIAS_GELU_TANH) *o = kvd_from_float<O>(gelu_tanh(v));
            else if constexpr (E == BIAS_GELU_ERF) *o = kvd_from_float<O>(0.5f * v * (1.0f + erff(v * 0.7071067811865476f)));
            else *o = kvd_from_float<O>(fmaxf(v, 0.0f));
        }
    }
}

// LayerNorm prologue (Ba et al. 2016): the block normalises the M input rows itself into shared
// memory, in the dtype, with layernorm.cu's own normalize_row (layernorm_row.h: two passes, eps inside the
// square root, fp32 sums, rounded once to T), so gemv_ln_* gives the bits of layernorm_T followed
// by gemv_* while saving that launch and the round trip through global memory. Every block
// recomputes the rows (M x K floats from L2: 3 KB a row for GPT-2, against 3.5-4.7 MB of weights).

// x (M,K) f32 (the residual stream), gamma,beta (K) T, w (N,K) T, bias (N) T or null -> out (M,N)
template <class T, Epilogue E, class O>
__device__ void gemv_ln(const float* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta, float eps,
                        const T* __restrict__ w, const T* __restrict__ bias, O* out, int M, int K, int N) {
    extern __shared__ float kvd_gemv_smem[];  // the M normalised rows, (M, K) in T
    T* xs = reinterpret_cast<T*>(kvd_gemv_smem);
    for (int m = 0; m < M; m++) kvd_layernorm::normalize_row(x + (size_t)m * K, gamma, beta, xs + (size_t)m * K, K, eps);
    __syncthreads();  // each warp reads every element of the rows
    gemv<T, E, O>(xs, w, bias, out, M, K, N);
}

// The Llama family's prologue and epilogue (issue 18). RMSNorm prologue (Zhang & Sennrich 2019):
// the rows normalised into shared memory with rmsnorm.cu's own rms_normalize_row (rmsnorm_row.h),
// so gemv_rms_* gives the bits of rmsnorm_T followed by gemv_*. SwiGLU epilogue (Shazeer 2020):
// W holds [gate | up] as (2I, K) rows; the warp of column n computes both dot products (rows n and
// I + n of W, in the same piece order as gemv_*) and stores silu(g + b_g) * (u + b_u) in T, the bits
// of gemv_bias_* into an f32 [gate | up] followed by swiglu_T (the same fp32 expression).

// x (M,K) f32, w_norm (K) T, w (N,K) T, bias (N) T or null -> out (M,N)
template <class T, Epilogue E, class O>
__device__ void gemv_rms(const float* __restrict__ x, const T* __restrict__ w_norm, float eps, const T* __restrict__ w,
                         const T* __restrict__ bias, O* out, int M, int K, int N) {
    extern __shared__ float kvd_gemv_smem[];  // the M normalised rows, (M, K) in T
    T* xs = reinterpret_cast<T*>(kvd_gemv_smem);
    for (int m = 0; m < M; m++) kvd_rmsnorm::rms_normalize_row(x + (size_t)m * K, w_norm, xs + (size_t)m * K, K, eps);
    __syncthreads();  // each warp reads every element of the rows
    gemv<T, E, O>(xs, w, bias, out, M, K, N);
}

// x (M,K) T, w (2I,K) T [gate rows | up rows], bias (2I) T or null -> out (M,I) T
template <class T>
__device__ void gemv_swiglu(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                            T* __restrict__ out, int M, int K, int I) {
    const int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= I) return;  // whole warps only
    const int lane = threadIdx.x & 31;
    float ag[MAX_ROWS], au[MAX_ROWS];
    constexpr int VEC = 16 / sizeof(T);
    const bool vec = (K % VEC == 0) && ((reinterpret_cast<size_t>(x) | reinterpret_cast<size_t>(w)) % 16 == 0);
    if (vec) {
        dot_rows<T, VEC>(x, w + (size_t)n * K, M, K, ag);
        dot_rows<T, VEC>(x, w + (size_t)(I + n) * K, M, K, au);
    } else {
        dot_rows<T, 1>(x, w + (size_t)n * K, M, K, ag);
        dot_rows<T, 1>(x, w + (size_t)(I + n) * K, M, K, au);
    }
    const float bg = kvd_bias(bias, n), bu = kvd_bias(bias, I + n);
#pragma unroll
    for (int m = 0; m < MAX_ROWS; m++) {
        if (m < M && lane == m) {
            const float g = ag[m] + bg, u = au[m] + bu;
            const float a = g / (1.0f + expf(-g));  // silu, as swiglu.cu
            out[(size_t)m * I + n] = kvd_from_float<T>(a * u);
        }
    }
}

// x (M,K) f32, w_norm (K) T, w (2I,K) T, bias (2I) T or null -> out (M,I) T
template <class T>
__device__ void gemv_rms_swiglu(const float* __restrict__ x, const T* __restrict__ w_norm, float eps,
                                const T* __restrict__ w, const T* __restrict__ bias, T* out, int M, int K, int I) {
    extern __shared__ float kvd_gemv_smem[];
    T* xs = reinterpret_cast<T*>(kvd_gemv_smem);
    for (int m = 0; m < M; m++) kvd_rmsnorm::rms_normalize_row(x + (size_t)m * K, w_norm, xs + (size_t)m * K, K, eps);
    __syncthreads();
    gemv_swiglu<T>(xs, w, bias, out, M, K, I);
}

}  // namespace kvd_gemv

// grid (ceil(N/8)), block 256 (8 warps, one output column each). M <= 8.
#define KVD_GEMV(NAME, SUF, T, E, O)                                                                   \
    extern "C" __global__ void NAME##_##SUF(const T* x, const T* w, const T* bias, O* out, int M, int K, int N) { \
        kvd_pdl_wait();                                                                                \
        kvd_gemv::gemv<T, kvd_gemv::E, O>(x, w, bias, out, M, K, N);                                   \
    }
#define KVD_GEMVS(SUF, T)                                                                              \
    KVD_GEMV(gemv_bias, SUF, T, BIAS, float)                                                           \
    KVD_GEMV(gemv_bias_residual, SUF, T, BIAS_RESIDUAL, float)                                         \
    KVD_GEMV(gemv_bias_gelu_tanh, SUF, T, BIAS_GELU_TANH, T)                                           \
    KVD_GEMV(gemv_bias_gelu_erf, SUF, T, BIAS_GELU_ERF, T)                                             \
    KVD_GEMV(gemv_bias_relu, SUF, T, BIAS_RELU, T)
// x (M,K) f32, w (N,K) f32, bias (N) f32 or null -> out (M,N) f32 (residual: in/out) | f32 (activations)
KVD_GEMVS(f32, float)
// x (M,K) f16, w (N,K) f16, bias (N) f16 or null -> out (M,N) f32 (bias, residual in/out) | f16 (activations)
KVD_GEMVS(f16, __half)
// x (M,K) bf16, w (N,K) bf16, bias (N) bf16 or null -> out (M,N) f32 (bias, residual in/out) | bf16 (activations)
KVD_GEMVS(bf16, __nv_bfloat16)

// The same GEMVs with LayerNorm of the input rows in the prologue. grid (ceil(N/8)), block 256,
// dynamic shared memory M x K x sizeof(T) bytes. M <= 8.
#define KVD_GEMV_LN(NAME, SUF, T, E, O)                                                                \
    extern "C" __global__ void NAME##_##SUF(const float* x, const T* gamma, const T* beta, float eps, const T* w, \
                                            const T* bias, O* out, int M, int K, int N) {              \
        kvd_pdl_wait();                                                                                \
        kvd_gemv::gemv_ln<T, kvd_gemv::E, O>(x, gamma, beta, eps, w, bias, out, M, K, N);              \
    }
#define KVD_GEMVS_LN(SUF, T)                                                                           \
    KVD_GEMV_LN(gemv_ln_bias, SUF, T, BIAS, float)                                                     \
    KVD_GEMV_LN(gemv_ln_bias_gelu_tanh, SUF, T, BIAS_GELU_TANH, T)                                     \
    KVD_GEMV_LN(gemv_ln_bias_gelu_erf, SUF, T, BIAS_GELU_ERF, T)                                       \
    KVD_GEMV_LN(gemv_ln_bias_relu, SUF, T, BIAS_RELU, T)
// x (M,K) f32, gamma,beta (K) f32, w (N,K) f32, bias (N) f32 or null -> out (M,N) f32 | f32
KVD_GEMVS_LN(f32, float)
// x (M,K) f32, gamma,beta (K) f16, w (N,K) f16, bias (N) f16 or null -> out (M,N) f32 | f16
KVD_GEMVS_LN(f16, __half)
// x (M,K) f32, gamma,beta (K) bf16, w (N,K) bf16, bias (N) bf16 or null -> out (M,N) f32 | bf16
KVD_GEMVS_LN(bf16, __nv_bfloat16)

// RMSNorm of the input rows in the prologue, bias epilogue (the Llama family's qkv projection and
// LM head). grid (ceil(N/8)), block 256, dynamic shared memory M x K x sizeof(T) bytes. M <= 8.
#define KVD_GEMV_RMS(SUF, T)                                                                           \
    extern "C" __global__ void gemv_rms_bias_##SUF(const float* x, const T* w_norm, float eps, const T* w, \
                                                   const T* bias, float* out, int M, int K, int N) {   \
        kvd_gemv::gemv_rms<T, kvd_gemv::BIAS, float>(x, w_norm, eps, w, bias, out, M, K, N);           \
    }
// x (M,K) f32, w_norm (K) f32, w (N,K) f32, bias (N) f32 or null -> out (M,N) f32
KVD_GEMV_RMS(f32, float)
// x (M,K) f32, w_norm (K) f16, w (N,K) f16, bias (N) f16 or null -> out (M,N) f32
KVD_GEMV_RMS(f16, __half)
// x (M,K) f32, w_norm (K) bf16, w (N,K) bf16, bias (N) bf16 or null -> out (M,N) f32
KVD_GEMV_RMS(bf16, __nv_bfloat16)

// The gated MLP's [gate | up] projection with SwiGLU in the epilogue: out = silu(x W_g^T + b_g) *
// (x W_u^T + b_u). grid (ceil(I/8)), block 256 (8 warps, one output column each). M <= 8.
#define KVD_GEMV_SWIGLU(SUF, T)                                                                        \
    extern "C" __global__ void gemv_swiglu_##SUF(const T* x, const T* w, const T* bias, T* out, int M, int K, int I) { \
        kvd_gemv::gemv_swiglu<T>(x, w, bias, out, M, K, I);                                           \
    }
// x (M,K) f32, w (2I,K) f32, bias (2I) f32 or null -> out (M,I) f32
KVD_GEMV_SWIGLU(f32, float)
// x (M,K) f16, w (2I,K) f16, bias (2I) f16 or null -> out (M,I) f16
KVD_GEMV_SWIGLU(f16, __half)
// x (M,K) bf16, w (2I,K) bf16, bias (2I) bf16 or null -> out (M,I) bf16
KVD_GEMV_SWIGLU(bf16, __nv_bfloat16)

// Both: RMSNorm prologue, SwiGLU epilogue (a Llama block's whole MLP up to the down projection).
// grid (ceil(I/8)), block 256, dynamic shared memory M x K x sizeof(T) bytes. M <= 8.
#define KVD_GEMV_RMS_SWIGLU(SUF, T)                                                                    \
    extern "C" __global__ void gemv_rms_swiglu_##SUF(const float* x, const T* w_norm, float eps, const T* w, \
                                                     const T* bias, T* out, int M, int K, int I) {     \
        kvd_gemv::gemv_rms_swiglu<T>(x, w_norm, eps, w, bias, out, M, K, I);                          \
    }
// x (M,K) f32, w_norm (K) f32, w (2I,K) f32, bias (2I) f32 or null -> out (M,I) f32
KVD_GEMV_RMS_SWIGLU(f32, float)
// x (M,K) f32, w_norm (K) f16, w (2I,K) f16, bias (2I) f16 or null -> out (M,I) f16
KVD_GEMV_RMS_SWIGLU(f16, __half)
// x (M,K) f32, w_norm (K) bf16, w (2I,K) bf16, bias (2I) bf16 or null -> out (M,I) bf16
KVD_GEMV_RMS_SWIGLU(bf16, __nv_bfloat16)

// ---- The qkv projection with the K/V append in its epilogue (issue 17) ----
// One launch does what gemv_ln_bias (qkv) + kv_append did: q (with its bias) goes to the attention's
// f32 buffer, k and v (with their biases, rounded once to T) go straight into this step's cache
// slot, so the (M, 3C) qkv never touches global memory and the kv_append launch disappears.
//
// Columns come in pairs: warp p computes columns (u HS + i, u HS + i + HH) of head-sized unit u
// (q heads 0..NH-1, then the NKV k heads, then the NKV v heads; GQA-shaped), HH = ceil(HS/2). That
// is the rotate-half pairing of rotary embeddings (Su et al. 2021 as HF's Llama applies it), so a
// family with RoPE turns (q_i, q_{i+HH}) and (k_i, k_{i+HH}) in the epilogue, before the store,
// with both halves of the pair already in the lane: the Pos hook below. Each column's sum is the
// same sequence of fp32 operations as gemv_* computes for it, so q, k, v have gemv_ln_bias's bits
// (plus the bias, as kv_append added it): the fusion changes no result.
namespace kvd_gemv {

// The position hook: what a model family does to the query and key pair (i, i + HS/2) of a head
// at position pos before they are stored. GPT-2 adds learned positions to the embedding, so the
// identity. RoPE (issue 18) replaces it with the rotation by pos * inv_freq[i] (kernels' Rope.java
// is the CPU twin); only called for even HS, where every column has its partner.
struct NoPositionHook {
    __device__ void operator()(float& lo, float& hi, int i, int HS, int pos) const {}
};

// acc0/acc1[m] = x[m] . w0 / w1 (the same per-column order as dot_rows), valid in every lane.
template <class T, int VEC>
__device__ inline void dot_rows_pair(const T* __restrict__ x, const T* __restrict__ w0, const T* __restrict__ w1,
                                     int M, int K, float* acc0, float* acc1) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int m = 0; m < MAX_ROWS; m++) { acc0[m] = 0.0f; acc1[m] = 0.0f; }
    const int pieces = K / VEC;
#pragma unroll 2
    for (int c = lane; c < pieces; c += 32) {
        float wa[VEC], wb[VEC];
        load_piece<T, VEC>(w0 + (size_t)c * VEC, wa);
        load_piece<T, VEC>(w1 + (size_t)c * VEC, wb);
#pragma unroll
        for (int m = 0; m < MAX_ROWS; m++) {
            if (m < M) {
                float xv[VEC];
                load_piece<T, VEC>(x + (size_t)m * K + (size_t)c * VEC, xv);
                float s0 = acc0[m], s1 = acc1[m];
#pragma unroll
                for (int i = 0; i < VEC; i++) s0 += xv[i] * wa[i];
#pragma unroll
                for (int i = 0; i < VEC; i++) s1 += xv[i] * wb[i];
                acc0[m] = s0;
                acc1[m] = s1;
            }
        }
    }
#pragma unroll
    for (int m = 0; m < MAX_ROWS; m++)
        if (m < M)
            for (int o = 16; o > 0; o >>= 1) {
                acc0[m] += __shfl_xor_sync(KVD_FULL_MASK, acc0[m], o);
                acc1[m] += __shfl_xor_sync(KVD_FULL_MASK, acc1[m], o);
            }
}

// The flat shift's once-per-window move (kv_append's, see kv_cache.cu) for the rows whose token
// lands on slot cap-1 of a full 2cap buffer: slots cap+1..2cap-1 -> 0..cap-2 of every KV head,
// spread over every thread of the grid. It touches neither slot cap-1 (written by this launch) nor
// anything else this launch reads, so no ordering inside the launch is needed.
template <class T>
__device__ void flat_move(T* kc, T* vc, const int* __restrict__ seen, int M, int NKV, int HS, int cap, int policy) {
    if (policy != KVD_SHIFT_FLAT) return;
    const size_t tid = (size_t)blockIdx.x * blockDim.x + threadIdx.x, nthreads = (size_t)gridDim.x * blockDim.x;
    const size_t len = (size_t)(cap - 1) * HS, rs = (size_t)2 * cap * HS;
    for (int m = 0; m < M; m++) {
        const int n = seen[m];
        if (n < 2 * cap || kvd_flat_slot(n, cap) != cap - 1) continue;
        for (size_t e = tid; e < (size_t)NKV * len; e += nthreads) {
            const size_t g = e / len, r = e - g * len;
            const size_t dst = ((size_t)m * NKV + g) * rs + r;
            kc[dst] = kc[dst + (size_t)(cap + 1) * HS];
            vc[dst] = vc[dst + (size_t)(cap + 1) * HS];
        }
    }
}

// x (M,K) T, w (N,K) T with N = (NH + 2 NKV) HS, bias (N) T or null, seen (M) int
//   -> q (M, NH HS) f32; kc,vc (M, NKV, rowSlots, HS) T: slot of seen[m] per the policy
template <class T, class Pos>
__device__ void gemv_qkv_append(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                float* __restrict__ q, T* kc, T* vc, const int* __restrict__ seen,
                                int M, int K, int NH, int NKV, int HS, int cap, int policy, Pos pos_hook) {
    flat_move(kc, vc, seen, M, NKV, HS, cap, policy);
    const int HH = (HS + 1) >> 1;
    const int p = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (p >= (NH + 2 * NKV) * HH) return;  // whole warps only
    const int lane = threadIdx.x & 31;
    const int u = p / HH, i = p - u * HH;
    const int n0 = u * HS + i;
    const bool paired = i + HH < HS;        // odd HS: the unit's last column has no partner
    const int n1 = paired ? n0 + HH : n0;   // unpaired: computed twice, stored once
    float acc0[MAX_ROWS], acc1[MAX_ROWS];
    constexpr int VEC = 16 / sizeof(T);
    const bool vec = (K % VEC == 0) && ((reinterpret_cast<size_t>(x) | reinterpret_cast<size_t>(w)) % 16 == 0);
    if (vec) dot_rows_pair<T, VEC>(x, w + (size_t)n0 * K, w + (size_t)n1 * K, M, K, acc0, acc1);
    else dot_rows_pair<T, 1>(x, w + (size_t)n0 * K, w + (size_t)n1 * K, M, K, acc0, acc1);
    const float b0 = kvd_bias(bias, n0), b1 = kvd_bias(bias, n1);
    const int rs = kvd_row_slots(cap, policy);
#pragma unroll
    for (int m = 0; m < MAX_ROWS; m++) {
        if (m < M && lane == m) {
            float lo = acc0[m] + b0, hi = acc1[m] + b1;
            const int pos = seen[m];
            if (u < NH) {
                if (paired && (HS & 1) == 0) pos_hook(lo, hi, i, HS, pos);
                float* qr = q + (size_t)m * NH * HS;
                qr[n0] = lo;
                if (paired) qr[n1] = hi;
            } else {
                const int slot = kvd_append_slot(pos, cap, policy);
                if (slot >= 0) {
                    const bool key = u < NH + NKV;
                    if (key && paired && (HS & 1) == 0) pos_hook(lo, hi, i, HS, pos);
                    const int g = key ? u - NH : u - NH - NKV;
                    T* row = (key ? kc : vc) + (((size_t)m * NKV + g) * rs + slot) * HS;
                    row[i] = kvd_from_float<T>(lo);
                    if (paired) row[i + HH] = kvd_from_float<T>(hi);
                }
            }
        }
    }
}

// The LayerNorm prologue of gemv_ln (the same normalize_row, same bits), then the above.
template <class T, class Pos>
__device__ void gemv_ln_qkv_append(const float* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                   float eps, const T* __restrict__ w, const T* __restrict__ bias, float* __restrict__ q,
                                   T* kc, T* vc, const int* __restrict__ seen, int M, int K, int NH, int NKV, int HS,
                                   int cap, int policy, Pos pos_hook) {
    extern __shared__ float kvd_gemv_smem[];
    T* xs = reinterpret_cast<T*>(kvd_gemv_smem);
    for (int m = 0; m < M; m++) kvd_layernorm::normalize_row(x + (size_t)m * K, gamma, beta, xs + (size_t)m * K, K, eps);
    __syncthreads();
    gemv_qkv_append<T, Pos>(xs, w, bias, q, kc, vc, seen, M, K, NH, NKV, HS, cap, policy, pos_hook);
}

}  // namespace kvd_gemv

// grid (ceil((NH + 2 NKV) ceil(HS/2) / 8)), block 256 (8 warps, one column pair each). M <= 8.
// policy: KVD_SHIFT_FLAT, KVD_RING or KVD_STOP (the in-place KVD_SHIFT needs one block per row: kv_append).
// x (M,K) T, w ((NH+2NKV)HS, K) T, bias ((NH+2NKV)HS) T or null, seen (M) int
//   -> q (M, NH HS) f32, kc,vc (M, NKV, rowSlots, HS) T (one layer) at seen[m]'s slot
#define KVD_GEMV_QKV_APPEND(SUF, T)                                                                    \
    extern "C" __global__ void gemv_qkv_append_##SUF(const T* x, const T* w, const T* bias, float* q, T* kc, T* vc, \
                                                     const int* seen, int M, int K, int NH, int NKV, int HS, \
                                                     int cap, int policy) {                            \
        kvd_pdl_wait();                                                                                 \
        kvd_gemv::gemv_qkv_append<T>(x, w, bias, q, kc, vc, seen, M, K, NH, NKV, HS, cap, policy,       \
                                     kvd_gemv::NoPositionHook{});                                      \
    }                                                                                                  \
    extern "C" __global__ void gemv_ln_qkv_append_##SUF(const float* x, const T* gamma, const T* beta, float eps, \
                                                        const T* w, const T* bias, float* q, T* kc, T* vc, \
                                                        const int* seen, int M, int K, int NH, int NKV, int HS, \
                                                        int cap, int policy) {                         \
        kvd_pdl_wait();                                                                                        \
        kvd_gemv::gemv_ln_qkv_append<T>(x, gamma, beta, eps, w, bias, q, kc, vc, seen, M, K, NH, NKV, HS, cap, \
                                        policy, kvd_gemv::NoPositionHook{});                           \
    }
// x (M,K) f32 (ln_: the residual stream, gamma,beta (K) f32) | T, w, bias f32 -> q f32, kc,vc f32
KVD_GEMV_QKV_APPEND(f32, float)
// x (M,K) f32 (ln_, gamma,beta (K) f16) | f16, w, bias f16 -> q f32, kc,vc f16
KVD_GEMV_QKV_APPEND(f16, __half)
// x (M,K) f32 (ln_, gamma,beta (K) bf16) | bf16, w, bias bf16 -> q f32, kc,vc bf16
KVD_GEMV_QKV_APPEND(bf16, __nv_bfloat16)

// ---- The LM head with greedy argmax's first half in its epilogue (issue 17) ----
// Besides the logits (gemv_bias's bits: callers that read logits still get them), each block
// leaves, per row, its best column and value among its 8 (largest, lowest index on ties, as
// sample_argmax orders them); sample_argmax_partials (sampling.cu) then reduces the ceil(N/8)
// partials per row instead of one block re-reading all N logits. NaN never wins a comparison.
namespace kvd_gemv {

__device__ inline bool argmax_better(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }

// x (M,K) T, w (N,K) T, bias (N) T or null -> out (M,N) f32, pmax (M, gridDim.x) f32, pidx (M, gridDim.x) int
template <class T>
__device__ void gemv_bias_argmax(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                 float* __restrict__ out, float* __restrict__ pmax, int* __restrict__ pidx,
                                 int M, int K, int N) {
    __shared__ float sv[32 * MAX_ROWS];
    __shared__ int si[32 * MAX_ROWS];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
    const int n = blockIdx.x * nwarps + warp;
    float mine = -INFINITY;
    int idx = N;  // sentinel: loses to every column
    if (n < N) {  // no early return: the block meets at the barrier below
        float acc[MAX_ROWS];
        constexpr int VEC = 16 / sizeof(T);
        const bool vec = (K % VEC == 0) && ((reinterpret_cast<size_t>(x) | reinterpret_cast<size_t>(w)) % 16 == 0);
        if (vec) dot_rows<T, VEC>(x, w + (size_t)n * K, M, K, acc);
        else dot_rows<T, 1>(x, w + (size_t)n * K, M, K, acc);
        const float b = kvd_bias(bias, n);
#pragma unroll
        for (int m = 0; m < MAX_ROWS; m++) {
            if (m < M && lane == m) {
                mine = acc[m] + b;
                out[(size_t)m * N + n] = mine;
                idx = n;
            }
        }
    }
    if (lane < MAX_ROWS) {  // lane m holds row m's value of column n
        sv[warp * MAX_ROWS + lane] = mine;
        si[warp * MAX_ROWS + lane] = idx;
    }
    __syncthreads();
    if ((int)threadIdx.x < M) {
        const int m = threadIdx.x;
        float bv = -INFINITY;
        int bi = N;
        for (int k = 0; k < nwarps; k++) {
            const float v = sv[k * MAX_ROWS + m];
            const int i = si[k * MAX_ROWS + m];
            if (argmax_better(v, i, bv, bi)) { bv = v; bi = i; }
        }
        pmax[(size_t)m * gridDim.x + blockIdx.x] = bv;
        pidx[(size_t)m * gridDim.x + blockIdx.x] = bi;
    }
}

template <class T>
__device__ void gemv_ln_bias_argmax(const float* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                    float eps, const T* __restrict__ w, const T* __restrict__ bias, float* __restrict__ out,
                                    float* __restrict__ pmax, int* __restrict__ pidx, int M, int K, int N) {
    extern __shared__ float kvd_gemv_smem[];
    T* xs = reinterpret_cast<T*>(kvd_gemv_smem);
    for (int m = 0; m < M; m++) kvd_layernorm::normalize_row(x + (size_t)m * K, gamma, beta, xs + (size_t)m * K, K, eps);
    __syncthreads();
    gemv_bias_argmax<T>(xs, w, bias, out, pmax, pidx, M, K, N);
}

}  // namespace kvd_gemv

// grid (P = ceil(N/8)), block 256; gemv_ln_: dynamic shared memory M x K x sizeof(T). M <= 8.
// x (M,K) T (gemv_) | f32 with gamma,beta (K) T (gemv_ln_), w (N,K) T, bias (N) T or null
//   -> out (M,N) f32 logits, pmax (M,P) f32, pidx (M,P) int
#define KVD_GEMV_ARGMAX(SUF, T)                                                                        \
    extern "C" __global__ void gemv_bias_argmax_##SUF(const T* x, const T* w, const T* bias, float* out, float* pmax, \
                                                      int* pidx, int M, int K, int N) {                \
        kvd_pdl_wait();                                                                                \
        kvd_gemv::gemv_bias_argmax<T>(x, w, bias, out, pmax, pidx, M, K, N);                           \
    }                                                                                                  \
    extern "C" __global__ void gemv_ln_bias_argmax_##SUF(const float* x, const T* gamma, const T* beta, float eps, \
                                                         const T* w, const T* bias, float* out, float* pmax, \
                                                         int* pidx, int M, int K, int N) {             \
        kvd_pdl_wait();                                                                                \
        kvd_gemv::gemv_ln_bias_argmax<T>(x, gamma, beta, eps, w, bias, out, pmax, pidx, M, K, N);      \
    }
// f32 weights; x f32
KVD_GEMV_ARGMAX(f32, float)
// f16 weights; x f16 (gemv_) or f32 (gemv_ln_)
KVD_GEMV_ARGMAX(f16, __half)
// bf16 weights; x bf16 (gemv_) or f32 (gemv_ln_)
KVD_GEMV_ARGMAX(bf16, __nv_bfloat16)
