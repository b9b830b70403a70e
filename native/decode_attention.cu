// Single-query attention over the KV cache for the decode step (one new token per sequence).
// The valid length is read from device memory (seen[b], before counters_advance): this step's
// entry is already appended, so the cache holds n = min(seen+1, cap) entries, oldest first from
// start = (seen+1) mod cap when a RING has wrapped, else 0 (SHIFT keeps them in order).
// Two forms: one block per (b, h) over the whole row (short contexts), and flash-decoding
// (Dao et al. 2023, "Flash-Decoding for long-context inference"): S blocks per (b, h) each over a
// chunk of the sequence, writing (m, l, unnormalized acc), then a reduce kernel that rescales the
// partials by exp(m_s - M) and divides once.
#include "attention.h"

namespace kvd_decode_attention {
using namespace kvd_attention;

__device__ inline void valid_range(const int* seen, int b, int cap, int policy, int* n, int* start) {
    const int total = seen[b] + 1;
    *n = min(total, cap);
    if (policy == KVD_SHIFT_FLAT) *start = kvd_flat_slot(total - 1, cap) - *n + 1;  // never wraps
    else *start = (policy == KVD_RING && total > cap) ? total % cap : 0;
}

template <class T>
__device__ void decode_attention(const float* q, const T* kc, const T* vc, const int* seen, T* out,
                                 int B, int NH, int HS, int cap, int policy, float scale) {
    extern __shared__ float kvd_smem[];  // qs (HS, padded) | sc (cap, padded)
    __shared__ float scratch[32];
    const int h = blockIdx.x, b = blockIdx.y;
    if (h >= NH || b >= B) return;
    const int C = NH * HS;
    int n, start;
    valid_range(seen, b, cap, policy, &n, &start);
    const int rs = kvd_row_slots(cap, policy);
    const size_t row = ((size_t)b * NH + h) * rs * HS;
    float* qs = kvd_smem;
    float* sc = kvd_smem + smem_pad4(HS);
    load_query(qs, q + (size_t)b * C + h * HS, HS);
    float l;
    softmax_scores(qs, kc + row, start, 0, n, rs, HS, scale, sc, scratch, &l);
    for (int d = threadIdx.x; d < HS; d += blockDim.x)
        out[(size_t)b * C + h * HS + d] = kvd_from_float<T>(weighted_value(sc, vc + row, start, 0, n, rs, HS, d) / l);
}

// Partial s covers logical keys [s*chunk, min((s+1)*chunk, n)); part (B,NH,S,HS+2): acc | m | l.
template <class T>
__device__ void decode_attention_split(const float* q, const T* kc, const T* vc, const int* seen, float* part,
                                       int B, int NH, int HS, int cap, int policy, float scale, int chunk) {
    extern __shared__ float kvd_smem[];  // qs (HS, padded) | sc (chunk, padded)
    __shared__ float scratch[32];
    const int s = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int S = gridDim.x;
    if (h >= NH || b >= B) return;
    int n, start;
    valid_range(seen, b, cap, policy, &n, &start);
    const int j0 = min(s * chunk, n), j1 = min(j0 + chunk, n);
    const int rs = kvd_row_slots(cap, policy);
    const size_t row = ((size_t)b * NH + h) * rs * HS;
    float* qs = kvd_smem;
    float* sc = kvd_smem + smem_pad4(HS);
    load_query(qs, q + (size_t)b * NH * HS + h * HS, HS);
    float l;
    const float m = softmax_scores(qs, kc + row, start, j0, j1, rs, HS, scale, sc, scratch, &l);
    float* p = part + (((size_t)b * NH + h) * S + s) * (HS + 2);
    for (int d = threadIdx.x; d < HS; d += blockDim.x) p[d] = weighted_value(sc, vc + row, start, j0, j1, rs, HS, d);
    if (threadIdx.x == 0) {
        p[HS] = m;
        p[HS + 1] = l;
    }
}

template <class T>
__device__ void decode_attention_reduce(const float* part, T* out, int B, int NH, int HS, int S) {
    const int h = blockIdx.x, b = blockIdx.y;
    if (h >= NH || b >= B) return;
    const float* p = part + ((size_t)b * NH + h) * S * (HS + 2);
    float M = -INFINITY;
    for (int s = 0; s < S; s++)
        if (p[(size_t)s * (HS + 2) + HS + 1] > 0.0f) M = fmaxf(M, p[(size_t)s * (HS + 2) + HS]);
    float L = 0.0f;
    for (int s = 0; s < S; s++) {
        const float l = p[(size_t)s * (HS + 2) + HS + 1];
        if (l > 0.0f) L += expf(p[(size_t)s * (HS + 2) + HS] - M) * l;
    }
    for (int d = threadIdx.x; d < HS; d += blockDim.x) {
        float acc = 0.0f;
        for (int s = 0; s < S; s++) {
            const float* ps = p + (size_t)s * (HS + 2);
            if (ps[HS + 1] > 0.0f) acc += expf(ps[HS] - M) * ps[d];
        }
        out[(size_t)b * NH * HS + h * HS + d] = kvd_from_float<T>(acc / L);
    }
}

}  // namespace kvd_decode_attention

// One block per (h, b) over all n valid keys. grid (NH, B), block 128,
// dynamic shared memory (HS + cap) * 4 bytes. scale = 1/sqrt(HS).
// q (B,C) f32, kc,vc (B,NH,cap,HS) T, seen (B) int -> out (B,C) T
#define KVD_DECODE_ATTENTION(SUF, T)                                                                   \
    extern "C" __global__ void decode_attention_##SUF(const float* q, const T* kc, const T* vc, const int* seen, \
                                                      T* out, int B, int NH, int HS, int cap, int policy, float scale) { \
        kvd_pdl_wait();                                                                                 \
        kvd_decode_attention::decode_attention<T>(q, kc, vc, seen, out, B, NH, HS, cap, policy, scale); \
    }
// q (B,C) f32, kc,vc (B,NH,cap,HS) f32, seen (B) int -> out (B,C) f32
KVD_DECODE_ATTENTION(f32, float)
// q (B,C) f32, kc,vc (B,NH,cap,HS) f16, seen (B) int -> out (B,C) f16
KVD_DECODE_ATTENTION(f16, __half)
// q (B,C) f32, kc,vc (B,NH,cap,HS) bf16, seen (B) int -> out (B,C) bf16
KVD_DECODE_ATTENTION(bf16, __nv_bfloat16)

// Flash-decoding pass 1: S = ceil(cap/chunk) blocks per (h, b); blocks past n write l = 0.
// grid (S, NH, B), block 128, dynamic shared memory (HS + chunk) * 4 bytes.
// q (B,C) f32, kc,vc (B,NH,cap,HS) T, seen (B) int -> part (B,NH,S,HS+2) f32 [acc (HS) | m | l]
#define KVD_DECODE_ATTENTION_SPLIT(SUF, T)                                                             \
    extern "C" __global__ void decode_attention_split_##SUF(const float* q, const T* kc, const T* vc, const int* seen, \
                                                            float* part, int B, int NH, int HS, int cap, int policy, \
                                                            float scale, int chunk) {                  \
        kvd_pdl_wait();                                                                                               \
        kvd_decode_attention::decode_attention_split<T>(q, kc, vc, seen, part, B, NH, HS, cap, policy, scale, chunk); \
    }
// q (B,C) f32, kc,vc (B,NH,cap,HS) f32, seen (B) int -> part (B,NH,S,HS+2) f32
KVD_DECODE_ATTENTION_SPLIT(f32, float)
// q (B,C) f32, kc,vc (B,NH,cap,HS) f16, seen (B) int -> part (B,NH,S,HS+2) f32
KVD_DECODE_ATTENTION_SPLIT(f16, __half)
// q (B,C) f32, kc,vc (B,NH,cap,HS) bf16, seen (B) int -> part (B,NH,S,HS+2) f32
KVD_DECODE_ATTENTION_SPLIT(bf16, __nv_bfloat16)

// Flash-decoding pass 2. grid (NH, B), block 64.
// part (B,NH,S,HS+2) f32 -> out (B,C) T
#define KVD_DECODE_ATTENTION_REDUCE(SUF, T)                                                            \
    extern "C" __global__ void decode_attention_reduce_##SUF(const float* part, T* out, int B, int NH, int HS, int S) { \
        kvd_pdl_wait();                                                                                \
        kvd_decode_attention::decode_attention_reduce<T>(part, out, B, NH, HS, S);                     \
    }
// part (B,NH,S,HS+2) f32 -> out (B,C) f32
KVD_DECODE_ATTENTION_REDUCE(f32, float)
// part (B,NH,S,HS+2) f32 -> out (B,C) f16
KVD_DECODE_ATTENTION_REDUCE(f16, __half)
// part (B,NH,S,HS+2) f32 -> out (B,C) bf16
KVD_DECODE_ATTENTION_REDUCE(bf16, __nv_bfloat16)

// ---- decode_attention_chunk: flash-decoding always on, shaped for grouped-query attention ----
// (issue 17; Dao et al. 2023 "Flash-Decoding"; GQA: Ainslie et al. 2023). One block per
// (chunk s of keys, KV head g, sequence b) serves the G = NH/NKV query heads that share KV head g,
// so each cached K/V row is read from memory once per step whatever G is. Inside the block:
// - the keys of the chunk are dealt to groups of LPK lanes (LPK = the power of two that covers the
//   row in VEC-element pieces, <= 32; 32/LPK keys per warp at a time), a group reads one K row and
//   one V row with 16-byte loads (VEC = 16/sizeof(T)) where the head size allows, element loads
//   otherwise;
// - each lane keeps its pieces of the G queries and of the G output accumulators in registers;
// - a one-pass online softmax per group (Milakov & Gimelshein 2018): running max m, sum l and
//   acc = sum p_j v_j rescaled by exp(m_old - m_new) when the max grows: no dependent chain
//   longer than the chunk's keys / (groups) per lane, no scores in shared memory;
// - the groups' (m, l, acc) meet in shared memory and are combined in a fixed order (group 0, 1, ...)
//   into one partial per (b, query head, s): [acc (HS) | m | l], as decode_attention_split writes,
//   so decode_attention_reduce finishes the job (fixed order over s).
// Keys are visited in logical order (RING and SHIFT give the same bits for the same logical cache).
// The partition depends only on (HS, dtype, chunk, block size), never on B or the other sequences,
// so a sequence's result is the same bits in any batch.
namespace kvd_decode_attention {

struct alignas(16) vec16 { unsigned int w[4]; };

// VEC elements of T from p (16-byte aligned when VEC*sizeof(T) == 16) as floats.
template <class T, int VEC>
__device__ inline void load_vec(const T* __restrict__ p, float* out) {
    if constexpr (VEC * sizeof(T) == 16) {
        const vec16 raw = *reinterpret_cast<const vec16*>(p);  // one 16-byte load
        T e[VEC];
        memcpy(static_cast<void*>(e), &raw, 16);  // a register move, without type punning through pointers
#pragma unroll
        for (int i = 0; i < VEC; i++) out[i] = kvd_to_float(e[i]);
    } else {
#pragma unroll
        for (int i = 0; i < VEC; i++) out[i] = kvd_to_float(p[i]);
    }
}

// Lanes per key for a row of npieces pieces: the smallest power of two >= ceil(npieces/CPL), <= 32.
// Host twin: CudaDecodeAttention.lanesPerKey.
__device__ inline int lanes_per_key(int npieces, int cpl) {
    const int need = (npieces + cpl - 1) / cpl;
    int lpk = 1;
    while (lpk < need && lpk < 32) lpk <<= 1;
    return lpk;
}

// VEC elements per piece, CPL pieces per lane at most, GMAX query heads per KV head at most.
template <class T, int VEC, int CPL, int GMAX>
__device__ void decode_attention_chunk(const float* __restrict__ q, const T* __restrict__ kc, const T* __restrict__ vc,
                                       const int* __restrict__ seen, float* __restrict__ part, int B, int NH, int NKV,
                                       int HS, int cap, int policy, float scale, int chunk) {
    extern __shared__ float kvd_smem[];  // per group: GMAX x [acc (HS) | m | l]
    const int s = blockIdx.x, g = blockIdx.y, b = blockIdx.z;
    const int S = gridDim.x;
    if (g >= NKV || b >= B) return;
    const int G = NH / NKV;
    const int npieces = HS / VEC;
    const int lpk = lanes_per_key(npieces, CPL);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const int sub = lane & (lpk - 1);                 // lane within its group
    const int kpw = 32 / lpk;                          // keys per warp at a time
    const int grp = warp * kpw + lane / lpk;           // group index within the block
    const int ngroups = nwarps * kpw;
    const int C = NH * HS;

    int n, start;
    valid_range(seen, b, cap, policy, &n, &start);
    const int j0 = min(s * chunk, n), j1 = min(j0 + chunk, n);
    const int rs = kvd_row_slots(cap, policy);
    const size_t row = ((size_t)b * NKV + g) * rs * HS;

    // The G queries' pieces of this lane, in registers.
    float qr[GMAX][CPL][VEC];
#pragma unroll
    for (int h = 0; h < GMAX; h++)
#pragma unroll
        for (int c = 0; c < CPL; c++) {
            const int piece = sub + c * lpk;
#pragma unroll
            for (int i = 0; i < VEC; i++)
                qr[h][c][i] = (h < G && piece < npieces) ? q[(size_t)b * C + (g * G + h) * HS + piece * VEC + i] : 0.0f;
        }
    float m[GMAX], l[GMAX], acc[GMAX][CPL][VEC];
#pragma unroll
    for (int h = 0; h < GMAX; h++) {
        m[h] = -INFINITY;
        l[h] = 0.0f;
#pragma unroll
        for (int c = 0; c < CPL; c++)
#pragma unroll
            for (int i = 0; i < VEC; i++) acc[h][c][i] = 0.0f;
    }

    // Every lane of a warp runs the same iterations (the bound depends on jb only), so the group
    // shuffles below always see all 32 lanes; a group past j1 computes nothing and updates nothing.
    for (int jb = j0 + warp * kpw; jb < j1; jb += ngroups) {
        const int j = jb + lane / lpk;
        const bool valid = j < j1;
        const size_t off = row + (size_t)(valid ? slot_of(start, j, rs) : 0) * HS;
        float kv[CPL][VEC];
#pragma unroll
        for (int c = 0; c < CPL; c++) {
            const int piece = sub + c * lpk;
            if (valid && piece < npieces) {
                load_vec<T, VEC>(kc + off + piece * VEC, kv[c]);
            } else {
                for (int i = 0; i < VEC; i++) kv[c][i] = 0.0f;
            }
        }
        float sc[GMAX];
#pragma unroll
        for (int h = 0; h < GMAX; h++) {
            float dot = 0.0f;
#pragma unroll
            for (int c = 0; c < CPL; c++)
#pragma unroll
                for (int i = 0; i < VEC; i++) dot += qr[h][c][i] * kv[c][i];
            // Butterfly over the group's lanes: every lane of the group gets the same bits.
            for (int o = lpk >> 1; o > 0; o >>= 1) dot += __shfl_xor_sync(KVD_FULL_MASK, dot, o);
            sc[h] = dot * scale;
        }
        if (valid) {
#pragma unroll
            for (int c = 0; c < CPL; c++) {
                const int piece = sub + c * lpk;
                if (piece < npieces) load_vec<T, VEC>(vc + off + piece * VEC, kv[c]);
            }
#pragma unroll
            for (int h = 0; h < GMAX; h++) {
                if (h >= G) break;
                const float mn = fmaxf(m[h], sc[h]);
                const float corr = expf(m[h] - mn);  // exp(-inf) = 0 on the first key
                const float p = expf(sc[h] - mn);
                l[h] = l[h] * corr + p;
                m[h] = mn;
#pragma unroll
                for (int c = 0; c < CPL; c++)
#pragma unroll
                    for (int i = 0; i < VEC; i++) acc[h][c][i] = acc[h][c][i] * corr + p * kv[c][i];
            }
        }
    }

    // Publish each group's state: sm[(grp * G + h) * (HS + 2) + ...].
    const int stride = HS + 2;
#pragma unroll
    for (int h = 0; h < GMAX; h++) {
        if (h >= G) break;
        float* st = kvd_smem + ((size_t)grp * G + h) * stride;
#pragma unroll
        for (int c = 0; c < CPL; c++) {
            const int piece = sub + c * lpk;
            if (piece < npieces)
#pragma unroll
                for (int i = 0; i < VEC; i++) st[piece * VEC + i] = acc[h][c][i];
        }
        if (sub == 0) {
            st[HS] = m[h];
            st[HS + 1] = l[h];
        }
    }
    __syncthreads();
    // Combine the groups in order 0..ngroups-1 (groups that saw no key have l = 0 and are skipped).
    for (int e = threadIdx.x; e < G * HS; e += blockDim.x) {
        const int h = e / HS, d = e - h * HS;
        float M = -INFINITY;
        for (int r = 0; r < ngroups; r++) {
            const float* st = kvd_smem + ((size_t)r * G + h) * stride;
            if (st[HS + 1] > 0.0f) M = fmaxf(M, st[HS]);
        }
        float L = 0.0f, A = 0.0f;
        for (int r = 0; r < ngroups; r++) {
            const float* st = kvd_smem + ((size_t)r * G + h) * stride;
            if (st[HS + 1] > 0.0f) {
                const float f = expf(st[HS] - M);
                L += f * st[HS + 1];
                A += f * st[d];
            }
        }
        float* p = part + (((size_t)b * NH + g * G + h) * S + s) * stride;
        p[d] = A;
        if (d == 0) {
            p[HS] = M;
            p[HS + 1] = L;
        }
    }
}

}  // namespace kvd_decode_attention

// Flash-decoding pass 1 for (grouped-query) attention, always split: S = ceil(cap/chunk) blocks
// per (KV head, sequence); blocks past the valid length write l = 0. Finish with
// decode_attention_reduce_T. Variants (chosen by the launcher, CudaDecodeAttention.attendChunked):
// vec = 16-byte loads (HS a multiple of 16/sizeof(T)), up to 2 pieces per lane (HS <= 64 x 16 B);
// elem = element loads, up to 4 per lane (HS <= 128); g1 = one query head per KV head (GPT-2),
// g8 = up to 8. grid (S, NKV, B), block 128, dynamic shared memory (block/LPK) x G x (HS+2) x 4 bytes.
// q (B,NH*HS) f32, kc,vc (B,NKV,cap,HS) T, seen (B) int -> part (B,NH,S,HS+2) f32 [acc (HS) | m | l]
#define KVD_DECODE_ATTENTION_CHUNK(SUF, T, FORM, VEC, CPL, GNAME, GMAX)                                \
    extern "C" __global__ void decode_attention_chunk_##FORM##_##GNAME##_##SUF(                         \
        const float* q, const T* kc, const T* vc, const int* seen, float* part, int B, int NH, int NKV, int HS, \
        int cap, int policy, float scale, int chunk) {                                                 \
        kvd_pdl_wait();                                                                                             \
        kvd_decode_attention::decode_attention_chunk<T, VEC, CPL, GMAX>(q, kc, vc, seen, part, B, NH, NKV, HS, cap, \
                                                                        policy, scale, chunk);         \
    }
#define KVD_DECODE_ATTENTION_CHUNKS(SUF, T)                                                            \
    KVD_DECODE_ATTENTION_CHUNK(SUF, T, vec, (int)(16 / sizeof(T)), 2, g1, 1)                           \
    KVD_DECODE_ATTENTION_CHUNK(SUF, T, vec, (int)(16 / sizeof(T)), 2, g8, 8)                           \
    KVD_DECODE_ATTENTION_CHUNK(SUF, T, elem, 1, 4, g1, 1)                                              \
    KVD_DECODE_ATTENTION_CHUNK(SUF, T, elem, 1, 4, g8, 8)
// q (B,NH*HS) f32, kc,vc (B,NKV,cap,HS) f32, seen (B) int -> part (B,NH,S,HS+2) f32
KVD_DECODE_ATTENTION_CHUNKS(f32, float)
// q (B,NH*HS) f32, kc,vc (B,NKV,cap,HS) f16, seen (B) int -> part (B,NH,S,HS+2) f32
KVD_DECODE_ATTENTION_CHUNKS(f16, __half)
// q (B,NH*HS) f32, kc,vc (B,NKV,cap,HS) bf16, seen (B) int -> part (B,NH,S,HS+2) f32
KVD_DECODE_ATTENTION_CHUNKS(bf16, __nv_bfloat16)
