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
 * Launchers for native/rope.cu: the fused qkv split + bias + Qwen3 q/k RMSNorm + RoPE + K/V
 * append of a Llama-family block, for a decode step and a prompt; the cache holds the NKV KV heads
 * only, (B, NKV, rowSlots, HS) per layer, keys stored rotated to their positions. CPU twin: the
 * composition {@link dev.kvdecode.kernels.RmsNorm#rmsNormHeads}, {@link dev.kvdecode.kernels.Rope#apply}
 * and the runtime's KV cache append (whose SHIFT turns the kept keys back when the window moves,
 * {@link dev.kvdecode.kernels.Rope#rotateKeys}).
 */
public final class CudaRope {
    private CudaRope() {}

    static final int BLOCK = 128;
    /** The in-place shift stages whole keys of at most this many elements (native STAGE). */
    public static final int MAX_HEAD_SIZE = 2048;

    /**
     * The position the query and key of token number n get under a policy (native rope_position):
     * SHIFT_FLAT the slot it is written to, SHIFT min(n, cap-1), RING and STOP min(n, maxT-1).
     */
    public static int position(int n, int cap, int policy, int maxT) {
        if (policy == CudaKvCache.SHIFT_FLAT) return CudaKvCache.flatSlot(n, cap);
        if (policy == CudaKvCache.SHIFT) return Math.min(n, cap - 1);
        return Math.min(n, maxT - 1);
    }

    // qkv (B,QKV) f32, bias (QKV) T or null, qNorm,kNorm (HS) T or null, invFreq (HS/2) f32, seen (B) int
    //   -> q (B,NH*HS) f32, kc,vc (B,NKV,rowSlots,HS) T updated
    /**
     * A decode step: q = rope(norm(q + b_q)), k = rope(norm(k + b_k)) and v + b_v into the cache
     * slot of token seen[b] (the overflow policy applies; SHIFT_FLAT's move and SHIFT's in-place
     * shift turn the kept keys back by the distance they move). QKV = NH*HS + 2*NKV*HS.
     */
    public static void append(CudaKernels k, CudaStream s, DType dt, DeviceBuffer qkv, DeviceBuffer bias, DeviceBuffer qNorm,
                              DeviceBuffer kNorm, DeviceBuffer invFreq, DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc,
                              DeviceBuffer seen, int B, int NH, int NKV, int HS, int cap, int overflowPolicy, int maxT, float eps) {
        String name = dt.kernel("rope_kv_append");
        check(name, dt, qkv, bias, qNorm, kNorm, invFreq, q, kc, vc, B, 1, NH, NKV, HS, CudaKvCache.rowSlots(cap, overflowPolicy));
        positive(name, "maxT", maxT);
        if (overflowPolicy < CudaKvCache.SHIFT || overflowPolicy > CudaKvCache.SHIFT_FLAT)
            throw new IllegalArgumentException(name + ": unknown overflow policy " + overflowPolicy);
        need(name, "seen", seen, 4L * B);
        k.launch(s, name, Dim3.of(NH + NKV, B), Dim3.of(BLOCK), 4 * 3 * HS,
                new KernelArgs().ptr(qkv).ptr(addressOrNull(bias)).ptr(addressOrNull(qNorm)).ptr(addressOrNull(kNorm))
                        .ptr(invFreq).ptr(q).ptr(kc).ptr(vc).ptr(seen)
                        .i32(B).i32(NH).i32(NKV).i32(HS).i32(cap).i32(overflowPolicy).i32(maxT).f32(eps));
    }

    // qkv (B,T,QKV) f32, bias (QKV) T or null, qNorm,kNorm (HS) T or null, invFreq (HS/2) f32
    //   -> q (B,T,NH*HS) f32, kc,vc (B,NKV,cap,HS) T slots 0..T-1
    /** A prompt of T <= cap tokens into an empty cache at positions 0..T-1. */
    public static void prefillAppend(CudaKernels k, CudaStream s, DType dt, DeviceBuffer qkv, DeviceBuffer bias,
                                     DeviceBuffer qNorm, DeviceBuffer kNorm, DeviceBuffer invFreq, DeviceBuffer q,
                                     DeviceBuffer kc, DeviceBuffer vc, int B, int T, int NH, int NKV, int HS, int cap, float eps) {
        String name = dt.kernel("rope_kv_prefill_append");
        positive(name, "T", T);
        if (T > cap) throw new IllegalArgumentException(name + ": T = " + T + " exceeds the cache capacity " + cap);
        check(name, dt, qkv, bias, qNorm, kNorm, invFreq, q, kc, vc, B, T, NH, NKV, HS, cap);
        k.launch(s, name, new Dim3(NH + NKV, T, B), Dim3.of(BLOCK), 4 * 2 * HS,
                new KernelArgs().ptr(qkv).ptr(addressOrNull(bias)).ptr(addressOrNull(qNorm)).ptr(addressOrNull(kNorm))
                        .ptr(invFreq).ptr(q).ptr(kc).ptr(vc)
                        .i32(B).i32(T).i32(NH).i32(NKV).i32(HS).i32(cap).f32(eps));
    }

    // qkv (B,T,QKV) f32, bias (QKV) T or null, qNorm,kNorm (HS) T or null, invFreq (HS/2) f32
    //   -> q (B,T,NH*HS) f32, kc,vc (B,NKV,cap,HS) T slots past..past+T-1
    /**
     * A later chunk of a prompt (chunked prefill): T tokens after {@code past} cached ones, at
     * positions and slots past..past+T-1 (past + T <= cap). past = 0 is {@link #prefillAppend}.
     */
    public static void prefillAppendAt(CudaKernels k, CudaStream s, DType dt, DeviceBuffer qkv, DeviceBuffer bias,
                                       DeviceBuffer qNorm, DeviceBuffer kNorm, DeviceBuffer invFreq, DeviceBuffer q,
                                       DeviceBuffer kc, DeviceBuffer vc, int B, int T, int NH, int NKV, int HS, int cap,
                                       float eps, int past) {
        String name = dt.kernel("rope_kv_prefill_append_at");
        positive(name, "T", T);
        if (past < 0 || (long) past + T > cap)
            throw new IllegalArgumentException(name + ": past " + past + " + T " + T + " exceeds the cache capacity " + cap);
        check(name, dt, qkv, bias, qNorm, kNorm, invFreq, q, kc, vc, B, T, NH, NKV, HS, cap);
        k.launch(s, name, new Dim3(NH + NKV, T, B), Dim3.of(BLOCK), 4 * 2 * HS,
                new KernelArgs().ptr(qkv).ptr(addressOrNull(bias)).ptr(addressOrNull(qNorm)).ptr(addressOrNull(kNorm))
                        .ptr(invFreq).ptr(q).ptr(kc).ptr(vc)
                        .i32(B).i32(T).i32(NH).i32(NKV).i32(HS).i32(cap).f32(eps).i32(past));
    }

    private static void check(String name, DType dt, DeviceBuffer qkv, DeviceBuffer bias, DeviceBuffer qNorm, DeviceBuffer kNorm,
                              DeviceBuffer invFreq, DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc,
                              int B, int T, int NH, int NKV, int HS, int slots) {
        CudaKvCache.checkShape(name, B, NKV, HS, slots);
        positive(name, "NH", NH);
        if (NH % NKV != 0) throw new IllegalArgumentException(name + ": " + NH + " query heads are not a multiple of " + NKV + " KV heads");
        if (HS % 2 != 0 || HS > MAX_HEAD_SIZE)
            throw new IllegalArgumentException(name + ": head size " + HS + " must be even and at most " + MAX_HEAD_SIZE);
        long QD = (long) NH * HS, QKV = QD + 2L * NKV * HS;
        need(name, "qkv", qkv, 4L * B * T * QKV);
        needOptional(name, "bias", bias, (long) dt.sizeBytes() * QKV);
        needOptional(name, "qNorm", qNorm, (long) dt.sizeBytes() * HS);
        needOptional(name, "kNorm", kNorm, (long) dt.sizeBytes() * HS);
        if ((qNorm == null) != (kNorm == null)) throw new IllegalArgumentException(name + ": qNorm and kNorm come together");
        need(name, "invFreq", invFreq, 4L * (HS / 2));
        need(name, "q", q, 4L * B * T * QD);
        CudaKvCache.checkCache(name, dt, kc, vc, B, NKV, HS, slots);
    }
}
