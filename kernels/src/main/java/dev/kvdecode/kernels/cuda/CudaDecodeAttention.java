package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.KernelArgs;

import static dev.kvdecode.kernels.cuda.CudaKernels.need;
import static dev.kvdecode.kernels.cuda.CudaKernels.positive;
import static dev.kvdecode.kernels.cuda.CudaKvCache.checkCache;
import static dev.kvdecode.kernels.cuda.CudaKvCache.checkShape;

/**
 * Launchers for native/decode_attention.cu; CPU twin: {@link dev.kvdecode.kernels.Attention#decodeAttention}.
 * The valid length comes from the device counter seen (this step's entry already appended).
 */
public final class CudaDecodeAttention {
    private CudaDecodeAttention() {}

    static final int BLOCK = 128;
    static final int REDUCE_BLOCK = 64;
    /** Without cuFuncSetAttribute a block may use 48 KiB of dynamic shared memory. */
    static final int MAX_DYNAMIC_SHARED_BYTES = 48 * 1024;

    // q (B,C) f32, kc,vc (B,NH,cap,HS) T, seen (B) int -> out (B,C) T
    /** One block per (b, h) over the whole valid range: for contexts up to a few thousand entries. */
    public static void attend(CudaKernels k, CudaStream s, DType dt, DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc,
                              DeviceBuffer seen, DeviceBuffer out, int B, int NH, int HS, int cap, int overflowPolicy) {
        String name = dt.kernel("decode_attention");
        checkCommon(name, dt, q, kc, vc, seen, out, B, NH, HS, cap, overflowPolicy);
        int smem = sharedBytes(name, HS, cap);
        k.launch(s, name, Dim3.of(NH, B), Dim3.of(BLOCK), smem,
                new KernelArgs().ptr(q).ptr(kc).ptr(vc).ptr(seen).ptr(out)
                        .i32(B).i32(NH).i32(HS).i32(cap).i32(overflowPolicy).f32(scale(HS)));
    }

    /** Splits per (b, h) for a chunk length: ceil(cap / chunk). */
    public static int splits(int cap, int chunk) { return (cap + chunk - 1) / chunk; }

    /** Bytes of the partials buffer for {@link #attendSplit}: (B, NH, S, HS+2) f32. */
    public static long partialBytes(int B, int NH, int HS, int cap, int chunk) {
        return 4L * B * NH * splits(cap, chunk) * (HS + 2);
    }

    // q (B,C) f32, kc,vc (B,NH,cap,HS) T, seen (B) int, part (B,NH,S,HS+2) f32 scratch -> out (B,C) T
    /** Flash-decoding: S = ceil(cap/chunk) blocks per (b, h), then the reduce kernel. For long contexts. */
    public static void attendSplit(CudaKernels k, CudaStream s, DType dt, DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc,
                                   DeviceBuffer seen, DeviceBuffer part, DeviceBuffer out, int B, int NH, int HS, int cap,
                                   int overflowPolicy, int chunk) {
        String name = dt.kernel("decode_attention_split");
        checkCommon(name, dt, q, kc, vc, seen, out, B, NH, HS, cap, overflowPolicy);
        positive(name, "chunk", chunk);
        int S = splits(cap, chunk);
        need(name, "part", part, partialBytes(B, NH, HS, cap, chunk));
        int smem = sharedBytes(name, HS, Math.min(chunk, cap));
        k.launch(s, name, new Dim3(S, NH, B), Dim3.of(BLOCK), smem,
                new KernelArgs().ptr(q).ptr(kc).ptr(vc).ptr(seen).ptr(part)
                        .i32(B).i32(NH).i32(HS).i32(cap).i32(overflowPolicy).f32(scale(HS)).i32(chunk));
        k.launch(s, dt.kernel("decode_attention_reduce"), Dim3.of(NH, B), Dim3.of(REDUCE_BLOCK), 0,
                new KernelArgs().ptr(part).ptr(out).i32(B).i32(NH).i32(HS).i32(S));
    }

    /** Threads per block of decode_attention_chunk (4 warps). */
    static final int CHUNK_BLOCK = 128;
    /** Most query heads per KV head the g8 variants serve. */
    public static final int MAX_GROUP = 8;

    /**
     * The variant of decode_attention_chunk for a head size and dtype: 16-byte loads when HS is a
     * multiple of 16/sizeof(T) (up to 2 pieces per lane: HS * sizeof(T) <= 1 KiB), element loads
     * otherwise (up to 4 per lane: HS <= 128).
     */
    record ChunkForm(String name, int vec, int piecesPerLane) {
        static ChunkForm of(DType dt, int HS) {
            int vec = 16 / dt.sizeBytes();
            if (HS % vec == 0 && HS / vec <= 32 * 2) return new ChunkForm("vec", vec, 2);
            if (HS <= 32 * 4) return new ChunkForm("elem", 1, 4);
            return null;
        }

        int pieces(int HS) { return HS / vec; }
    }

    /** Whether {@link #attendChunked} serves this head size in this dtype. */
    public static boolean chunkedSupports(DType dt, int HS) { return HS >= 1 && ChunkForm.of(dt, HS) != null; }

    /** Lanes that read one key row together (native lanes_per_key). */
    static int lanesPerKey(int pieces, int piecesPerLane) {
        int need = (pieces + piecesPerLane - 1) / piecesPerLane;
        int lpk = 1;
        while (lpk < need && lpk < 32) lpk <<= 1;
        return lpk;
    }

    /** Dynamic shared memory of decode_attention_chunk: one [acc (HS) | m | l] per key group and query head. */
    static int chunkSharedBytes(String name, DType dt, int HS, int G) {
        ChunkForm f = ChunkForm.of(dt, HS);
        int groups = CHUNK_BLOCK / lanesPerKey(f.pieces(HS), f.piecesPerLane());
        long bytes = 4L * groups * G * (HS + 2);
        if (bytes > MAX_DYNAMIC_SHARED_BYTES)
            throw new IllegalArgumentException(name + ": head size " + HS + " with " + G + " query heads per KV head needs "
                    + bytes + " bytes of shared memory (limit " + MAX_DYNAMIC_SHARED_BYTES + ")");
        return (int) bytes;
    }

    /** The entry point attendChunked launches for these shapes. */
    public static String chunkKernel(DType dt, int HS, int G) {
        ChunkForm f = ChunkForm.of(dt, HS);
        if (f == null) throw new IllegalArgumentException("decode_attention_chunk: head size " + HS + " in " + dt
                + " is not supported (element loads serve HS <= 128, 16-byte loads HS <= " + (64 * 16 / dt.sizeBytes()) + ")");
        return dt.kernel("decode_attention_chunk_" + f.name() + "_" + (G == 1 ? "g1" : "g8"));
    }

    // q (B,NH*HS) f32, kc,vc (B,NKV,cap,HS) T, seen (B) int, part (B,NH,S,HS+2) f32 scratch -> out (B,NH*HS) T
    /**
     * Flash-decoding for (grouped-query) attention, always split: S = ceil(cap/chunk) blocks per
     * (KV head, sequence), each serving the NH/NKV query heads of its KV head over one chunk of
     * keys with an online softmax, then decode_attention_reduce over the S partials in order.
     * Query head h reads KV head h / (NH/NKV). Two launches, whatever the context.
     */
    public static void attendChunked(CudaKernels k, CudaStream s, DType dt, DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc,
                                     DeviceBuffer seen, DeviceBuffer part, DeviceBuffer out, int B, int NH, int NKV, int HS,
                                     int cap, int overflowPolicy, int chunk) {
        positive("decode_attention_chunk", "NKV", NKV);
        if (NH % NKV != 0)
            throw new IllegalArgumentException("decode_attention_chunk: " + NH + " query heads are not a multiple of " + NKV + " KV heads");
        int G = NH / NKV;
        if (G > MAX_GROUP)
            throw new IllegalArgumentException("decode_attention_chunk: " + G + " query heads per KV head (at most " + MAX_GROUP + ")");
        String name = chunkKernel(dt, HS, G);
        checkShape(name, B, NKV, HS, cap);
        positive(name, "NH", NH);
        positive(name, "chunk", chunk);
        long C = (long) NH * HS;
        need(name, "q", q, 4L * B * C);
        checkCache(name, dt, kc, vc, B, NKV, HS, CudaKvCache.rowSlots(cap, overflowPolicy));
        need(name, "seen", seen, 4L * B);
        need(name, "out", out, (long) dt.sizeBytes() * B * C);
        int S = splits(cap, chunk);
        need(name, "part", part, partialBytes(B, NH, HS, cap, chunk));
        if (ChunkForm.of(dt, HS).vec() > 1 && (kc.address() % 16 != 0 || vc.address() % 16 != 0))
            throw new IllegalArgumentException(name + ": kc and vc must be 16-byte aligned for 16-byte loads");
        int smem = chunkSharedBytes(name, dt, HS, G);
        long partBytes = partialBytes(B, NH, HS, cap, chunk);
        // At most a full window of K and V per (b, KV head), the queries, the partials written.
        long bytes = 2L * dt.sizeBytes() * B * NKV * cap * HS + 4L * B * C + partBytes;
        k.launch(s, name, new Dim3(S, NKV, B), Dim3.of(CHUNK_BLOCK), smem,
                new KernelArgs().ptr(q).ptr(kc).ptr(vc).ptr(seen).ptr(part)
                        .i32(B).i32(NH).i32(NKV).i32(HS).i32(cap).i32(overflowPolicy).f32(scale(HS)).i32(chunk), bytes);
        k.launch(s, dt.kernel("decode_attention_reduce"), Dim3.of(NH, B), Dim3.of(REDUCE_BLOCK), 0,
                new KernelArgs().ptr(part).ptr(out).i32(B).i32(NH).i32(HS).i32(S), partBytes + (long) dt.sizeBytes() * B * C);
    }

    /** 1/sqrt(HS), rounded once from double as the CPU's Attention does. */
    static float scale(int HS) { return (float) (1.0 / Math.sqrt(HS)); }

    /**
     * Dynamic shared memory of the decode kernels: qs (HS floats) | sc (keys floats), each padded
     * to a multiple of 4 floats (native/attention.h smem_pad4: the compiler's wide loads of the
     * last query elements must stay inside the allocation).
     */
    static int sharedBytes(String name, int HS, int keys) {
        return checkShared(name, HS, keys, 4L * (pad4(HS) + pad4(keys)));
    }

    /** Per-warp shared memory of prefill_attention: qs (HS) | sc (T), unpadded (qs is not 16-byte aligned there). */
    static int prefillSharedBytes(String name, int HS, int keys) {
        return checkShared(name, HS, keys, 4L * (HS + keys));
    }

    private static long pad4(int n) { return (n + 3L) & ~3L; }

    private static int checkShared(String name, int HS, int keys, long bytes) {
        if (bytes > MAX_DYNAMIC_SHARED_BYTES)
            throw new IllegalArgumentException(name + ": " + keys + " keys of head size " + HS + " need " + bytes
                    + " bytes of shared memory (limit " + MAX_DYNAMIC_SHARED_BYTES + "); use the split form with a smaller chunk");
        return (int) bytes;
    }

    private static void checkCommon(String name, DType dt, DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc, DeviceBuffer seen,
                                    DeviceBuffer out, int B, int NH, int HS, int cap, int overflowPolicy) {
        checkShape(name, B, NH, HS, cap);
        long C = (long) NH * HS;
        need(name, "q", q, 4L * B * C);
        checkCache(name, dt, kc, vc, B, NH, HS, CudaKvCache.rowSlots(cap, overflowPolicy));
        need(name, "seen", seen, 4L * B);
        need(name, "out", out, (long) dt.sizeBytes() * B * C);
    }
}
