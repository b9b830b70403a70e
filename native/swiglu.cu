// The gated MLP's middle (SwiGLU, Shazeer 2020): h = silu(gate + b_gate) * (up + b_up), from the
// fused [gate | up] projection (fp32, no bias) to the dtype that feeds the down projection.
// CPU twin: dev.kvdecode.kernels.Activations.gated with SILU (which evaluates SiLU in double and
// rounds once; we evaluate x / (1 + exp(-x)) in fp32: within a few ulp). SiLU: Elfwing et al. 2017.
#include "kvd_cuda.h"

namespace kvd_swiglu {

template <class T>
__device__ void swiglu(const float* __restrict__ gu, const T* __restrict__ bias, T* __restrict__ out, int N, int I) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)N * I; i += (size_t)gridDim.x * blockDim.x) {
        const size_t t = i / I;
        const int c = (int)(i - t * I);
        const float g = gu[t * 2 * I + c] + kvd_bias(bias, c);
        const float u = gu[t * 2 * I + I + c] + kvd_bias(bias, I + c);
        const float a = g / (1.0f + expf(-g));  // silu, rounded to fp32 before the product as transformers
        out[i] = kvd_from_float<T>(a * u);
    }
}

}  // namespace kvd_swiglu

// grid (ceil(N*I/256)), block 256, grid-strided.
// gu (N,2I) f32 [gate | up], bias (2I) T or null -> out (N,I) T
#define KVD_SWIGLU(SUF, T)                                                                           \
    extern "C" __global__ void swiglu_##SUF(const float* gu, const T* bias, T* out, int N, int I) { \
        kvd_swiglu::swiglu<T>(gu, bias, out, N, I);                                                  \
    }
// gu (N,2I) f32, bias (2I) f32 or null -> out (N,I) f32
KVD_SWIGLU(f32, float)
// gu (N,2I) f32, bias (2I) f16 or null -> out (N,I) f16
KVD_SWIGLU(f16, __half)
// gu (N,2I) f32, bias (2I) bf16 or null -> out (N,I) bf16
KVD_SWIGLU(bf16, __nv_bfloat16)
