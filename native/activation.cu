// MLP nonlinearities with the preceding bias fused (the fc GEMM leaves y = x W without bias), and
// residual/bias adds. CPU twins: dev.kvdecode.kernels.Activations (evaluates in double and rounds
// once; we evaluate in fp32: within a few ulp, see the tests' tolerances) and Residual.
// GELU tanh form and exact form: Hendrycks & Gimpel 2016 (sec. 2 and eq. 1).
#include "kvd_cuda.h"

namespace kvd_activation {

__device__ inline float gelu_tanh(float v) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi)
    return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
}
__device__ inline float gelu_erf(float v) { return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f)); }
__device__ inline float relu(float v) { return fmaxf(v, 0.0f); }

#define KVD_GRID_STRIDE(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n); i += (size_t)gridDim.x * blockDim.x)

enum Act { GELU_TANH, GELU_ERF, RELU };

template <class T, Act A>
__device__ void bias_act(const float* __restrict__ x, const T* __restrict__ bias, T* __restrict__ out, int N, int D) {
    KVD_GRID_STRIDE(i, (size_t)N * D) {
        const float v = x[i] + kvd_bias(bias, (int)(i % D));
        const float y = A == GELU_TANH ? gelu_tanh(v) : A == GELU_ERF ? gelu_erf(v) : relu(v);
        out[i] = kvd_from_float<T>(y);
    }
}

template <class T>
__device__ void bias_residual_add(float* __restrict__ resid, const float* __restrict__ y, const T* __restrict__ bias,
                                  int N, int D) {
    KVD_GRID_STRIDE(i, (size_t)N * D) resid[i] = resid[i] + (y[i] + kvd_bias(bias, (int)(i % D)));
}

template <class T>
__device__ void bias_add(float* __restrict__ x, const T* __restrict__ bias, int N, int D) {
    KVD_GRID_STRIDE(i, (size_t)N * D) x[i] = x[i] + kvd_bias(bias, (int)(i % D));
}

}  // namespace kvd_activation

// Elementwise kernels: grid (min(ceil(N*D/256), 65535)), block 256 (grid-stride loop).
#define KVD_BIAS_ACT(NAME, SUF, T, A)                                                                 \
    extern "C" __global__ void NAME##_##SUF(const float* x, const T* bias, T* out, int N, int D) {   \
        kvd_activation::bias_act<T, kvd_activation::A>(x, bias, out, N, D);                          \
    }
// out = GELU_tanh(x + bias). x (N,D) f32, bias (D) T or null -> out (N,D) T
KVD_BIAS_ACT(bias_gelu_tanh, f32, float, GELU_TANH)
KVD_BIAS_ACT(bias_gelu_tanh, f16, __half, GELU_TANH)
KVD_BIAS_ACT(bias_gelu_tanh, bf16, __nv_bfloat16, GELU_TANH)
// out = GELU_erf(x + bias). x (N,D) f32, bias (D) T or null -> out (N,D) T
KVD_BIAS_ACT(bias_gelu_erf, f32, float, GELU_ERF)
KVD_BIAS_ACT(bias_gelu_erf, f16, __half, GELU_ERF)
KVD_BIAS_ACT(bias_gelu_erf, bf16, __nv_bfloat16, GELU_ERF)
// out = max(0, x + bias). x (N,D) f32, bias (D) T or null -> out (N,D) T
KVD_BIAS_ACT(bias_relu, f32, float, RELU)
KVD_BIAS_ACT(bias_relu, f16, __half, RELU)
KVD_BIAS_ACT(bias_relu, bf16, __nv_bfloat16, RELU)

// resid = resid + (y + bias). resid (N,D) f32 in/out, y (N,D) f32, bias (D) T or null
#define KVD_BIAS_RESIDUAL_ADD(SUF, T)                                                                 \
    extern "C" __global__ void bias_residual_add_##SUF(float* resid, const float* y, const T* bias, int N, int D) { \
        kvd_activation::bias_residual_add<T>(resid, y, bias, N, D);                                    \
    }
KVD_BIAS_RESIDUAL_ADD(f32, float)
KVD_BIAS_RESIDUAL_ADD(f16, __half)
KVD_BIAS_RESIDUAL_ADD(bf16, __nv_bfloat16)

// x = x + bias (e.g. the char model's LM-head bias on the logits). x (N,D) f32 in/out, bias (D) T
#define KVD_BIAS_ADD(SUF, T)                                                                          \
    extern "C" __global__ void bias_add_##SUF(float* x, const T* bias, int N, int D) {               \
        kvd_activation::bias_add<T>(x, bias, N, D);                                                   \
    }
KVD_BIAS_ADD(f32, float)
KVD_BIAS_ADD(f16, __half)
KVD_BIAS_ADD(bf16, __nv_bfloat16)
