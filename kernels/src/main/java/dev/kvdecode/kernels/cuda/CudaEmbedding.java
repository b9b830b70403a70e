package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.KernelArgs;

import static dev.kvdecode.kernels.cuda.CudaKernels.addressOrNull;
import static dev.kvdecode.kernels.cuda.CudaKernels.need;
import static dev.kvdecode.kernels.cuda.CudaKernels.needOptional;
import static dev.kvdecode.kernels.cuda.CudaKernels.positive;

/** Launchers for native/embedding.cu; CPU twin: {@link dev.kvdecode.kernels.Embedding}. */
public final class CudaEmbedding {
    private CudaEmbedding() {}

    static final int BLOCK = 256;

    // wte (V,C) T, wpe (maxT,C) T or null (rotary positions), tokens (B) int, seen (B) int -> out (B,C) f32
    /** The decode step's embedding: token tokens[b] at position min(seen[b], maxT-1). */
    public static void decode(CudaKernels k, CudaStream s, DType dt, DeviceBuffer out, DeviceBuffer wte, DeviceBuffer wpe,
                              DeviceBuffer tokens, DeviceBuffer seen, int B, int C, int V, int maxT) {
        String name = dt.kernel("embed_decode");
        positive(name, "B", B); positive(name, "C", C); positive(name, "V", V); positive(name, "maxT", maxT);
        need(name, "out", out, 4L * B * C);
        need(name, "wte", wte, (long) dt.sizeBytes() * V * C);
        needOptional(name, "wpe", wpe, (long) dt.sizeBytes() * maxT * C);
        need(name, "tokens", tokens, 4L * B);
        need(name, "seen", seen, 4L * B);
        k.launch(s, name, Dim3.of((C + BLOCK - 1) / BLOCK, B), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(out).ptr(wte).ptr(addressOrNull(wpe)).ptr(tokens).ptr(seen).i32(B).i32(C).i32(V).i32(maxT));
    }

    // wte (V,C) T, wpe (maxT,C) T or null (rotary positions), tokens (B,T) int, seen (B) int or null -> out (B,T,C) f32
    /** A prompt: token t of sequence b at position min(seen[b] + t, maxT-1); seen null = positions from 0. */
    public static void prefill(CudaKernels k, CudaStream s, DType dt, DeviceBuffer out, DeviceBuffer wte, DeviceBuffer wpe,
                               DeviceBuffer tokens, DeviceBuffer seen, int B, int T, int C, int V, int maxT) {
        String name = dt.kernel("embed_prefill");
        positive(name, "B", B); positive(name, "T", T); positive(name, "C", C); positive(name, "V", V); positive(name, "maxT", maxT);
        need(name, "out", out, 4L * B * T * C);
        need(name, "wte", wte, (long) dt.sizeBytes() * V * C);
        needOptional(name, "wpe", wpe, (long) dt.sizeBytes() * maxT * C);
        need(name, "tokens", tokens, 4L * B * T);
        needOptional(name, "seen", seen, 4L * B);
        k.launch(s, name, new Dim3((C + BLOCK - 1) / BLOCK, T, B), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(out).ptr(wte).ptr(addressOrNull(wpe)).ptr(tokens).ptr(addressOrNull(seen))
                        .i32(B).i32(T).i32(C).i32(V).i32(maxT));
    }
}
