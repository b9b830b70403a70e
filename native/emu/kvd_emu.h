// Device-side half of the kvdecode device emulator (issue 8). native/kvd_cuda.h includes this when
// the kernels are compiled by g++ with -DKVD_EMU instead of nvcc, so the very same native/*.cu
// sources run on the host:
// - __global__/__device__ are plain host functions; CUDA's own cuda_fp16.h/cuda_bf16.h (which work
//   in host code since CUDA 12) provide __half and __nv_bfloat16.
// - Each thread of a block is a cooperative fiber (kvd_emu_fiber.cpp). threadIdx reads the running
//   fiber's record; __syncthreads and every warp-level intrinsic switch back to the block scheduler,
//   which resumes a fiber only when its barrier or warp operation is complete, so barriers and
//   shuffles keep their CUDA semantics, partial warps included.
// - __shared__ becomes thread_local: at block scope that implies static storage, which all fibers
//   of a block share (they run on one OS thread, blocks run one after another), and
//   `extern __shared__ T name[]` stays a valid declaration whose definition the build generates
//   (global-dynamic TLS: initial-exec TLS in a dlopened library fails with "cannot allocate memory
//   in static TLS block").
#pragma once

#ifndef KVD_EMU
#error "kvd_emu.h is the device emulator's header: compile with -DKVD_EMU"
#endif

#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

// CUDA's host_defines.h (pulled in by cuda_fp16.h) defines these as host attributes; redefine the
// ones whose meaning differs on the emulator.
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __managed__
#ifdef KVD_EMU_SCAN
#define __global__ __kvd_emu_global__  // scripts/build-emu.sh finds the kernels by this marker
#else
#define __global__
#endif
#define __device__
#define __host__
#define __shared__ thread_local
#define __constant__
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
#ifndef __forceinline__
#define __forceinline__ inline __attribute__((always_inline))
#endif
#ifndef __restrict__
#define __restrict__ __restrict
#endif

#if defined(KVD_EMU_BUILDING_RUNTIME)
#define KVD_EMU_API extern "C" __attribute__((visibility("default")))
#else
#define KVD_EMU_API extern "C"
#endif

// ---- the running thread and block (set by the scheduler) ----
struct kvd_emu_thread {
    uint3 idx;
};
struct kvd_emu_block {
    uint3 idx;
    dim3 dim;
    dim3 gridDim_;
};
KVD_EMU_API kvd_emu_thread* kvd_emu_current;
KVD_EMU_API kvd_emu_block kvd_emu_grid;

#define threadIdx (kvd_emu_current->idx)
#define blockIdx (kvd_emu_grid.idx)
#define blockDim (kvd_emu_grid.dim)
#define gridDim (kvd_emu_grid.gridDim_)
static constexpr int warpSize = 32;

// ---- barriers and warp-level operations: each is a switch back to the block scheduler ----
enum kvd_emu_warp_kind : int {
    KVD_EMU_SHFL_IDX = 0,
    KVD_EMU_SHFL_UP = 1,
    KVD_EMU_SHFL_DOWN = 2,
    KVD_EMU_SHFL_BFLY = 3,
    KVD_EMU_VOTE_BALLOT = 4,
    KVD_EMU_VOTE_ANY = 5,
    KVD_EMU_VOTE_ALL = 6,
    KVD_EMU_SYNCWARP = 7,
    KVD_EMU_REDUCE_ADD = 8,
    KVD_EMU_REDUCE_MIN = 9,
    KVD_EMU_REDUCE_MAX = 10,
    KVD_EMU_REDUCE_AND = 11,
    KVD_EMU_REDUCE_OR = 12,
    KVD_EMU_REDUCE_XOR = 13,
    KVD_EMU_MATCH_ANY = 14,
};
// kind 0..3: value = the lane's bits, b = source lane/delta/lane mask, c = PTX shfl's clamp word
// ((32 - width) << 8 | clamp); votes/reductions: value = predicate/operand. Returns the result bits.
KVD_EMU_API uint64_t kvd_emu_warp_op(int kind, unsigned mask, uint64_t value, int b, int c);
// mode 0: plain barrier; 1: count; 2: and; 3: or. Returns the reduced predicate.
KVD_EMU_API int kvd_emu_syncthreads(int mode, int predicate);
// griddepcontrol.wait (programmatic dependent launch, kvd_pdl_wait in kvd_cuda.h): the running block
// has waited for its stream predecessor. In a launch with CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_
// SERIALIZATION device memory opens to the block only here, and a block that never calls it fails.
KVD_EMU_API void kvd_emu_grid_dependency_wait(void);
KVD_EMU_API unsigned kvd_emu_activemask(void);

inline void __syncthreads() { kvd_emu_syncthreads(0, 0); }
inline int __syncthreads_count(int p) { return kvd_emu_syncthreads(1, p); }
inline int __syncthreads_and(int p) { return kvd_emu_syncthreads(2, p); }
inline int __syncthreads_or(int p) { return kvd_emu_syncthreads(3, p); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { kvd_emu_warp_op(KVD_EMU_SYNCWARP, mask, 0, 0, 0); }
inline unsigned __activemask() { return kvd_emu_activemask(); }
// Blocks run one after another and to completion, so fences have nothing to order.
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}

namespace kvd_emu_detail {
template <class T> inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 8 bytes");
    uint64_t u = 0;
    std::memcpy(&u, &v, sizeof(T));
    return u;
}
template <class T> inline T from_bits(uint64_t u) {
    T v;
    std::memcpy(&v, &u, sizeof(T));
    return v;
}
}  // namespace kvd_emu_detail

// CUDA shuffle intrinsics (Programming Guide, "Warp Shuffle Functions"): width must be a power of 2
// <= 32; the clamp word is what the CUDA headers pass to PTX shfl.sync.
template <class T> inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
    return kvd_emu_detail::from_bits<T>(kvd_emu_warp_op(KVD_EMU_SHFL_IDX, mask, kvd_emu_detail::to_bits(var),
                                                        srcLane, ((warpSize - width) << 8) | 0x1f));
}
template <class T> inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    return kvd_emu_detail::from_bits<T>(kvd_emu_warp_op(KVD_EMU_SHFL_UP, mask, kvd_emu_detail::to_bits(var),
                                                        (int)delta, (warpSize - width) << 8));
}
template <class T> inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    return kvd_emu_detail::from_bits<T>(kvd_emu_warp_op(KVD_EMU_SHFL_DOWN, mask, kvd_emu_detail::to_bits(var),
                                                        (int)delta, ((warpSize - width) << 8) | 0x1f));
}
template <class T> inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
    return kvd_emu_detail::from_bits<T>(kvd_emu_warp_op(KVD_EMU_SHFL_BFLY, mask, kvd_emu_detail::to_bits(var),
                                                        laneMask, ((warpSize - width) << 8) | 0x1f));
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    return (unsigned)kvd_emu_warp_op(KVD_EMU_VOTE_BALLOT, mask, pred != 0, 0, 0);
}
inline int __any_sync(unsigned mask, int pred) { return (int)kvd_emu_warp_op(KVD_EMU_VOTE_ANY, mask, pred != 0, 0, 0); }
inline int __all_sync(unsigned mask, int pred) { return (int)kvd_emu_warp_op(KVD_EMU_VOTE_ALL, mask, pred != 0, 0, 0); }
inline unsigned __reduce_add_sync(unsigned mask, unsigned v) { return (unsigned)kvd_emu_warp_op(KVD_EMU_REDUCE_ADD, mask, v, 0, 0); }
inline int __reduce_add_sync(unsigned mask, int v) { return (int)kvd_emu_warp_op(KVD_EMU_REDUCE_ADD, mask, (unsigned)v, 0, 0); }
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) { return (unsigned)kvd_emu_warp_op(KVD_EMU_REDUCE_MIN, mask, v, 0, 0); }
inline int __reduce_min_sync(unsigned mask, int v) { return (int)kvd_emu_warp_op(KVD_EMU_REDUCE_MIN, mask, (unsigned)v, 1, 0); }
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) { return (unsigned)kvd_emu_warp_op(KVD_EMU_REDUCE_MAX, mask, v, 0, 0); }
inline int __reduce_max_sync(unsigned mask, int v) { return (int)kvd_emu_warp_op(KVD_EMU_REDUCE_MAX, mask, (unsigned)v, 1, 0); }
inline unsigned __reduce_and_sync(unsigned mask, unsigned v) { return (unsigned)kvd_emu_warp_op(KVD_EMU_REDUCE_AND, mask, v, 0, 0); }
inline unsigned __reduce_or_sync(unsigned mask, unsigned v) { return (unsigned)kvd_emu_warp_op(KVD_EMU_REDUCE_OR, mask, v, 0, 0); }
inline unsigned __reduce_xor_sync(unsigned mask, unsigned v) { return (unsigned)kvd_emu_warp_op(KVD_EMU_REDUCE_XOR, mask, v, 0, 0); }
template <class T> inline unsigned __match_any_sync(unsigned mask, T v) {
    return (unsigned)kvd_emu_warp_op(KVD_EMU_MATCH_ANY, mask, kvd_emu_detail::to_bits(v), 0, 0);
}

// ---- atomics: fibers switch only at barriers and warp operations, so a read-modify-write is atomic ----
template <class T> inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
inline __half atomicAdd(__half* p, __half v) { __half old = *p; *p = __float2half(__half2float(old) + __half2float(v)); return old; }
template <class T> inline T atomicSub(T* p, T v) { T old = *p; *p = old - v; return old; }
template <class T> inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <class T> inline T atomicMax(T* p, T v) { T old = *p; if (v > old) *p = v; return old; }
template <class T> inline T atomicMin(T* p, T v) { T old = *p; if (v < old) *p = v; return old; }
template <class T> inline T atomicAnd(T* p, T v) { T old = *p; *p = old & v; return old; }
template <class T> inline T atomicOr(T* p, T v) { T old = *p; *p = old | v; return old; }
template <class T> inline T atomicXor(T* p, T v) { T old = *p; *p = old ^ v; return old; }
template <class T> inline T atomicCAS(T* p, T compare, T v) { T old = *p; if (old == compare) *p = v; return old; }
inline unsigned atomicInc(unsigned* p, unsigned limit) { unsigned old = *p; *p = old >= limit ? 0 : old + 1; return old; }
inline unsigned atomicDec(unsigned* p, unsigned limit) { unsigned old = *p; *p = (old == 0 || old > limit) ? limit : old - 1; return old; }

// ---- integer and bit intrinsics ----
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(x);
}
inline int __mul24(int a, int b) { return a * b; }
inline unsigned __umul24(unsigned a, unsigned b) { return a * b; }
inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
inline long long clock64() { return (long long)__builtin_ia32_rdtsc(); }

// ---- float intrinsics (host libm; the fast-math variants are the accurate ones here) ----
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned i) { float x; std::memcpy(&x, &i, 4); return x; }
inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return powf(10.0f, x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __tanhf(float x) { return tanhf(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f)); }
inline float exp10f(float x) { return powf(10.0f, x); }
inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }
inline void sincosf_(float x, float* s, float* c) { *s = sinf(x); *c = cosf(x); }
// CUDA's device min/max overloads for integers (floats use fminf/fmaxf or these).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline unsigned min(int a, unsigned b) { return min((unsigned)a, b); }
inline unsigned max(int a, unsigned b) { return max((unsigned)a, b); }
inline unsigned min(unsigned a, int b) { return min(a, (unsigned)b); }
inline unsigned max(unsigned a, int b) { return max(a, (unsigned)b); }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// ---- kernel registration: one static registrar per kernel, run when the library loads ----
// The registry unpacks cuLaunchKernel's `void** kernelParams` by the kernel's C++ signature and
// answers cuFuncGetParamInfo from it.
struct kvd_emu_param {
    size_t offset;     // in the packed parameter buffer (CUDA's layout: each parameter at its alignment)
    size_t sizeBytes;
    int isPointer;     // checked against the live device allocations at every launch
    int isConstPointee;
    int pointeeKind;   // 0 other, 1 float, 2 __half, 3 __nv_bfloat16 (the NaN-escape check)
};
struct kvd_emu_kernel {
    const char* name;
    void* fn;
    void (*invoke)(void* fn, const unsigned char* params);
    int paramCount;
    size_t paramBytes;
    const kvd_emu_param* params;
};
KVD_EMU_API void kvd_emu_register_kernel(const kvd_emu_kernel* kernel);

namespace kvd_emu_detail {
template <class P> constexpr int pointee_kind() {
    using E = std::remove_cv_t<std::remove_pointer_t<P>>;
    return std::is_same<E, float>::value ? 1 : std::is_same<E, __half>::value ? 2
         : std::is_same<E, __nv_bfloat16>::value ? 3 : 0;
}
template <class... A> struct Signature {
    static constexpr int count = (int)sizeof...(A);
    kvd_emu_param params[count > 0 ? count : 1];
    size_t total = 0;
    constexpr Signature() : params{} {
        size_t off = 0;
        int i = 0;
        ((off = (off + alignof(A) - 1) / alignof(A) * alignof(A),
          params[i] = kvd_emu_param{off, sizeof(A), std::is_pointer<A>::value ? 1 : 0,
                                    std::is_pointer<A>::value && std::is_const<std::remove_pointer_t<A>>::value ? 1 : 0,
                                    std::is_pointer<A>::value ? pointee_kind<A>() : 0},
          off += sizeof(A), ++i), ...);
        total = off;
    }
};
template <class... A, size_t... I>
inline void invoke_with(void (*fn)(A...), const unsigned char* p, const kvd_emu_param* params, std::index_sequence<I...>) {
    fn(*reinterpret_cast<const std::remove_cv_t<A>*>(p + params[I].offset)...);
}
template <class... A> struct Registrar {
    static const Signature<A...>& signature() {
        static const Signature<A...> s;  // initialised on first use, whatever the static-init order
        return s;
    }
    static void invoke(void* fn, const unsigned char* p) {
        invoke_with(reinterpret_cast<void (*)(A...)>(fn), p, signature().params, std::index_sequence_for<A...>{});
    }
};
template <class... A> int register_kernel(const char* name, void (*fn)(A...)) {
    static_assert((std::is_trivially_copyable<A>::value && ...), "kernel parameters must be trivially copyable");
    const Signature<A...>& sig = Registrar<A...>::signature();
    const kvd_emu_kernel k{name, reinterpret_cast<void*>(fn), &Registrar<A...>::invoke, Signature<A...>::count, sig.total,
                           sig.params};
    kvd_emu_register_kernel(&k);  // copied by the registry
    return 0;
}
}  // namespace kvd_emu_detail

// One line per kernel (generated from native/emu/kernels.inc by scripts/build-emu.sh, or written
// by hand in emulator tests). The registrar object lives for the library's lifetime.
#define KVD_EMU_CAT2(a, b) a##b
#define KVD_EMU_CAT(a, b) KVD_EMU_CAT2(a, b)
#define KVD_REGISTER_KERNEL(name) \
    [[maybe_unused]] static const int KVD_EMU_CAT(kvd_emu_registered_, name) = kvd_emu_detail::register_kernel(#name, &name);
