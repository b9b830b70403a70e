package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.KernelArgs;

import static dev.kvdecode.kernels.cuda.CudaKernels.need;
import static dev.kvdecode.kernels.cuda.CudaKvCache.checkCache;
import static dev.kvdecode.kernels.cuda.CudaKvCache.checkShape;

/** Launchers for native/prefill_attention.cu; CPU twin: {@link dev.kvdecode.kernels.Attention#causalSelfAttention}. */
public final class CudaPrefillAttention {
    private CudaPrefillAttention() {}

    /** Warps (query rows) per block, fewer when a row's scores need more shared memory. */
    static final int MAX_WARPS = 4;

    // q (B,T,C) f32, kc,vc (B,NH,cap,HS) T (slots 0..T-1 filled) -> out (B,T,C) T
    /** Causal attention over a prompt of T <= cap tokens whose K/V kv_prefill_append wrote. */
    public static void attend(CudaKernels k, CudaStream s, DType dt, DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc,
                              DeviceBuffer out, int B, int T, int NH, int HS, int cap) {
        String name = dt.kernel("prefill_attention");
        checkShape(name, B, NH, HS, cap);
        CudaKernels.positive(name, "T", T);
        if (T > cap) throw new IllegalArgumentException(name + ": T = " + T + " exceeds the cache capacity " + cap);
        long C = (long) NH * HS;
        need(name, "q", q, 4L * B * T * C);
        checkCache(name, dt, kc, vc, B, NH, HS, cap);
        need(name, "out", out, (long) dt.sizeBytes() * B * T * C);
        int perWarp = CudaDecodeAttention.prefillSharedBytes(name, HS, T);
        int warps = Math.max(1, Math.min(MAX_WARPS, CudaDecodeAttention.MAX_DYNAMIC_SHARED_BYTES / perWarp));
        k.launch(s, name, new Dim3((T + warps - 1) / warps, NH, B), Dim3.of(32 * warps), warps * perWarp,
                new KernelArgs().ptr(q).ptr(kc).ptr(vc).ptr(out).i32(B).i32(T).i32(NH).i32(HS).i32(cap)
                        .f32(CudaDecodeAttention.scale(HS)));
    }

    // q (B,T,C) f32, kc,vc (B,NH,cap,HS) T (slots 0..past+T-1 filled) -> out (B,T,C) T
    /**
     * A later chunk of a prompt (chunked prefill): the T queries are tokens past..past+T-1 and
     * query t attends to keys 0..past+t (earlier chunks' K/V and this chunk's, written by
     * {@link CudaKvCache#prefillAppendAt}); past + T <= cap. CPU twin: rows past.. of
     * {@link dev.kvdecode.kernels.Attention#causalSelfAttention} over the whole prompt.
     */
    public static void attendAfter(CudaKernels k, CudaStream s, DType dt, DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc,
                                   DeviceBuffer out, int B, int T, int NH, int HS, int cap, int past) {
        String name = dt.kernel("prefill_attention_past");
        checkShape(name, B, NH, HS, cap);
        CudaKernels.positive(name, "T", T);
        if (past < 0 || (long) past + T > cap)
            throw new IllegalArgumentException(name + ": past " + past + " + T " + T + " exceeds the cache capacity " + cap);
        long C = (long) NH * HS;
        need(name, "q", q, 4L * B * T * C);
        checkCache(name, dt, kc, vc, B, NH, HS, cap);
        need(name, "out", out, (long) dt.sizeBytes() * B * T * C);
        int perWarp = CudaDecodeAttention.prefillSharedBytes(name, HS, past + T);
        int warps = Math.max(1, Math.min(MAX_WARPS, CudaDecodeAttention.MAX_DYNAMIC_SHARED_BYTES / perWarp));
        k.launch(s, name, new Dim3((T + warps - 1) / warps, NH, B), Dim3.of(32 * warps), warps * perWarp,
                new KernelArgs().ptr(q).ptr(kc).ptr(vc).ptr(out).i32(B).i32(T).i32(NH).i32(HS).i32(cap)
                        .f32(CudaDecodeAttention.scale(HS)).i32(past));
    }
}
