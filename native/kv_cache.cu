// The device-resident KV cache: append (with the overflow policy), the in-place shift, the split of
// the fused qkv projection into the cache layout, and the step counter.
// CPU twin: dev.kvdecode.kernels.KvCache (kvAppend, kvShift). Layout of one layer's K (and V)
// buffer: (B, NH, cap, HS); each (b, h) owns a contiguous (cap, HS) block, so attention reads
// its keys sequentially. The full cache is [layer][batch][head][cap][HS]; launchers pass the
// layer's base pointers.
#include "kvd_cuda.h"

namespace kvd_kv {

// Items each thread stages in registers per tile of the shift.
constexpr int SHIFT_ITEMS = 8;

// In place: row[e] = row[e + HS] for e in [0, (cap-1)*HS), i.e. every cached entry moves one slot
// towards the front (the oldest drops out) and slot cap-1 keeps its old value until overwritten.
// Race-free without a second buffer, by one block: the block walks tiles front to back; it first
// stages its tile's sources (which lie HS elements ahead of the tile) in registers, waits at the
// barrier until every thread of the block has staged, and only then writes. A tile writes
// [t0, t0+tile) and reads [t0+HS, t0+HS+tile): the next tile reads beyond everything this tile
// writes, and no thread writes tile k+1 before all threads passed tile k+1's barrier, i.e. before
// all reads of tiles <= k+1. Reads therefore always run ahead of writes. Several blocks on one row
// would race across the tile boundaries (no inter-block order), hence one block per (b, h).
template <class T>
__device__ void shift_row_left(T* row, int cap, int HS) {
    const size_t n = (size_t)(cap - 1) * HS;
    const size_t tile = (size_t)blockDim.x * SHIFT_ITEMS;
    for (size_t t0 = 0; t0 < n; t0 += tile) {
        T staged[SHIFT_ITEMS];
        for (int k = 0; k < SHIFT_ITEMS; k++) {
            const size_t e = t0 + (size_t)k * blockDim.x + threadIdx.x;
            if (e < n) staged[k] = row[e + HS];
        }
        __syncthreads();
        for (int k = 0; k < SHIFT_ITEMS; k++) {
            const size_t e = t0 + (size_t)k * blockDim.x + threadIdx.x;
            if (e < n) row[e] = staged[k];
        }
    }
}

// Where this step's entry goes (kvd_cuda.h: shared with the qkv GEMV's append epilogue).
__device__ inline int append_slot(int n, int cap, int policy) { return kvd_append_slot(n, cap, policy); }

// One block per (h, b): shift first when full under SHIFT, then write the new K/V row of head h and
// the query (with the qkv bias added) for the attention kernel.
template <class T>
__device__ void kv_append(const float* __restrict__ qkv, const T* __restrict__ bias, float* __restrict__ q,
                          T* kc, T* vc, const int* __restrict__ seen, int B, int NH, int HS, int cap, int policy) {
    const int h = blockIdx.x, b = blockIdx.y;
    if (h >= NH || b >= B) return;
    const int C = NH * HS;
    const int n = seen[b];
    const int slot = append_slot(n, cap, policy);
    const int rs = kvd_row_slots(cap, policy);
    T* krow = kc + ((size_t)b * NH + h) * rs * HS;
    T* vrow = vc + ((size_t)b * NH + h) * rs * HS;
    if (policy == KVD_SHIFT_FLAT && n >= 2 * cap && slot == cap - 1) {
        // The 2cap buffer is full: its last cap-1 entries (slots cap+1..2cap-1) move to the front,
        // once per cap+1 tokens. Source and destination do not overlap, so no staging is needed.
        const size_t len = (size_t)(cap - 1) * HS;
        for (size_t e = threadIdx.x; e < len; e += blockDim.x) {
            krow[e] = krow[(size_t)(cap + 1) * HS + e];
            vrow[e] = vrow[(size_t)(cap + 1) * HS + e];
        }
    }
    if (n >= cap && policy == KVD_SHIFT) {
        shift_row_left(krow, cap, HS);
        shift_row_left(vrow, cap, HS);
        // No barrier needed before writing slot cap-1: every read of slot cap-1 by the shift
        // happened before the last tile's barrier, which every thread has passed.
    }
    const float* src = qkv + (size_t)b * 3 * C + h * HS;
    for (int d = threadIdx.x; d < HS; d += blockDim.x) {
        q[(size_t)b * C + h * HS + d] = src[d] + kvd_bias(bias, h * HS + d);
        if (slot >= 0) {
            krow[(size_t)slot * HS + d] = kvd_from_float<T>(src[C + d] + kvd_bias(bias, C + h * HS + d));
            vrow[(size_t)slot * HS + d] = kvd_from_float<T>(src[2 * C + d] + kvd_bias(bias, 2 * C + h * HS + d));
        }
    }
}

template <class T>
__device__ void kv_shift(T* kc, T* vc, const int* seen, int B, int NH, int HS, int cap) {
    const int h = blockIdx.x, b = blockIdx.y;
    if (h >= NH || b >= B || seen[b] < cap) return;
    shift_row_left(kc + ((size_t)b * NH + h) * cap * HS, cap, HS);
    shift_row_left(vc + ((size_t)b * NH + h) * cap * HS, cap, HS);
}

// Prompt: token t of sequence b goes to slot t (an empty cache; the runtime prefills at most cap
// tokens and feeds the rest step by step). Grid-strided over the C columns of one token.
template <class T>
__device__ void kv_prefill_append(const float* __restrict__ qkv, const T* __restrict__ bias, float* __restrict__ q,
                                  T* __restrict__ kc, T* __restrict__ vc, int B, int T_, int NH, int HS, int cap,
                                  int past) {
    const int t = blockIdx.x, b = blockIdx.y;
    if (t >= T_ || b >= B) return;
    const int C = NH * HS;
    const float* src = qkv + ((size_t)b * T_ + t) * 3 * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        q[((size_t)b * T_ + t) * C + c] = src[c] + kvd_bias(bias, c);
        if (past + t < cap) {
            const int h = c / HS, d = c - h * HS;
            const size_t o = (((size_t)b * NH + h) * cap + past + t) * HS + d;
            kc[o] = kvd_from_float<T>(src[C + c] + kvd_bias(bias, C + c));
            vc[o] = kvd_from_float<T>(src[2 * C + c] + kvd_bias(bias, 2 * C + c));
        }
    }
}

}  // namespace kvd_kv

// Decode step: split this step's fused projection into q and the cache. When seen[b] >= cap the
// policy decides: SHIFT moves the (b,h) rows left in place and writes slot cap-1; RING writes slot
// seen[b] % cap; STOP writes no K/V. The counter is not advanced here (counters_advance does, once
// per step after all layers). grid (NH, B), block 128.
// qkv (B,3C) f32 [q|k|v, head h at h*HS], bias (3C) T or null, seen (B) int
//   -> q (B,C) f32, kc,vc (B,NH,cap,HS) T (one layer) updated
#define KVD_KV_APPEND(SUF, T)                                                                          \
    extern "C" __global__ void kv_append_##SUF(const float* qkv, const T* bias, float* q, T* kc, T* vc,  \
                                               const int* seen, int B, int NH, int HS, int cap, int policy) { \
        kvd_pdl_wait();                                                                               \
        kvd_kv::kv_append<T>(qkv, bias, q, kc, vc, seen, B, NH, HS, cap, policy);                     \
    }
// qkv (B,3C) f32, bias (3C) f32 or null, seen (B) int -> q (B,C) f32, kc,vc (B,NH,cap,HS) f32
KVD_KV_APPEND(f32, float)
// qkv (B,3C) f32, bias (3C) f16 or null, seen (B) int -> q (B,C) f32, kc,vc (B,NH,cap,HS) f16
KVD_KV_APPEND(f16, __half)
// qkv (B,3C) f32, bias (3C) bf16 or null, seen (B) int -> q (B,C) f32, kc,vc (B,NH,cap,HS) bf16
KVD_KV_APPEND(bf16, __nv_bfloat16)

// The in-place shift alone (the tutorial's overflow), for sequences whose cache is full
// (seen[b] >= cap); others are untouched. grid (NH, B), block 128 — one block per row, see above.
// kc,vc (B,NH,cap,HS) T in/out, seen (B) int
#define KVD_KV_SHIFT(SUF, T)                                                                           \
    extern "C" __global__ void kv_shift_##SUF(T* kc, T* vc, const int* seen, int B, int NH, int HS, int cap) { \
        kvd_kv::kv_shift<T>(kc, vc, seen, B, NH, HS, cap);                                             \
    }
// kc,vc (B,NH,cap,HS) f32 in/out, seen (B) int
KVD_KV_SHIFT(f32, float)
// kc,vc (B,NH,cap,HS) f16 in/out, seen (B) int
KVD_KV_SHIFT(f16, __half)
// kc,vc (B,NH,cap,HS) bf16 in/out, seen (B) int
KVD_KV_SHIFT(bf16, __nv_bfloat16)

// Prompt: qkv rows of T tokens -> q (with bias) and cache slots 0..min(T,cap)-1. grid (T, B), block 256.
// qkv (B,T,3C) f32, bias (3C) T or null -> q (B,T,C) f32, kc,vc (B,NH,cap,HS) T
#define KVD_KV_PREFILL_APPEND(SUF, T)                                                                  \
    extern "C" __global__ void kv_prefill_append_##SUF(const float* qkv, const T* bias, float* q, T* kc, T* vc, \
                                                       int B, int T_, int NH, int HS, int cap) {      \
        kvd_kv::kv_prefill_append<T>(qkv, bias, q, kc, vc, B, T_, NH, HS, cap, 0);                    \
    }
// qkv (B,T,3C) f32, bias (3C) f32 or null -> q (B,T,C) f32, kc,vc (B,NH,cap,HS) f32
KVD_KV_PREFILL_APPEND(f32, float)
// qkv (B,T,3C) f32, bias (3C) f16 or null -> q (B,T,C) f32, kc,vc (B,NH,cap,HS) f16
KVD_KV_PREFILL_APPEND(f16, __half)
// qkv (B,T,3C) f32, bias (3C) bf16 or null -> q (B,T,C) f32, kc,vc (B,NH,cap,HS) bf16
KVD_KV_PREFILL_APPEND(bf16, __nv_bfloat16)

// A later chunk of a prompt (chunked prefill): as kv_prefill_append, token t of the chunk into
// slot past + t (past = the tokens already cached, past + T <= cap). grid (T, B), block 256.
// qkv (B,T,3C) f32, bias (3C) T or null -> q (B,T,C) f32, kc,vc (B,NH,cap,HS) T (slots past..past+T-1)
#define KVD_KV_PREFILL_APPEND_AT(SUF, T)                                                               \
    extern "C" __global__ void kv_prefill_append_at_##SUF(const float* qkv, const T* bias, float* q, T* kc, T* vc, \
                                                          int B, int T_, int NH, int HS, int cap, int past) { \
        kvd_kv::kv_prefill_append<T>(qkv, bias, q, kc, vc, B, T_, NH, HS, cap, past);                 \
    }
// qkv (B,T,3C) f32, bias (3C) f32 or null -> q (B,T,C) f32, kc,vc (B,NH,cap,HS) f32
KVD_KV_PREFILL_APPEND_AT(f32, float)
// qkv (B,T,3C) f32, bias (3C) f16 or null -> q (B,T,C) f32, kc,vc (B,NH,cap,HS) f16
KVD_KV_PREFILL_APPEND_AT(f16, __half)
// qkv (B,T,3C) f32, bias (3C) bf16 or null -> q (B,T,C) f32, kc,vc (B,NH,cap,HS) bf16
KVD_KV_PREFILL_APPEND_AT(bf16, __nv_bfloat16)

// The step counter: seen[b] += delta (1 per decode step, T after a prefill). grid (ceil(B/128)), block 128.
// seen (B) int in/out
extern "C" __global__ void counters_advance(int* seen, int B, int delta) {
    kvd_pdl_wait();
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b < B) seen[b] += delta;
}
