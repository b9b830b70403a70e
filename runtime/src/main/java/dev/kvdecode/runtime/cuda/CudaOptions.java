package dev.kvdecode.runtime.cuda;

import dev.kvdecode.kernels.cuda.DType;

/**
 * Settings of the CUDA backend that the CPU backend does not have.
 *
 * @param dtype      weights and KV cache on the device: F32, F16 or BF16 ({@code --dtype}); arithmetic
 *                   and GEMM accumulation stay fp32
 * @param graphs     replay each decode step as a captured CUDA graph (true), or launch its kernels
 *                   one by one every step (false, the step-by-step mode graphs are checked against)
 * @param ringTokens slots per sequence of the ring of sampled ids that the device copies to pinned
 *                   host memory; the device loop keeps fewer than this many steps in flight
 * @param lookahead  decode steps the device loop queues before it waits for the oldest one's token
 *                   (1 = wait for every step); at most ringTokens - 1
 * @param attentionChunk keys per block of the decode attention, always split over blocks of this many
 *                   keys (decode_attention_chunk); 0 = automatic (64: CudaSession.AUTO_CHUNK; head sizes
 *                   that kernel does not serve fall back to the older kernels, CudaSession.autoChunk)
 * @param pdl        programmatic dependent launch of the decode step's kernels (cuLaunchKernelEx):
 *                   AUTO where the device has compute capability 9.0+ and the driver the entry point,
 *                   ON wherever the driver has it (the emulator's tests), OFF never
 */
public record CudaOptions(DType dtype, boolean graphs, int ringTokens, int lookahead, int attentionChunk, Pdl pdl) {
    /** When to launch the decode step's kernels with programmatic stream serialization. */
    public enum Pdl { AUTO, ON, OFF }

    /** Without a PDL choice: AUTO. */
    public CudaOptions(DType dtype, boolean graphs, int ringTokens, int lookahead, int attentionChunk) {
        this(dtype, graphs, ringTokens, lookahead, attentionChunk, Pdl.AUTO);
    }

    public CudaOptions {
        if (pdl == null) throw new IllegalArgumentException("pdl is required (AUTO, ON or OFF)");
        if (attentionChunk < 0) throw new IllegalArgumentException("attention chunk must be >= 0, got " + attentionChunk);
        if (dtype == null) throw new IllegalArgumentException("dtype is required");
        if (ringTokens < 2) throw new IllegalArgumentException("ring must hold >= 2 tokens, got " + ringTokens);
        if (lookahead < 1 || lookahead >= ringTokens)
            throw new IllegalArgumentException("lookahead must be in [1, " + (ringTokens - 1) + "], got " + lookahead);
    }

    /** fp32, graphs on, a 64-token ring, 4 steps in flight. */
    public static CudaOptions defaults() { return new CudaOptions(DType.F32, true, 64, 4, 0); }

    public CudaOptions withDtype(DType d) { return new CudaOptions(d, graphs, ringTokens, lookahead, attentionChunk, pdl); }

    public CudaOptions withGraphs(boolean g) { return new CudaOptions(dtype, g, ringTokens, lookahead, attentionChunk, pdl); }

    public CudaOptions withLookahead(int n) { return new CudaOptions(dtype, graphs, ringTokens, n, attentionChunk, pdl); }

    public CudaOptions withAttentionChunk(int keys) { return new CudaOptions(dtype, graphs, ringTokens, lookahead, keys, pdl); }

    public CudaOptions withPdl(Pdl p) { return new CudaOptions(dtype, graphs, ringTokens, lookahead, attentionChunk, p); }
}
