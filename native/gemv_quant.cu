// Matrix-vector products over ggml block-quantized weights (issue 20): out (M, N) = x (M, K) . W^T
// for M <= 8 rows, W (N, K) kept as a GGUF file stores it (each output's K weights are K / E
// consecutive blocks: Q8_0 and Q4_0 E = 32, Q4_K and Q6_K E = 256; layouts in
// kernels/.../GgmlBlocks.java), dequantized in the load path, fp32 accumulation, and the epilogues
// of gemv.cu:
//   gemv_q_bias_<q>            out (f32) = acc + bias
//   gemv_q_bias_residual_<q>   resid (f32) += acc + bias
//   gemv_q_bias_gelu_tanh_<q>  out (f32) = GELU_tanh(acc + bias)   (Hendrycks & Gimpel 2016)
//   gemv_q_bias_gelu_erf_<q>   out (f32) = GELU(acc + bias)
//   gemv_q_bias_relu_<q>       out (f32) = max(acc + bias, 0)
// x, bias and out are fp32 (the f32 session's activations). CPU twin: GgmlBlocks.dequantize, then
// Matmul.matmul and Activations.apply / Residual.add (CudaQuantGemvTest).
//
// Version 1 (this file): one warp per output column n, as gemv.cu. The row's K weights are cut
// into units of 32 (a Q8_0/Q4_0 block, a Q4_K sub-block with one scale and min, half of a Q6_K
// group pair); lane l takes units l, l + 32, ..., dequantizes the unit's 32 weights with the fp32
// operations of GgmlBlocks (no rounding differs: d * sc and the products with q are exact in
// fp32 except Q6_K's (d * sc) * q, computed in the same order), and adds x[m] * w into its
// per-row sums in element order; a butterfly over the lanes. Byte loads; the fp16 scales are
// read as 2 bytes (every field starts at an even offset). Batch invariance as gemv.cu: row m's
// sum is the same sequence of operations whatever M is.
#include "kvd_cuda.h"

namespace kvd_gemv_quant {

constexpr int MAX_ROWS = 8;

enum Format { Q8_0, Q4_0, Q4_K, Q6_K };
enum Epilogue { BIAS, BIAS_RESIDUAL, BIAS_GELU_TANH, BIAS_GELU_ERF, BIAS_RELU };

template <Format F> struct Block;
template <> struct Block<Q8_0> { static constexpr int E = 32, BYTES = 34; };
template <> struct Block<Q4_0> { static constexpr int E = 32, BYTES = 18; };
template <> struct Block<Q4_K> { static constexpr int E = 256, BYTES = 144; };
template <> struct Block<Q6_K> { static constexpr int E = 256, BYTES = 210; };

__device__ inline float f16_at(const unsigned char* p) {
    unsigned short bits = (unsigned short)(p[0] | (p[1] << 8));
    __half h;
    memcpy(static_cast<void*>(&h), &bits, 2);
    return __half2float(h);
}

// unit u (32 weights) of one output's row of blocks -> w[0..32), GgmlBlocks' values bit for bit
template <Format F>
__device__ inline void dequant_unit(const unsigned char* __restrict__ row, int u, float* w) {
    if constexpr (F == Q8_0) {
        const unsigned char* b = row + (size_t)u * 34;
        const float d = f16_at(b);
#pragma unroll
        for (int j = 0; j < 32; j++) w[j] = (float)(signed char)b[2 + j] * d;
    } else if constexpr (F == Q4_0) {
        const unsigned char* b = row + (size_t)u * 18;
        const float d = f16_at(b);
#pragma unroll
        for (int j = 0; j < 16; j++) {
            const int v = b[2 + j];
            w[j] = d * (float)((v & 15) - 8);
            w[j + 16] = d * (float)((v >> 4) - 8);
        }
    } else if constexpr (F == Q4_K) {
        const unsigned char* b = row + (size_t)(u >> 3) * 144;
        const int sub = u & 7;
        const float d = f16_at(b), dmin = f16_at(b + 2);
        const unsigned char* sc = b + 4;
        int scale, mn;
        if (sub < 4) {
            scale = sc[sub] & 63;
            mn = sc[sub + 4] & 63;
        } else {
            scale = (sc[sub + 4] & 15) | ((sc[sub - 4] >> 6) << 4);
            mn = (sc[sub + 4] >> 4) | ((sc[sub] >> 6) << 4);
        }
        const float ds = d * (float)scale, dm = dmin * (float)mn;
        const unsigned char* q = b + 16 + 32 * (sub >> 1);
        const int shift = (sub & 1) * 4;
#pragma unroll
        for (int j = 0; j < 32; j++) w[j] = ds * (float)((q[j] >> shift) & 15) - dm;  // ds * q exact: a contraction rounds alike
    } else {
        const unsigned char* b = row + (size_t)(u >> 3) * 210;
        const unsigned char *ql = b, *qh = b + 128;
        const signed char* sc = reinterpret_cast<const signed char*>(b + 192);
        const float d = f16_at(b + 208);
        const int e0 = (u & 7) * 32;
        const float ds0 = d * (float)sc[e0 >> 4], ds1 = d * (float)sc[(e0 >> 4) + 1];
#pragma unroll
        for (int j = 0; j < 32; j++) {
            const int e = e0 + j, h = e >> 7, r = e & 127;
            const int lo = (ql[64 * h + (r & 63)] >> (4 * (r >> 6))) & 15;
            const int hi = (qh[32 * h + (r & 31)] >> (2 * (r >> 5))) & 3;
            w[j] = (j < 16 ? ds0 : ds1) * (float)((lo | (hi << 4)) - 32);
        }
    }
}

__device__ inline float gelu_tanh(float v) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi), as activation.cu
    return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
}

// x (M,K) f32, w (N rows of K/E blocks), bias (N) f32 or null -> out (M,N) f32 (BIAS_RESIDUAL: in/out)
template <Format F, Epilogue E>
__device__ void gemv_q(const float* __restrict__ x, const unsigned char* __restrict__ w, const float* __restrict__ bias,
                       float* out, int M, int K, int N) {
    const int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= N) return;  // whole warps only
    const int lane = threadIdx.x & 31;
    const unsigned char* row = w + (size_t)n * (K / Block<F>::E) * Block<F>::BYTES;
    float acc[MAX_ROWS];
#pragma unroll
    for (int m = 0; m < MAX_ROWS; m++) acc[m] = 0.0f;
    const int units = K / 32;
    for (int u = lane; u < units; u += 32) {
        float wv[32];
        dequant_unit<F>(row, u, wv);
#pragma unroll
        for (int m = 0; m < MAX_ROWS; m++) {
            if (m < M) {
                const float* xm = x + (size_t)m * K + (size_t)u * 32;
                float s = acc[m];
#pragma unroll
                for (int j = 0; j < 32; j++) s += xm[j] * wv[j];
                acc[m] = s;
            }
        }
    }
#pragma unroll
    for (int m = 0; m < MAX_ROWS; m++)
        if (m < M)  // uniform over the warp
            for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(KVD_FULL_MASK, acc[m], o);
    const float b = bias ? bias[n] : 0.0f;
#pragma unroll
    for (int m = 0; m < MAX_ROWS; m++) {
        if (m < M && lane == m) {
            const float v = acc[m] + b;
            float* o = out + (size_t)m * N + n;
            if constexpr (E == BIAS) *o = v;
            else if constexpr (E == BIAS_RESIDUAL) *o = *o + v;
            else if constexpr (E == BIAS_GELU_TANH) *o = gelu_tanh(v);
            else if constexpr (E == BIAS_GELU_ERF) *o = 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
            else *o = fmaxf(v, 0.0f);
        }
    }
}

}  // namespace kvd_gemv_quant

// grid (ceil(N/8)), block 256 (8 warps, one output column each). M <= 8, K a multiple of E.
#define KVD_QGEMV(NAME, SUF, F, E)                                                                     \
    extern "C" __global__ void NAME##_##SUF(const float* x, const unsigned char* w, const float* bias, float* out, \
                                            int M, int K, int N) {                                     \
        kvd_gemv_quant::gemv_q<kvd_gemv_quant::F, kvd_gemv_quant::E>(x, w, bias, out, M, K, N);        \
    }
#define KVD_QGEMVS(SUF, F)                                                                             \
    KVD_QGEMV(gemv_q_bias, SUF, F, BIAS)                                                               \
    KVD_QGEMV(gemv_q_bias_residual, SUF, F, BIAS_RESIDUAL)                                             \
    KVD_QGEMV(gemv_q_bias_gelu_tanh, SUF, F, BIAS_GELU_TANH)                                           \
    KVD_QGEMV(gemv_q_bias_gelu_erf, SUF, F, BIAS_GELU_ERF)                                             \
    KVD_QGEMV(gemv_q_bias_relu, SUF, F, BIAS_RELU)
// x (M,K) f32, w (N, K/E blocks), bias (N) f32 or null -> out (M,N) f32 (residual: in/out)
KVD_QGEMVS(q8_0, Q8_0)
KVD_QGEMVS(q4_0, Q4_0)
KVD_QGEMVS(q4_k, Q4_K)
KVD_QGEMVS(q6_k, Q6_K)
