// On-device sampling of the next token from the logits: greedy argmax, and temperature + top-k +
// top-p (nucleus sampling, Holtzman et al. 2019) with a counter-based device RNG. The sampled id
// goes to tokens[b] (the next step's embedding input) and to the device-side output ring
// ring[b][seen[b] % ringCap] (seen read after counters_advance, so token number t of sequence b
// sits in slot t % ringCap); the host copies the ring out asynchronously.
#include "kvd_cuda.h"

namespace kvd_sampling {

constexpr int MAX_THREADS = 1024;

// Greedy: the largest logit, lowest index on ties (a total order, so every lane agrees).
__device__ inline bool better(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }

// The best (value, index) over n candidates, candidate j read by load(j, v, i); every thread of
// the block gets the result's index (V when every candidate was NaN or -inf with index >= V).
template <class Load>
__device__ int block_argmax_of(int n, int V, Load load) {
    __shared__ float sv[32];
    __shared__ int si[32];
    float bv = -INFINITY;
    int bi = V;  // sentinel: loses to any real index
#pragma unroll 4
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        float v;
        int i;
        load(j, v, i);
        if (better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(KVD_FULL_MASK, bv, o);
        const int oi = __shfl_xor_sync(KVD_FULL_MASK, bi, o);
        if (better(ov, oi, bv, bi)) { bv = ov; bi = oi; }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) { sv[warp] = bv; si[warp] = bi; }
    __syncthreads();
    bv = lane < nwarps ? sv[lane] : -INFINITY;
    bi = lane < nwarps ? si[lane] : V;
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(KVD_FULL_MASK, bv, o);
        const int oi = __shfl_xor_sync(KVD_FULL_MASK, bi, o);
        if (better(ov, oi, bv, bi)) { bv = ov; bi = oi; }
    }
    return bi;
}

__device__ int block_argmax(const float* __restrict__ x, int V) {
    const int bi = block_argmax_of(V, V, [&](int j, float& v, int& i) { v = x[j]; i = j; });
    return bi < V ? bi : 0;  // all-NaN logits: token 0 rather than an id out of range
}

__device__ inline void emit(int id, int b, int* tokens, int* ring, int ringCap, const int* seen) {
    tokens[b] = id;
    if (ring && ringCap > 0) ring[(size_t)b * ringCap + seen[b] % ringCap] = id;
}

// splitmix64 (Steele, Lea & Flood 2014): state += golden gamma, then a bijective mix. One state
// word per sequence in device memory; the same sequence of draws in Java (tests) from the same seed.
__device__ inline unsigned long long splitmix64(unsigned long long* state) {
    unsigned long long z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// fp32 -> unsigned key with the same order (negative floats flip all bits, positive flip the sign).
__device__ inline unsigned int order_key(float x) {
    const unsigned int u = kvd_float_bits(x);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// The largest key tau with f(tau) >= goal, f non-increasing in tau: bisection from the top bit
// (32 block-wide passes; each costs one sweep over V, see the GPU-speed issue for a radix select).
template <class F>
__device__ unsigned int largest_key_with(F f, float goal) {
    unsigned int tau = 0;
    for (int bit = 31; bit >= 0; bit--) {
        const unsigned int cand = tau | (1u << bit);
        if (f(cand) >= goal) tau = cand;
    }
    return tau;
}

// Keep the tokens whose logit is >= the k-th largest (ties at the boundary are kept), then the
// smallest head of those, by logit, whose probability mass reaches topP (again with boundary ties),
// then draw from the kept weights exp((x - max)/temperature) by inverse CDF in index order.
__device__ void sample_top_kp(const float* __restrict__ x, int V, float temperature, int topK, float topP,
                              unsigned long long* rng, int* tokens, int* ring, int ringCap, const int* seen, int b) {
    __shared__ float scratch[32];
    __shared__ float sums[MAX_THREADS];
    __shared__ float shared_u;
    __shared__ int pick_thread;
    __shared__ float pick_prefix, pick_target;
    __shared__ int picked;
    const float m = kvd_block_max([&] {
        float v = -INFINITY;
        for (int i = threadIdx.x; i < V; i += blockDim.x) v = fmaxf(v, x[i]);
        return v;
    }(), scratch);
    const float inv_t = 1.0f / temperature;
    unsigned int thr = 0;
    if (topK > 0 && topK < V) {
        thr = largest_key_with([&](unsigned int cand) {
            float cnt = 0.0f;
            for (int i = threadIdx.x; i < V; i += blockDim.x) cnt += order_key(x[i]) >= cand ? 1.0f : 0.0f;
            return kvd_block_sum(cnt, scratch);  // exact: counts < 2^24
        }, (float)topK);
    }
    if (topP > 0.0f && topP < 1.0f) {
        auto mass = [&](unsigned int cand) {
            float s = 0.0f;
            for (int i = threadIdx.x; i < V; i += blockDim.x) {
                const unsigned int k = order_key(x[i]);
                if (k >= cand && k >= thr) s += expf((x[i] - m) * inv_t);
            }
            return kvd_block_sum(s, scratch);
        };
        thr = largest_key_with(mass, topP * mass(thr));
    }
    // Inverse CDF: each thread owns a contiguous chunk of the vocabulary.
    const int per = (V + blockDim.x - 1) / blockDim.x;
    const int i0 = min(V, (int)threadIdx.x * per), i1 = min(V, i0 + per);
    float s = 0.0f;
    for (int i = i0; i < i1; i++)
        if (order_key(x[i]) >= thr) s += expf((x[i] - m) * inv_t);
    sums[threadIdx.x] = s;
    if (threadIdx.x == 0) {
        const unsigned long long r = splitmix64(rng + b);
        shared_u = (float)(r >> 40) * (1.0f / 16777216.0f);  // 24 random bits -> [0, 1)
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0.0f;
        for (int t = 0; t < (int)blockDim.x; t++) total += sums[t];
        const float target = shared_u * total;
        float prefix = 0.0f;
        int pt = -1;
        float pp = 0.0f;
        for (int t = 0; t < (int)blockDim.x; t++) {
            if (sums[t] > 0.0f) { pt = t; pp = prefix; }
            if (sums[t] > 0.0f && target < prefix + sums[t]) break;
            prefix += sums[t];
        }
        pick_thread = pt;
        pick_prefix = pp;
        pick_target = target;
        picked = 0;
    }
    __syncthreads();
    if ((int)threadIdx.x == pick_thread) {
        float r = pick_prefix;
        int last = -1;
        int id = -1;
        for (int i = i0; i < i1 && id < 0; i++) {
            if (order_key(x[i]) < thr) continue;
            last = i;
            r += expf((x[i] - m) * inv_t);
            if (pick_target < r) id = i;
        }
        picked = id >= 0 ? id : last;  // rounding left the target at the chunk's very end
    }
    __syncthreads();
    if (threadIdx.x == 0) emit(picked, b, tokens, ring, ringCap, seen);
}

}  // namespace kvd_sampling

// Greedy decoding. grid (B), block 1024 (any multiple of 32 up to 1024).
// logits (B,V) f32, seen (B) int -> tokens (B) int, ring (B,ringCap) int (slot seen[b] % ringCap; ring may be null)
extern "C" __global__ void sample_argmax(const float* logits, int* tokens, int* ring, const int* seen,
                                         int B, int V, int ringCap) {
    kvd_pdl_wait();
    const int b = blockIdx.x;
    if (b >= B) return;
    const int id = kvd_sampling::block_argmax(logits + (size_t)b * V, V);
    if (threadIdx.x == 0) kvd_sampling::emit(id, b, tokens, ring, ringCap, seen);
}

// Temperature / top-k (0 = off) / top-p (>= 1 = off) sampling; temperature <= 0 falls back to
// argmax. One splitmix64 draw from rng[b] per call. grid (B), block 256 (at most 1024).
// logits (B,V) f32, rng (B) u64 in/out, seen (B) int -> tokens (B) int, ring (B,ringCap) int
extern "C" __global__ void sample_top_kp(const float* logits, unsigned long long* rng, int* tokens, int* ring,
                                         const int* seen, int B, int V, int ringCap, float temperature, int topK,
                                         float topP) {
    kvd_pdl_wait();
    const int b = blockIdx.x;
    if (b >= B) return;
    if (!(temperature > 0.0f)) {
        const int id = kvd_sampling::block_argmax(logits + (size_t)b * V, V);
        if (threadIdx.x == 0) kvd_sampling::emit(id, b, tokens, ring, ringCap, seen);
        return;
    }
    kvd_sampling::sample_top_kp(logits + (size_t)b * V, V, temperature, topK, topP, rng, tokens, ring, ringCap, seen, b);
}

// Greedy decoding, second half: the LM head's GEMV (gemv_*bias_argmax_*, gemv.cu) left each
// block's best logit and its index per row; this picks the best of those P partials (the same
// total order: largest value, lowest index on ties, so the token is sample_argmax's over the full
// logits). grid (B), block 256.
// pmax (B,P) f32, pidx (B,P) int, seen (B) int -> tokens (B) int, ring (B,ringCap) int (or null)
extern "C" __global__ void sample_argmax_partials(const float* pmax, const int* pidx, int* tokens, int* ring,
                                                  const int* seen, int B, int P, int V, int ringCap) {
    kvd_pdl_wait();
    const int b = blockIdx.x;
    if (b >= B) return;
    const float* pv = pmax + (size_t)b * P;
    const int* pi = pidx + (size_t)b * P;
    const int bi = kvd_sampling::block_argmax_of(P, V, [&](int j, float& v, int& i) { v = pv[j]; i = pi[j]; });
    if (threadIdx.x == 0) kvd_sampling::emit(bi < V ? bi : 0, b, tokens, ring, ringCap, seen);
}
