package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.KernelArgs;

import static dev.kvdecode.kernels.cuda.CudaKernels.addressOrNull;
import static dev.kvdecode.kernels.cuda.CudaKernels.need;
import static dev.kvdecode.kernels.cuda.CudaKernels.positive;

/**
 * Launchers for native/sampling.cu. The sampled id goes to tokens[b] and, when ring is given, to
 * ring[b][seen[b] % ringCap] (launch after counters_advance: token number seen[b] sits in slot
 * seen[b] % ringCap). The RNG is one splitmix64 state (u64) per sequence in device memory.
 */
public final class CudaSampling {
    private CudaSampling() {}

    static final int BLOCK = 256;
    /** Greedy scans the whole vocabulary in one block: 1024 threads (49 logits each for GPT-2's
     *  50,257) instead of 256 (196 each: 86 us per step on an H200, the step's largest kernel). */
    static final int ARGMAX_BLOCK = 1024;

    // logits (B,V) f32, seen (B) int -> tokens (B) int, ring (B,ringCap) int or null
    /** Greedy: the largest logit, lowest index on ties. */
    public static void argmax(CudaKernels k, CudaStream s, DeviceBuffer logits, DeviceBuffer tokens, DeviceBuffer ring,
                              DeviceBuffer seen, int B, int V, int ringCap) {
        String name = "sample_argmax";
        check(name, logits, tokens, ring, seen, B, V, ringCap);
        k.launch(s, name, Dim3.of(B), Dim3.of(ARGMAX_BLOCK), 0,
                new KernelArgs().ptr(logits).ptr(tokens).ptr(addressOrNull(ring)).ptr(seen).i32(B).i32(V).i32(ringCap));
    }

    // pmax (B,P) f32, pidx (B,P) int, seen (B) int -> tokens (B) int, ring (B,ringCap) int or null
    /**
     * Greedy, second half: the best of the P per-block partials the LM head's
     * {@link CudaGemv#biasArgmax} left per row (the token {@link #argmax} picks from the logits).
     */
    public static void argmaxPartials(CudaKernels k, CudaStream s, DeviceBuffer pmax, DeviceBuffer pidx, DeviceBuffer tokens,
                                      DeviceBuffer ring, DeviceBuffer seen, int B, int P, int V, int ringCap) {
        String name = "sample_argmax_partials";
        positive(name, "B", B);
        positive(name, "P", P);
        positive(name, "V", V);
        need(name, "pmax", pmax, 4L * B * P);
        need(name, "pidx", pidx, 4L * B * P);
        need(name, "tokens", tokens, 4L * B);
        need(name, "seen", seen, 4L * B);
        if (ring != null) {
            positive(name, "ringCap", ringCap);
            need(name, "ring", ring, 4L * B * ringCap);
        }
        k.launch(s, name, Dim3.of(B), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(pmax).ptr(pidx).ptr(tokens).ptr(addressOrNull(ring)).ptr(seen)
                        .i32(B).i32(P).i32(V).i32(ringCap), 8L * B * P + 8L * B);
    }

    // logits (B,V) f32, rng (B) u64 in/out, seen (B) int -> tokens (B) int, ring (B,ringCap) int or null
    /**
     * Temperature, then top-k (0 = off), then top-p (>= 1 = off; Holtzman et al. 2019), then one
     * draw; ties at a cut-off boundary are kept. temperature <= 0 is argmax.
     */
    public static void topKP(CudaKernels k, CudaStream s, DeviceBuffer logits, DeviceBuffer rng, DeviceBuffer tokens,
                             DeviceBuffer ring, DeviceBuffer seen, int B, int V, int ringCap,
                             float temperature, int topK, float topP) {
        String name = "sample_top_kp";
        check(name, logits, tokens, ring, seen, B, V, ringCap);
        need(name, "rng", rng, 8L * B);
        if (topK < 0) throw new IllegalArgumentException(name + ": topK must be >= 0 (0 = off), got " + topK);
        if (!(topP > 0f)) throw new IllegalArgumentException(name + ": topP must be > 0, got " + topP);
        k.launch(s, name, Dim3.of(B), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(logits).ptr(rng).ptr(tokens).ptr(addressOrNull(ring)).ptr(seen)
                        .i32(B).i32(V).i32(ringCap).f32(temperature).i32(topK).f32(topP));
    }

    private static void check(String name, DeviceBuffer logits, DeviceBuffer tokens, DeviceBuffer ring, DeviceBuffer seen,
                              int B, int V, int ringCap) {
        positive(name, "B", B);
        positive(name, "V", V);
        need(name, "logits", logits, 4L * B * V);
        need(name, "tokens", tokens, 4L * B);
        need(name, "seen", seen, 4L * B);
        if (ring != null) {
            positive(name, "ringCap", ringCap);
            need(name, "ring", ring, 4L * B * ringCap);
        }
    }
}
