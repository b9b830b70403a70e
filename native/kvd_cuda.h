// Common header of every kvdecode kernel (native/*.cu). nvcc builds the .cu files into the fatbin;
// the device emulator (native/emu, issue 8) compiles the very same files with g++ and KVD_EMU set.
//
// Symbols (docs/ARCHITECTURE.md): B batch, T tokens, C width, NH heads, HS = C/NH head size,
// V vocabulary, maxT positions, cap = KV-cache capacity (context window).
//
// Conventions shared by all kernels:
// - Activations on the residual stream and every GEMM output are fp32. Weights and the KV cache
//   are in the model dtype T (float, __half or __nv_bfloat16); buffers that feed a cuBLAS GEMM are
//   written in T as well (cublasGemmEx needs A and B of one type). Arithmetic is fp32 throughout.
// - Entry points are extern "C" wrappers named <op>_<dtype> (dtype = f32/f16/bf16 where the op
//   reads weights/cache of that dtype) around one __device__ template.
// - Kernels work for any blockDim.x that is a multiple of 32 and <= 1024 (block reductions use
//   full-warp shuffles); launchers use the block sizes documented at each entry point.
// - Scalar arguments are int or float only (4 bytes each), pointers are device pointers; an
//   optional pointer (bias) may be 0 and is then skipped.
// - Device-side step counter: seen[b] (int) = tokens of sequence b already in the cache before the
//   current decode step. Within a step: embedding uses position min(seen, maxT-1); kv_append writes
//   this step's K/V; attention covers min(seen+1, cap) entries; counters_advance adds 1; then the
//   sampler writes token number seen[b] (after the advance) into ring slot seen[b] % ringCap.
#pragma once

#if defined(KVD_EMU)
#include "emu/kvd_emu.h"
#include <cstring>
#include <cmath>
#elif defined(__CUDACC__)
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#else
#error "kvd_cuda.h: compile with nvcc, or with g++ -DKVD_EMU for the device emulator"
#endif

// KvCache overflow policy: the ordinals of dev.kvdecode.runtime.cache.OverflowPolicy.
#define KVD_SHIFT 0
#define KVD_RING 1
#define KVD_STOP 2
// SHIFT over a buffer of twice the capacity (issue 17; docs/ARCHITECTURE.md, Overflow): the same
// logical window as SHIFT, but the entries move once per cap+1 tokens instead of every token.
// Not an OverflowPolicy ordinal: the runtime picks it for SHIFT in cached decoding.
#define KVD_SHIFT_FLAT 3

// Slots of one (b, h) row of the cache: 2 cap for the flat shift, cap otherwise.
__device__ inline int kvd_row_slots(int cap, int policy) { return policy == KVD_SHIFT_FLAT ? 2 * cap : cap; }

// Flat shift: the slot of token number t (0-based). Tokens fill slots 0..2cap-1; token 2cap finds
// the buffer full, the last cap-1 entries (slots cap+1..2cap-1) move to slots 0..cap-2 and it takes
// slot cap-1; from then on every cap+1 tokens repeat that. Host twin: CudaKvCache.flatSlot.
__device__ inline int kvd_flat_slot(int t, int cap) {
    return t < 2 * cap ? t : cap - 1 + (t - 2 * cap) % (cap + 1);
}

// Where a decode step's K/V entry goes for a sequence with n entries already written (the
// counter seen[b]); -1: nothing is written (STOP when full; the host ends generation before that
// happens). Shared by kv_append and the qkv GEMV's append epilogue (gemv.cu).
__device__ inline int kvd_append_slot(int n, int cap, int policy) {
    if (policy == KVD_SHIFT_FLAT) return kvd_flat_slot(n, cap);
    if (n < cap) return n;
    if (policy == KVD_SHIFT) return cap - 1;
    if (policy == KVD_RING) return n % cap;
    return -1;
}

#define KVD_FULL_MASK 0xffffffffu

// Programmatic dependent launch (Hopper and later; issue 17). A kernel launched with
// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION (CudaKernels, where the device and
// CudaOptions allow it) may start while its predecessor in the stream is still running, so its
// launch and block scheduling overlap that kernel's tail. Such a kernel must wait here before it
// reads anything an earlier kernel wrote, or writes anything an earlier kernel reads: the kernels
// that CudaKernels launches this way call it first thing, before any global memory access (the
// emulator closes device memory to a block until it has). Every one of them waits, so completion
// stays transitive: kernel n+1's wait covers kernel n, which itself waited for n-1. Right after the
// wait the kernel lets its own successor launch (launch_dependents): that successor's blocks then
// only wait in turn. A no-op below sm_90 and in launches without the attribute.
__device__ inline void kvd_pdl_wait() {
#if defined(KVD_EMU)
    kvd_emu_grid_dependency_wait();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// ---- dtype conversions (fp32 compute, round-to-nearest-even stores) ----
__device__ inline float kvd_to_float(float x) { return x; }
__device__ inline float kvd_to_float(__half x) { return __half2float(x); }
__device__ inline float kvd_to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class T> __device__ inline T kvd_from_float(float x);
template <> __device__ inline float kvd_from_float<float>(float x) { return x; }
template <> __device__ inline __half kvd_from_float<__half>(float x) { return __float2half_rn(x); }
template <> __device__ inline __nv_bfloat16 kvd_from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// Optional bias: 0 when the pointer is null (GPT-2 has a qkv bias, the tutorial's char model not).
template <class T> __device__ inline float kvd_bias(const T* bias, int i) {
    return bias ? kvd_to_float(bias[i]) : 0.0f;
}

// Reinterpret fp32 bits (the samplers order floats by their bits).
__device__ inline unsigned int kvd_float_bits(float x) {
#if defined(KVD_EMU)
    unsigned int u; std::memcpy(&u, &x, 4); return u;
#else
    return __float_as_uint(x);
#endif
}

// ---- reductions. Butterfly (xor) shuffles: every lane ends with the same bits, since fp32
// addition is commutative and each lane combines the same pairs. ----
__device__ inline float kvd_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(KVD_FULL_MASK, v, o);
    return v;
}
__device__ inline float kvd_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(KVD_FULL_MASK, v, o));
    return v;
}

// Block-wide sum/max; every thread gets the result. scratch: 32 floats of __shared__ memory.
// The leading barrier lets consecutive calls reuse one scratch array.
__device__ inline float kvd_block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = kvd_warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return kvd_warp_sum(lane < nwarps ? scratch[lane] : 0.0f);
}
__device__ inline float kvd_block_max(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = kvd_warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return kvd_warp_max(lane < nwarps ? scratch[lane] : -INFINITY);
}
