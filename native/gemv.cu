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
