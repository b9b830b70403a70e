package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.KernelArgs;

import static dev.kvdecode.kernels.cuda.CudaKernels.addressOrNull;
import static dev.kvdecode.kernels.cuda.CudaKernels.need;
import static dev.kvdecode.kernels.cuda.CudaKernels.needOptional;
import static dev.kvdecode.kernels.cuda.CudaKernels.positive;

/**
 * Launchers for native/kv_cache.cu; CPU twin: {@link dev.kvdecode.kernels.KvCache}. One layer's K
 * and V buffers are (B, NH, cap, HS) in the model dtype; the step counter seen (B) int lives in
 * device memory (see native/kvd_cuda.h for the per-step order).
 */
public final class CudaKvCache {
    private CudaKvCache() {}

    /** Overflow policies as the kernels number them: the ordinals of runtime's OverflowPolicy. */
    public static final int SHIFT = 0, RING = 1, STOP = 2;
    /**
     * SHIFT's window over rows of 2 cap slots: the entries move once per cap+1 tokens (a copy of
     * cap-1 entries) instead of every token (native kvd_flat_slot). The runtime's cached decoding
     * uses it for SHIFT; the in-place shift (kv_shift, SHIFT) keeps the tutorial's semantics.
     */
    public static final int SHIFT_FLAT = 3;

    /** Slots per (b, h) row of the cache under a policy: 2 cap for SHIFT_FLAT, else cap. */
    public static int rowSlots(int cap, int policy) { return policy == SHIFT_FLAT ? 2 * cap : cap; }

    /** SHIFT_FLAT: the slot of token number t (native kvd_flat_slot). */
    public static int flatSlot(int t, int cap) { return t < 2 * cap ? t : cap - 1 + (t - 2 * cap) % (cap + 1); }

    static final int BLOCK = 128;
    static final int PREFILL_BLOCK = 256;

    // qkv (B,3C) f32, bias (3C) T or null, seen (B) int -> q (B,C) f32, kc,vc (B,NH,cap,HS) T updated
    /**
     * Splits this step's qkv into q (bias added) and the cache slot for seen[b]; when seen[b] >=
     * cap, SHIFT moves the rows left in place first and writes slot cap-1, RING writes slot
     * seen[b] mod cap, STOP writes no K/V.
     */
    public static void append(CudaKernels k, CudaStream s, DType dt, DeviceBuffer qkv, DeviceBuffer bias, DeviceBuffer q,
                              DeviceBuffer kc, DeviceBuffer vc, DeviceBuffer seen, int B, int NH, int HS, int cap,
                              int overflowPolicy) {
        String name = dt.kernel("kv_append");
        checkShape(name, B, NH, HS, cap);
        if (overflowPolicy < SHIFT || overflowPolicy > SHIFT_FLAT)
            throw new IllegalArgumentException(name + ": unknown overflow policy " + overflowPolicy);
        long C = (long) NH * HS;
        need(name, "qkv", qkv, 4L * B * 3 * C);
        needOptional(name, "bias", bias, (long) dt.sizeBytes() * 3 * C);
        need(name, "q", q, 4L * B * C);
        checkCache(name, dt, kc, vc, B, NH, HS, rowSlots(cap, overflowPolicy));
        need(name, "seen", seen, 4L * B);
        k.launch(s, name, Dim3.of(NH, B), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(qkv).ptr(addressOrNull(bias)).ptr(q).ptr(kc).ptr(vc).ptr(seen)
                        .i32(B).i32(NH).i32(HS).i32(cap).i32(overflowPolicy));
    }

    // kc,vc (B,NH,cap,HS) T in/out, seen (B) int
    /** The in-place shift alone, for the sequences whose cache is full (seen[b] >= cap). */
    public static void shift(CudaKernels k, CudaStream s, DType dt, DeviceBuffer kc, DeviceBuffer vc, DeviceBuffer seen,
                             int B, int NH, int HS, int cap) {
        String name = dt.kernel("kv_shift");
        checkShape(name, B, NH, HS, cap);
        checkCache(name, dt, kc, vc, B, NH, HS, cap);
        need(name, "seen", seen, 4L * B);
        k.launch(s, name, Dim3.of(NH, B), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(kc).ptr(vc).ptr(seen).i32(B).i32(NH).i32(HS).i32(cap));
    }

    // qkv (B,T,3C) f32, bias (3C) T or null -> q (B,T,C) f32, kc,vc (B,NH,cap,HS) T slots 0..min(T,cap)-1
    /** A prompt into an empty cache (tokens past cap get q only: feed them as steps instead). */
    public static void prefillAppend(CudaKernels k, CudaStream s, DType dt, DeviceBuffer qkv, DeviceBuffer bias,
                                     DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc, int B, int T, int NH, int HS, int cap) {
        String name = dt.kernel("kv_prefill_append");
        checkShape(name, B, NH, HS, cap);
        positive(name, "T", T);
        long C = (long) NH * HS;
        need(name, "qkv", qkv, 4L * B * T * 3 * C);
        needOptional(name, "bias", bias, (long) dt.sizeBytes() * 3 * C);
        need(name, "q", q, 4L * B * T * C);
        checkCache(name, dt, kc, vc, B, NH, HS, cap);
        k.launch(s, name, Dim3.of(T, B), Dim3.of(PREFILL_BLOCK), 0,
                new KernelArgs().ptr(qkv).ptr(addressOrNull(bias)).ptr(q).ptr(kc).ptr(vc)
                        .i32(B).i32(T).i32(NH).i32(HS).i32(cap));
    }

    // qkv (B,T,3C) f32, bias (3C) T or null -> q (B,T,C) f32, kc,vc (B,NH,cap,HS) T (slots past..past+T-1)
    /**
     * A later chunk of a prompt (chunked prefill): as {@link #prefillAppend}, token t of the chunk
     * into slot past + t, where past tokens are cached already and past + T <= cap.
     */
    public static void prefillAppendAt(CudaKernels k, CudaStream s, DType dt, DeviceBuffer qkv, DeviceBuffer bias,
                                       DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc, int B, int T, int NH, int HS, int cap,
                                       int past) {
        String name = dt.kernel("kv_prefill_append_at");
        checkShape(name, B, NH, HS, cap);
        positive(name, "T", T);
        if (past < 0 || (long) past + T > cap)
            throw new IllegalArgumentException(name + ": past " + past + " + T " + T + " outside the cache capacity " + cap);
        long C = (long) NH * HS;
        need(name, "qkv", qkv, 4L * B * T * 3 * C);
        needOptional(name, "bias", bias, (long) dt.sizeBytes() * 3 * C);
        need(name, "q", q, 4L * B * T * C);
        checkCache(name, dt, kc, vc, B, NH, HS, cap);
        k.launch(s, name, Dim3.of(T, B), Dim3.of(PREFILL_BLOCK), 0,
                new KernelArgs().ptr(qkv).ptr(addressOrNull(bias)).ptr(q).ptr(kc).ptr(vc)
                        .i32(B).i32(T).i32(NH).i32(HS).i32(cap).i32(past));
    }

    // seen (B) int in/out
    /** seen[b] += delta for every b: once per decode step (delta 1), or T after a prefill. */
    public static void advance(CudaKernels k, CudaStream s, DeviceBuffer seen, int B, int delta) {
        String name = "counters_advance";
        positive(name, "B", B);
        need(name, "seen", seen, 4L * B);
        k.launch(s, name, Dim3.of((B + 127) / 128), Dim3.of(128), 0, new KernelArgs().ptr(seen).i32(B).i32(delta));
    }

    static void checkShape(String name, int B, int NH, int HS, int cap) {
        positive(name, "B", B); positive(name, "NH", NH); positive(name, "HS", HS); positive(name, "cap", cap);
    }

    static void checkCache(String name, DType dt, DeviceBuffer kc, DeviceBuffer vc, int B, int NH, int HS, int cap) {
        long bytes = (long) dt.sizeBytes() * B * NH * cap * HS;
        need(name, "kc", kc, bytes);
        need(name, "vc", vc, bytes);
    }
}
