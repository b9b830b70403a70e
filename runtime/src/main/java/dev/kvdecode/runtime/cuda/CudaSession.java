package dev.kvdecode.runtime.cuda;

import dev.kvdecode.bindings.CublasHandle;
import dev.kvdecode.bindings.CudaEvent;
import dev.kvdecode.bindings.CudaGraph;
import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.GpuContext;
import dev.kvdecode.kernels.Activation;
import dev.kvdecode.kernels.cuda.CudaActivation;
import dev.kvdecode.kernels.cuda.CudaDecodeAttention;
import dev.kvdecode.kernels.cuda.CudaEmbedding;
import dev.kvdecode.kernels.cuda.CudaGemv;
import dev.kvdecode.kernels.cuda.CudaKernels;
import dev.kvdecode.kernels.cuda.CudaKvCache;
import dev.kvdecode.kernels.cuda.CudaLayerNorm;
import dev.kvdecode.kernels.cuda.CudaPrefillAttention;
import dev.kvdecode.kernels.cuda.CudaRmsNorm;
import dev.kvdecode.kernels.cuda.CudaRope;
import dev.kvdecode.kernels.cuda.CudaSwiGlu;
import dev.kvdecode.kernels.cuda.CudaSampling;
import dev.kvdecode.kernels.cuda.DType;
import dev.kvdecode.runtime.cache.KvCache;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.GenerationOptions;
import dev.kvdecode.runtime.engine.GenerationResult;
import dev.kvdecode.runtime.engine.Generator;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.engine.SlotDecoder;
import dev.kvdecode.runtime.engine.Sizes;
import dev.kvdecode.runtime.engine.StopReason;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.sample.SamplingParams;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Decoding of any model of the family ({@link ModelConfig}: GPT-2, the char model, Llama, Mistral,
 * Qwen2, Qwen3) on a CUDA device (or the emulator), for B sequences, one forward for all of them,
 * with the same semantics as {@link dev.kvdecode.runtime.cpu.CpuSession} — positions, overflow,
 * ring order, prompt handling — so greedy tokens match the CPU's.
 *
 * <p><b>The family.</b> The model's components pick the kernels, never its name: the norm
 * (layernorm or rmsnorm kernels; a decode step fuses either into the GEMV prologue), the
 * positions (learned: wpe in the embedding and the kv_append split; rotary: rope_kv_append, which
 * also adds the qkv bias, applies Qwen3's q/k norm and writes the rotated key and the value to a
 * cache of NKV heads), the MLP (an activation epilogue, or SwiGLU: a GEMV epilogue in decode, the
 * swiglu kernel after cuBLAS in prefill), the biases
 * (null buffers, skipped by the kernels). Grouped-query attention reads the NKV-head cache in
 * decode_attention_chunk and prefill_attention. With rotary positions cached SHIFT turns the kept
 * keys back when its 2 x contextTokens window moves (native/rope.cu), as the CPU's KvCache does.
 *
 * <p><b>Device state.</b> Weights are uploaded once in the session dtype ({@link DeviceWeights});
 * the K/V cache is two device buffers K, V of shape [layer][batch][KV head][slots][HS] in that dtype
 * (NKV heads; slots = 2 x capacity for cached SHIFT, else capacity);
 * activations, the last token of each sequence ({@code tokens}), its step counter ({@code seen}),
 * the RNG state and the ring of sampled ids live in preallocated {@link DeviceArena}s. A decode
 * step therefore needs no host arguments: the embedding of tokens[b] at position
 * min(seen[b], maxT-1), the L blocks (cuBLAS GEMMs with fp32 accumulation + our kernels; KV append
 * and attention read seen[b]), the final LayerNorm and the LM head, seen += 1, then on-device
 * sampling writes tokens[b] and ring[b][seen[b] mod ringTokens], and an async copy moves the ring
 * to pinned host memory. With {@link CudaOptions#graphs()} that step is captured once as a CUDA
 * graph and replayed; otherwise its kernels are launched one by one (the first step of a given
 * shape and sampling mode always runs eagerly, so lazy initialisation in cuBLAS or the driver
 * never happens during capture).
 *
 * <p><b>Two ways to drive it.</b> As an {@link InferenceSession} ({@link #prefill}, {@link #step}):
 * the host uploads the fed tokens and reads back the logits, so the shared tests and the host-side
 * {@link Generator} work unchanged. And {@link #generateOnDevice}: the device samples and feeds its
 * own tokens, and the host only reads the pinned ring to stream text and stop at EOS or max tokens.
 *
 * <p><b>Recompute mode</b> ({@code kvCache = false}): the device keeps each sequence's window of
 * the last contextTokens tokens and every step runs the full causal forward over it at positions
 * 0..n-1 (kv_prefill_append into a one-layer scratch cache + prefill_attention). Until a window
 * is full its length changes every step, so those steps are launched eagerly; once every window
 * is full the shapes are static and the step is captured as a graph like the cached one.
 *
 * <p>Prompts: each sequence is prefilled separately (its own length) through views of the shared
 * buffers; the first min(n, contextTokens) tokens in one causal pass, the rest as decode steps.
 * Not thread-safe; use it on the thread that opened the backend (the context is current there).
 */
public final class CudaSession implements InferenceSession {
    private final GpuContext gpu;
    private final CudaKernels k;
    private final DType dt;
    private final ModelConfig cfg;
    private final SessionOptions opt;
    private final CudaOptions copt;
    private final int B, C, NH, HS, V, L, maxT, ctx, rows, ringCap, policy;
    /** Slots per (b, layer, head) row of the cache: 2 ctx for the flat shift, else ctx. */
    private final int rowSlots;
    private final float eps;
    private final Activation act;
    /**
     * Keys per block of the decode attention. With {@link #chunkedAttention} (every head size the
     * chunked kernel serves) the attention is always split over blocks of this many keys; otherwise
     * the older kernels: 0 = one block per (b, h), else their flash-decoding split.
     */
    private final int splitChunk;
    /** decode_attention_chunk (GQA-shaped, online softmax, 16-byte loads) serves this head size. */
    private final boolean chunkedAttention;
    /** KV heads (GPT-2: one per query head). */
    private final int NKV;
    /** Widths: q and the attention output (NH*HS), the fused q|k|v, the MLP's first matmul (I or 2I), its hidden I. */
    private final int QD, QKV, FC, I;
    /** The model's components as the forward branches on them. */
    private final boolean rmsNorm, rotary, gated;

    private final DeviceWeights w;
    private final CudaStream stream;
    private final CublasHandle blas;
    private final DeviceBuffer workspace;
    // Activations and state in preallocated arenas, one per element type (fp32, the session
    // dtype, integers) plus one each for K and V: a buffer's neighbours in its allocation then
    // hold the same type, which keeps the emulator's per-allocation NaN check exact (it reads
    // the rest of a written pointer's allocation with that pointer's element type).
    private final DeviceArena act32 = new DeviceArena(), actT = new DeviceArena(), state = new DeviceArena(),
            kArena = new DeviceArena(), vArena = new DeviceArena();
    private final DeviceArena[] arenas = {act32, actT, state, kArena, vArena};
    private final DeviceArena.Slot x, ln, qkv, q, att, proj, fc, hid, logits, part, tokens, seen, ring, rng, promptTok,
            window, windowTmp, kCache, vCache;
    /** Greedy decoding's per-block partials (value, index) of the LM head's GEMV: (B, argmaxPartials(V)). */
    private final DeviceArena.Slot argmaxMax, argmaxIdx;
    private final Arena pinned = Arena.ofShared();
    private final MemorySegment logitsHost, ringHost, stageHost;
    private final float[] logitsOut;
    private final int[] seenHost;
    private final int[] windowLen;
    private final int cublasType;

    private CudaGraph stepGraph;
    private Sampling graphSampling;
    private Sampling warmedFor;
    private boolean closed;

    /** What the step's sampling kernel does; part of the captured graph. */
    record Sampling(boolean argmax, float temperature, int topK, float topP) {
        static final Sampling ARGMAX = new Sampling(true, 0f, 0, 1f);

        static Sampling of(SamplingParams p) {
            return p.isArgmax() ? ARGMAX : new Sampling(false, p.temperature(), p.topK(), p.topP());
        }
    }

    CudaSession(GpuContext gpu, CudaKernels kernels, Gpt2Weights weights, SessionOptions options, CudaOptions cudaOptions) {
        this.gpu = gpu;
        this.k = kernels;
        this.copt = cudaOptions;
        this.dt = cudaOptions.dtype();
        this.cfg = weights.config();
        this.opt = options;
        this.B = options.batch();
        this.C = cfg.nEmbd();
        this.NH = cfg.nHead();
        this.HS = cfg.headSize();
        this.V = cfg.vocabSize();
        this.L = cfg.nLayer();
        this.maxT = cfg.nPositions();
        this.ctx = options.contextTokens();
        this.eps = cfg.layerNormEpsilon();
        this.act = cfg.activation();
        this.ringCap = cudaOptions.ringTokens();
        this.policy = switch (options.overflow()) {
            // Cached SHIFT slides its window over rows of 2 x contextTokens slots, moving the
            // entries once per window instead of every token (docs/ARCHITECTURE.md, Overflow).
            case SHIFT -> options.kvCache() ? CudaKvCache.SHIFT_FLAT : CudaKvCache.SHIFT;
            case RING -> CudaKvCache.RING;
            case STOP -> CudaKvCache.STOP;
        };
        if (ctx > maxT) throw new IllegalArgumentException("context " + ctx + " exceeds the model's n_positions " + maxT);
        if (weights.layers().size() != L)
            throw new IllegalArgumentException("weights have " + weights.layers().size() + " layers, config says " + L);
        this.rows = Math.max(B, ctx);
        this.NKV = cfg.nKvHead();
        this.QD = cfg.attention().qDim();
        this.QKV = cfg.attention().qkvDim();
        this.FC = cfg.mlp().fcDim();
        this.I = cfg.mlp().hidden();
        this.rmsNorm = cfg.norm().kind() == ModelConfig.NormKind.RMS_NORM;
        this.rotary = cfg.positions() instanceof ModelConfig.Rotary;
        this.gated = cfg.mlp().gated();
        this.chunkedAttention = CudaDecodeAttention.chunkedSupports(dt, HS);
        CudaBackend.checkSupported(cfg, dt);
        this.splitChunk = cudaOptions.attentionChunk() > 0 ? cudaOptions.attentionChunk()
                : chunkedAttention ? AUTO_CHUNK : autoChunk(ctx);
        this.cublasType = switch (dt) {
            case F32 -> CublasHandle.CUDA_R_32F;
            case F16 -> CublasHandle.CUDA_R_16F;
            case BF16 -> CublasHandle.CUDA_R_16BF;
        };
        int es = dt.sizeBytes();
        this.rowSlots = opt.kvCache() ? CudaKvCache.rowSlots(ctx, policy) : ctx;
        long perSeq = (long) NKV * rowSlots * HS;   // one (b, layer)'s K slots

        // Activations: up to `rows` rows (B for a step, up to ctx for a prompt or a recompute window).
        x = act32.plan("x", 4L * rows * C);
        ln = actT.plan("ln", (long) es * rows * C);
        qkv = act32.plan("qkv", 4L * rows * QKV);
        q = act32.plan("q", 4L * rows * QD);
        att = actT.plan("att", (long) es * rows * QD);
        proj = act32.plan("proj", 4L * rows * C);
        fc = act32.plan("fc", 4L * rows * FC);
        hid = actT.plan("hid", (long) es * rows * I);
        logits = act32.plan("logits", 4L * B * V);
        argmaxMax = act32.plan("argmaxMax", 4L * B * CudaGemv.argmaxPartials(V));
        part = act32.plan("part", splitChunk > 0 ? CudaDecodeAttention.partialBytes(B, NH, HS, ctx, splitChunk) : 4);
        // Decode state.
        tokens = state.plan("tokens", 4L * B);
        seen = state.plan("seen", 4L * B);
        argmaxIdx = state.plan("argmaxIdx", 4L * B * CudaGemv.argmaxPartials(V));
        ring = state.plan("ring", 4L * B * ringCap);
        rng = state.plan("rng", 8L * B);
        promptTok = state.plan("promptTok", 4L * ctx);
        window = state.plan("window", opt.kvCache() ? 4 : 4L * B * ctx);
        windowTmp = state.plan("windowTmp", opt.kvCache() ? 4 : 4L * ctx);
        // The cache: all layers in cached mode; one layer of one sequence as recompute scratch.
        long cacheElems = opt.kvCache() ? (long) L * B * perSeq : perSeq;
        kCache = kArena.plan("kCache", es * cacheElems);
        vCache = vArena.plan("vCache", es * cacheElems);

        try {
            checkFits(gpu, weights, (long) es * perSeq);
        } catch (RuntimeException e) {
            pinned.close();   // nothing allocated in it yet; it has one owner, this session
            throw e;
        }

        this.seenHost = new int[B];
        this.windowLen = opt.kvCache() ? null : new int[B];
        this.logitsOut = new float[Sizes.arrayLength("--batch " + B + ": the (B, V) logits", (long) B * V)];

        DeviceWeights dw = null;
        CudaStream st = null;
        CublasHandle bl = null;
        DeviceBuffer ws = null;
        try {
            dw = new DeviceWeights(gpu, weights, dt);
            for (DeviceArena a : arenas) a.allocate(gpu);
            st = gpu.createStream();
            st.setProgrammaticLaunch(programmaticLaunch(gpu, cudaOptions.pdl()));
            bl = gpu.createCublasHandle();
            bl.setStream(st);
            if (gpu.cublas().has("cublasSetWorkspace_v2")) {
                // cuBLAS must not allocate while a graph is captured: give it a workspace up front
                // (32 MiB is NVIDIA's recommendation for Hopper; smaller suffices on the emulator).
                ws = gpu.allocate(gpu.mode() == dev.kvdecode.bindings.NativeLibraries.Mode.EMU ? 1 << 20 : 32 << 20);
                bl.setWorkspace(ws);
            }
            logitsHost = gpu.allocatePinned(pinned, 4L * B * V);
            ringHost = gpu.allocatePinned(pinned, 4L * B * ringCap);
            stageHost = gpu.allocatePinned(pinned, 8L * Math.max(rows, B));
            seen.buffer().fillWordsAsync(st, 0);
            st.synchronize();
        } catch (RuntimeException e) {
            if (bl != null) bl.close();
            if (st != null) st.close();
            if (ws != null) ws.close();
            for (DeviceArena a : arenas) a.close();
            if (dw != null) dw.close();
            pinned.close();
            throw e;
        }
        this.w = dw;
        this.stream = st;
        this.blas = bl;
        this.workspace = ws;
    }

    /**
     * Before anything is allocated: the weights, the planned arenas (KV cache, activations, decode
     * state) and the cuBLAS workspace against the device's free memory (cuMemGetInfo; the
     * emulator reports its 16 GiB heap), then the host's (B, V) logits against the Java heap. The
     * message names --batch and --context and about how many sequences would fit.
     */
    private void checkFits(GpuContext gpu, Gpt2Weights weights, long kvBytesPerSeqLayer) {
        long arenaBytes = 0;
        for (DeviceArena a : arenas) arenaBytes = Sizes.add(arenaBytes, a.sizeBytes());
        long workspace = gpu.mode() == dev.kvdecode.bindings.NativeLibraries.Mode.EMU ? 1 << 20 : 32 << 20;
        long need = Sizes.add(Sizes.add(DeviceWeights.plannedBytes(weights, dt), arenaBytes), workspace);
        GpuContext.MemoryInfo mem = gpu.memoryInfo();
        String what = "--batch " + B + " --context " + ctx + ": the CUDA session (weights, KV cache and buffers)";
        if (need > mem.freeBytes()) {
            // Per sequence: its K and V in every layer, its logits and (when B > ctx) its activation rows.
            long perSeq = Sizes.add(Sizes.mul(2, opt.kvCache() ? L : 0, kvBytesPerSeqLayer),
                    4L * V + (B > ctx ? 4L * 10 * C + (long) dt.sizeBytes() * 6 * C : 0));
            long fixed = need - Sizes.mul(B, perSeq);
            long fit = fixed < mem.freeBytes() ? Math.min(B - 1, (mem.freeBytes() - fixed) / Math.max(1, perSeq)) : 0;
            Sizes.checkDevice(what, need, mem.freeBytes(), mem.totalBytes(),
                    fit > 0 ? "use a smaller --batch (about " + fit + " fit with --context " + ctx + ") or --context"
                            : "use a smaller --context or a smaller model");
        }
        Sizes.checkHeap(what, new Sizes.Plan().array("(B, V) logits", (long) B * V, 4).arrays("counters", 2, B, 4),
                "use a smaller --batch");
    }

    // ---- InferenceSession ----

    @Override
    public float[] prefill(int[][] prompts) {
        checkOpen();
        prefillOnDevice(prompts);
        return downloadLogits();
    }

    @Override
    public float[] step(int[] tokens) {
        checkOpen();
        if (tokens.length != B) throw new IllegalArgumentException("expected " + B + " tokens, got " + tokens.length);
        for (int t : tokens) checkToken(t);
        checkRoomForStep();
        uploadInts(tokens, 0, B, this.tokens.buffer(), 0);
        runStep(Sampling.ARGMAX);
        for (int b = 0; b < B; b++) seenHost[b]++;
        return downloadLogits();
    }

    /**
     * Continuous batching, host loop: zeroes the slot's step counter and prefills it through the
     * same per-sequence path as {@link #prefill}; the other slots' caches and counters are untouched.
     */
    @Override
    public float[] prefillSlot(int slot, int[] prompt) {
        checkOpen();
        requireCache("prefillSlot");
        if (slot < 0 || slot >= B) throw new IllegalArgumentException("slot " + slot + " outside 0.." + (B - 1));
        if (prompt.length == 0) throw new IllegalArgumentException("empty prompt");
        for (int t : prompt) checkToken(t);
        if (prompt.length > ctx) throw KvCache.contextFull(ctx);
        seen.buffer().view(4L * slot, 4).fillWordsAsync(stream, 0);
        prefillCached(slot, prompt);
        seenHost[slot] = prompt.length;
        return downloadLogits();
    }

    /**
     * Continuous batching, host loop: one eager decode step (no graph) of the given slots, one
     * {@code decodeRows} launch sequence per run of consecutive slots, so a step over a full batch
     * costs what {@link #step} costs. Rows of different run lengths go through cuBLAS GEMMs of
     * different shapes, so unlike the CPU the logits are not bitwise independent of the batch
     * (that needs the batch-invariant GEMV of the GPU-decode issue).
     */
    @Override
    public float[] stepSlots(int[] slots, int[] tokens, int count) {
        checkOpen();
        requireCache("stepSlots");
        if (count < 1 || count > B || slots.length < count || tokens.length < count)
            throw new IllegalArgumentException("stepSlots: count " + count + " outside 1.." + B + " or longer than its arrays");
        boolean[] used = new boolean[B];
        for (int r = 0; r < count; r++) {
            int b = slots[r];
            if (b < 0 || b >= B) throw new IllegalArgumentException("slot " + b + " outside 0.." + (B - 1));
            if (used[b]) throw new IllegalArgumentException("stepSlots: slot " + b + " given twice");
            used[b] = true;
            checkToken(tokens[r]);
            if (opt.overflow() == OverflowPolicy.STOP && seenHost[b] + 1 > ctx) throw KvCache.contextFull(ctx);
        }
        int[] byslot = new int[B];
        for (int r = 0; r < count; r++) byslot[slots[r]] = tokens[r];
        for (int b0 = 0; b0 < B; ) {
            if (!used[b0]) { b0++; continue; }
            int n = 1;
            while (b0 + n < B && used[b0 + n]) n++;
            uploadInts(byslot, b0, n, this.tokens.buffer(), 4L * b0);
            decodeRows(b0, n, false);
            for (int b = b0; b < b0 + n; b++) seenHost[b]++;
            b0 += n;
        }
        return downloadLogits();
    }

    /**
     * Chunked prefill, host loop: {@link #prefillSlotChunk} through the device path the slot loop
     * uses (a chunk after the first attends over the slot's cached tokens with
     * prefill_attention_past), then the (B, V) logits to the host.
     */
    @Override
    public float[] prefillSlotChunk(int slot, int[] prompt, int from, int to) {
        checkOpen();
        requireCache("prefillSlotChunk");
        prefillChunkOnDevice(slot, prompt, from, to);
        return downloadLogits();
    }

    // ---- continuous batching with the sampling on the device (kvdecode serve) ----

    /** Each slot's sampling kernel and parameters (null: not started); set by the slot decoder. */
    private Sampling[] slotSampling;
    /** tokens (B) after a slot step: the ids the device sampled, in pinned memory. */
    private MemorySegment slotIdsHost;
    /** The captured slot step and the composition it replays (each slot's sampling, null = not stepped). */
    private CudaGraph slotGraph;
    private java.util.List<Sampling> slotGraphKey, lastSlotKey;
    /** Slot steps replayed from a captured graph (for tests and profiles). */
    private long slotGraphLaunches;

    /** How many slot steps so far were replays of a captured graph. */
    long slotGraphLaunches() { return slotGraphLaunches; }

    /**
     * The device slot loop: as the CLI's {@link #generateOnDevice}, each step's tokens are sampled
     * on the device (per slot with its own parameters and its own splitmix64 state, seeded from
     * {@code Generator.sequenceSeed(seed, 0)} as a batch of one is) and fed to the next step from
     * device memory; the host copies back only the B sampled ids. Decode steps go through the
     * batch-invariant GEMV in runs of at most {@link CudaGemv#MAX_ROWS} consecutive active slots,
     * so a sequence's tokens do not depend on the other slots, and equal those of
     * {@code generate --batch 1} with the same seed. With {@link CudaOptions#graphs()} a step whose
     * composition (which slots, which sampling) repeats the previous step's is captured once and
     * replayed while it stays the same.
     */
    @Override
    public SlotDecoder slotDecoder(int slots) {
        checkOpen();
        requireCache("slotDecoder");
        if (slots != B) throw new IllegalArgumentException("slotDecoder: " + slots + " slots for a session of batch " + B);
        if (slotIdsHost == null) slotIdsHost = gpu.allocatePinned(pinned, 4L * B);
        slotSampling = new Sampling[B];
        return new DeviceSlots();
    }

    private final class DeviceSlots implements SlotDecoder {
        private final long[] seeds = new long[B];

        @Override
        public void start(int slot, SamplingParams sampling) {
            checkSlot(slot);
            slotSampling[slot] = Sampling.of(sampling);
            seeds[slot] = sampling.seed();
        }

        @Override
        public int prefill(int slot, int[] prompt, int from, int to) {
            checkOpen();
            checkSlot(slot);
            Sampling sm = slotSampling[slot];
            if (sm == null) throw new IllegalStateException("slot " + slot + " was not started");
            prefillChunkOnDevice(slot, prompt, from, to);
            if (to < prompt.length) return -1;
            if (!sm.argmax()) {
                stream.synchronize();   // the staging area's previous upload has been read
                stageHost.setAtIndex(ValueLayout.JAVA_LONG, 0, Generator.sequenceSeed(seeds[slot], 0));
                rng.buffer().copyFromHostAsync(stream, stageHost.asSlice(0, 8), 8L * slot);
            }
            sample(slot, 1, sm, false);
            tokens.buffer().copyToHostAsync(stream, 0, slotIdsHost);
            stream.synchronize();
            return slotIdsHost.getAtIndex(ValueLayout.JAVA_INT, slot);
        }

        @Override
        public void step(int[] slots, int count, int[] ids) {
            checkOpen();
            if (count < 1 || count > B || slots.length < count || ids.length < count)
                throw new IllegalArgumentException("step: count " + count + " outside 1.." + B + " or longer than its arrays");
            Sampling[] key = new Sampling[B];
            for (int r = 0; r < count; r++) {
                int b = slots[r];
                checkSlot(b);
                if (key[b] != null) throw new IllegalArgumentException("step: slot " + b + " given twice");
                if (slotSampling[b] == null) throw new IllegalStateException("slot " + b + " was not started");
                if (opt.overflow() == OverflowPolicy.STOP && seenHost[b] + 1 > ctx) throw KvCache.contextFull(ctx);
                key[b] = slotSampling[b];
            }
            java.util.List<Sampling> composition = java.util.Arrays.asList(key);
            if (copt.graphs() && slotGraph != null && composition.equals(slotGraphKey)) {
                slotGraph.launch(stream);
                slotGraphLaunches++;
            } else if (copt.graphs() && composition.equals(lastSlotKey)) {
                // the previous step ran this composition eagerly: every kernel and cuBLAS is warm
                if (slotGraph != null) slotGraph.close();
                slotGraph = null;
                slotGraphKey = null;
                stream.beginCapture();
                try {
                    slotStepBody(key);
                } catch (RuntimeException e) {
                    try {
                        stream.endCapture().close();
                    } catch (RuntimeException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                    throw e;
                }
                slotGraph = stream.endCapture();
                slotGraphKey = composition;
                slotGraph.launch(stream);
                slotGraphLaunches++;
            } else {
                slotStepBody(key);
            }
            lastSlotKey = composition;
            stream.synchronize();
            for (int r = 0; r < count; r++) {
                ids[r] = slotIdsHost.getAtIndex(ValueLayout.JAVA_INT, slots[r]);
                seenHost[slots[r]]++;
            }
        }
    }

    /**
     * One slot step on the stream, no host decisions: decodeRows over runs of consecutive stepped
     * slots (at most MAX_ROWS each: the GEMV, whose rows do not depend on each other), then the
     * sampling kernel per run of equal sampling (tokens[b] and the ring), then tokens to the host.
     */
    private void slotStepBody(Sampling[] stepped) {
        for (int b0 = 0; b0 < B; ) {
            if (stepped[b0] == null) { b0++; continue; }
            int n = 1;
            while (b0 + n < B && stepped[b0 + n] != null && n < CudaGemv.MAX_ROWS) n++;
            decodeRows(b0, n, false);   // logits for the sampling runs below, which need not align with these
            b0 += n;
        }
        for (int b0 = 0; b0 < B; ) {
            if (stepped[b0] == null) { b0++; continue; }
            int n = 1;
            while (b0 + n < B && stepped[b0].equals(stepped[b0 + n])) n++;
            sample(b0, n, stepped[b0], false);
            b0 += n;
        }
        tokens.buffer().copyToHostAsync(stream, 0, slotIdsHost);
    }

    /**
     * Prompt tokens [from, to) of sequence {@code slot} in one causal pass at positions from..to-1:
     * from = 0 resets the slot (kv_prefill_append + prefill_attention, as {@link #prefillSlot});
     * a later chunk appends after the cached tokens and attends over them (kv_prefill_append_at +
     * prefill_attention_past). Logits of token to - 1 in the slot's row; seen[slot] = to.
     */
    private void prefillChunkOnDevice(int slot, int[] prompt, int from, int to) {
        checkSlot(slot);
        if (from < 0 || to <= from || to > prompt.length)
            throw new IllegalArgumentException("prefillSlotChunk: chunk [" + from + ", " + to + ") of a " + prompt.length + "-token prompt");
        if (prompt.length > ctx) throw KvCache.contextFull(ctx);
        if (from > 0 && seenHost[slot] != from)
            throw new IllegalStateException("prefillSlotChunk: slot " + slot + " holds " + seenHost[slot] + " tokens, the chunk starts at " + from);
        for (int i = from; i < to; i++) checkToken(prompt[i]);
        int T = to - from, past = from;
        DeviceBuffer seenB = seen.buffer().view(4L * slot, 4);
        if (from == 0) seenB.fillWordsAsync(stream, 0);
        uploadInts(prompt, from, T, promptTok.buffer(), 0);
        CudaEmbedding.prefill(k, stream, dt, x.buffer(), w.wte, w.wpe, promptTok.buffer(), seenB, 1, T, C, V, maxT);
        blocks(T, false, (l, lw) -> {
            DeviceBuffer kc = cacheView(kCache, l, slot, 1), vc = cacheView(vCache, l, slot, 1);
            if (past == 0) {
                prefillAppend(lw, kc, vc, T, rowSlots);
                CudaPrefillAttention.attend(k, stream, dt, q.buffer(), kc, vc, att.buffer(), 1, T, NH, NKV, HS, rowSlots);
            } else {
                if (rotary)
                    CudaRope.prefillAppendAt(k, stream, dt, qkv.buffer(), lw.attnBias(), lw.qNorm(), lw.kNorm(), w.ropeInvFreq,
                            q.buffer(), kc, vc, 1, T, NH, NKV, HS, rowSlots, eps, past);
                else
                    CudaKvCache.prefillAppendAt(k, stream, dt, qkv.buffer(), lw.attnBias(), q.buffer(), kc, vc, 1, T, NH, HS, rowSlots, past);
                CudaPrefillAttention.attendAfter(k, stream, dt, q.buffer(), kc, vc, att.buffer(), 1, T, NH, NKV, HS, rowSlots, past);
            }
        });
        head(T, T - 1, 1, false, logitsRows(slot, 1));
        CudaKvCache.advance(k, stream, seenB, 1, T);
        seenHost[slot] = to;
    }

    private void checkSlot(int b) {
        if (b < 0 || b >= B) throw new IllegalArgumentException("slot " + b + " outside 0.." + (B - 1));
    }

    private void requireCache(String what) {
        if (!opt.kvCache()) throw new UnsupportedOperationException(what + " needs the KV cache (kvCache = true)");
    }

    @Override
    public int tokensSeen(int b) { return seenHost[b]; }

    @Override
    public int vocabSize() { return V; }

    public SessionOptions options() { return opt; }

    public CudaOptions cudaOptions() { return copt; }

    /**
     * Runs one decode step of every sequence on {@code tokens} (as {@link #step}, greedy sampling,
     * launched eagerly) and returns its launches in order, as the launchers record them: the step a
     * captured graph replays. For budgets and profiles.
     */
    public java.util.List<CudaKernels.Launch> recordStep(int[] tokens) {
        checkOpen();
        if (tokens.length != B) throw new IllegalArgumentException("expected " + B + " tokens, got " + tokens.length);
        for (int t : tokens) checkToken(t);
        checkRoomForStep();
        uploadInts(tokens, 0, B, this.tokens.buffer(), 0);
        stream.synchronize();
        k.startRecording();
        java.util.List<CudaKernels.Launch> launches;
        try {
            stepBody(Sampling.ARGMAX);
        } finally {
            launches = k.stopRecording();
        }
        for (int b = 0; b < B; b++) seenHost[b]++;
        stream.synchronize();
        return launches;
    }

    /** Bytes of weights on the device (for GB/s reports). */
    public long weightBytes() { return w.sizeBytes(); }

    // ---- the device-resident loop ----

    /**
     * Generates like {@link Generator#generate} but with the loop on the device: prefill, then per
     * step the captured graph (or the step-by-step launches) embeds the token the device sampled,
     * runs the model, samples the next token on the device and copies the ring of sampled ids to
     * pinned host memory. The host keeps up to {@link CudaOptions#lookahead()} steps queued and
     * reads each step's ids from the ring after its event, to report them and to stop at EOS, max
     * tokens or (STOP policy) a full window, with the same stop rules as Generator.
     *
     * <p>Greedy decoding gives the CPU backend's tokens. Sampling draws with the device's
     * splitmix64 generator (native/sampling.cu), seeded per sequence from (seed, b) as Generator
     * seeds its host generators, so it is reproducible but not the same draw as the CPU's.
     * With lookahead > 1 the device may run a few steps past the last token reported; the session
     * is then further ahead than {@link #tokensSeen} of the last reported token implies.
     */
    @Override
    public GenerationResult generate(int[][] prompts, GenerationOptions options, Generator.TokenListener listener) {
        // The device loop stops at one eos id; a model with several (Llama 3, Qwen: config.json
        // plus generation_config.json) takes the host loop, the same tokens at one logits copy per step.
        if (options.eosTokens().length > 1) return Generator.generate(this, prompts, options, listener);
        return generateOnDevice(prompts, options, listener);
    }

    public GenerationResult generateOnDevice(int[][] prompts, GenerationOptions options, Generator.TokenListener listener) {
        checkOpen();
        Sampling sampling = Sampling.of(options.sampling());
        int max = options.maxNewTokens();
        // The device loop serves GPT-2, which has one eos id: a set of several is refused, not cut down.
        int eos = options.singleEosToken();
        boolean eosActive = eos >= 0 && !options.ignoreEos();
        int[][] out = Generator.newOutputs(B, max);
        int[] produced = new int[B];
        StopReason[] reasons = new StopReason[B];

        long t0 = System.nanoTime();
        prefillOnDevice(prompts);
        if (!sampling.argmax()) seedRng(options.sampling().seed());
        sample(0, B, sampling, false);
        copyRingToHost();
        int[] firstIndex = seenHost.clone();   // token number of each sequence's first sampled id
        stream.synchronize();
        int[] next = readRing(firstIndex, 0);
        double prefillMs = (System.nanoTime() - t0) / 1e6;
        int active = Generator.accept(next, out, produced, reasons, max, eosActive, eos, listener);

        int la = copt.lookahead();
        CudaEvent[] events = new CudaEvent[la];
        long t1 = System.nanoTime();
        int launched = 0, consumed = 0;
        try {
            for (int i = 0; i < la; i++) events[i] = gpu.createEvent();
            while (active > 0) {
                // Queue steps while there is room in flight, the window allows (STOP), and a running
                // sequence can still use their tokens (max - 1 steps follow the prefill's token).
                while (launched - consumed < la && launched < max - 1 && roomForStep()) {
                    runStep(sampling);
                    for (int b = 0; b < B; b++) seenHost[b]++;
                    events[launched % la].record(stream);
                    launched++;
                }
                if (consumed == launched) {
                    // Nothing in flight and nothing launchable: the window is full under STOP.
                    for (int b = 0; b < B; b++) if (reasons[b] == null) reasons[b] = StopReason.CONTEXT_FULL;
                    break;
                }
                events[consumed % la].synchronize();
                consumed++;
                next = readRing(firstIndex, consumed);
                active = Generator.accept(next, out, produced, reasons, max, eosActive, eos, listener);
            }
            stream.synchronize();
        } finally {
            for (CudaEvent e : events) if (e != null) e.close();
        }
        double decodeMs = (System.nanoTime() - t1) / 1e6;
        int[][] toks = new int[B][];
        for (int b = 0; b < B; b++) toks[b] = Arrays.copyOf(out[b], produced[b]);
        return new GenerationResult(toks, reasons, prefillMs, decodeMs, consumed);
    }

    /** The ids of step {@code step} (0 = the prefill's) from the pinned ring. */
    private int[] readRing(int[] firstIndex, int step) {
        int[] ids = new int[B];
        for (int b = 0; b < B; b++) {
            int slot = (firstIndex[b] + step) % ringCap;
            ids[b] = ringHost.getAtIndex(ValueLayout.JAVA_INT, (long) b * ringCap + slot);
        }
        return ids;
    }

    /** rng[b] = Generator.sequenceSeed(seed, b), the host loop's per-sequence seeds. */
    private void seedRng(long seed) {
        stream.synchronize();
        for (int b = 0; b < B; b++) stageHost.setAtIndex(ValueLayout.JAVA_LONG, b, Generator.sequenceSeed(seed, b));
        rng.buffer().copyFromHostAsync(stream, stageHost.asSlice(0, 8L * B), 0);
    }

    // ---- prompts ----

    private void prefillOnDevice(int[][] prompts) {
        if (prompts.length != B) throw new IllegalArgumentException("expected " + B + " prompts, got " + prompts.length);
        for (int[] p : prompts) {
            if (p.length == 0) throw new IllegalArgumentException("empty prompt");
            for (int t : p) checkToken(t);
            if (opt.overflow() == OverflowPolicy.STOP && p.length > ctx) throw KvCache.contextFull(ctx);
        }
        if (opt.kvCache()) {
            seen.buffer().fillWordsAsync(stream, 0);
            for (int b = 0; b < B; b++) prefillCached(b, prompts[b]);
        } else {
            int[] lens = new int[B];
            for (int b = 0; b < B; b++) {
                int[] p = prompts[b];
                int n = Math.min(p.length, ctx);
                uploadInts(p, p.length - n, n, window.buffer(), 4L * b * ctx);
                windowLen[b] = n;
                lens[b] = p.length;
                forwardWindow(b);
            }
            // seen[b] = prompt length: the sampler's ring slot counts every token, as in cached mode.
            uploadInts(lens, 0, B, seen.buffer(), 0);
        }
        for (int b = 0; b < B; b++) seenHost[b] = prompts[b].length;
        // A new prompt invalidates nothing in a captured graph (same buffers, same shapes), but in
        // recompute mode the windows may be shorter now than when it was captured.
        if (!opt.kvCache() && stepGraph != null) {
            stepGraph.close();
            stepGraph = null;
        }
    }

    /** One causal pass over the first min(n, ctx) tokens of sequence b, then a decode step per further token. */
    private void prefillCached(int b, int[] prompt) {
        int T = Math.min(prompt.length, ctx);
        uploadInts(prompt, 0, T, promptTok.buffer(), 0);
        DeviceBuffer seenB = seen.buffer().view(4L * b, 4);
        CudaEmbedding.prefill(k, stream, dt, x.buffer(), w.wte, w.wpe, promptTok.buffer(), seenB, 1, T, C, V, maxT);
        blocks(T, false, (l, lw) -> {
            DeviceBuffer kc = cacheView(kCache, l, b, 1), vc = cacheView(vCache, l, b, 1);
            prefillAppend(lw, kc, vc, T, rowSlots);
            CudaPrefillAttention.attend(k, stream, dt, q.buffer(), kc, vc, att.buffer(), 1, T, NH, NKV, HS, rowSlots);
        });
        head(T, T - 1, 1, false, logitsRows(b, 1));
        CudaKvCache.advance(k, stream, seenB, 1, T);
        for (int t = T; t < prompt.length; t++) {
            uploadInts(prompt, t, 1, tokens.buffer(), 4L * b);
            decodeRows(b, 1, false);
        }
    }

    // ---- one decode step ----

    /** Runs one step of every sequence: graph replay, capture, or eager launches. */
    private void runStep(Sampling sampling) {
        if (!graphsNow()) {
            stepBody(sampling);
            return;
        }
        if (stepGraph != null && !sampling.equals(graphSampling)) {
            stepGraph.close();
            stepGraph = null;
        }
        if (stepGraph == null) {
            // The first step with these shapes and this sampling kernel runs eagerly: kernels are
            // looked up and their parameters queried, cuBLAS picks and loads its kernels, all
            // outside the capture (where such calls may be refused or invalidate it).
            if (!sampling.equals(warmedFor)) {
                stepBody(sampling);
                warmedFor = sampling;
                return;
            }
            stream.beginCapture();
            CudaGraph g;
            try {
                stepBody(sampling);
            } catch (RuntimeException e) {
                try {
                    stream.endCapture().close();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
            g = stream.endCapture();
            stepGraph = g;
            graphSampling = sampling;
        }
        stepGraph.launch(stream);
    }

    private boolean graphsNow() {
        if (!copt.graphs()) return false;
        if (opt.kvCache()) return true;
        for (int b = 0; b < B; b++) if (windowLen[b] < ctx) return false;
        return true;
    }

    /**
     * The step's work, all on the stream and with no host-side decisions that change between
     * steps in graph mode: tokens[b] -> model -> logits, seen += 1, sample -> tokens[b] and the
     * ring, ring -> pinned host memory.
     */
    private void stepBody(Sampling sampling) {
        // Greedy decoding on the GEMV path: the LM head's GEMV leaves per-block argmax partials
        // (its LayerNorm prologue: the RMSNorm families reduce the logits for now).
        boolean partials = opt.kvCache() && sampling.argmax() && B <= CudaGemv.MAX_ROWS && !rmsNorm;
        if (opt.kvCache()) {
            decodeRows(0, B, partials);
        } else {
            for (int b = 0; b < B; b++) {
                pushWindow(b);
                forwardWindow(b);
            }
            CudaKvCache.advance(k, stream, seen.buffer(), B, 1);
        }
        sample(0, B, sampling, partials);
        copyRingToHost();
    }

    /**
     * A decode step of sequences [b0, b0+n): embedding, blocks over the cache, head, seen += 1.
     * With {@code argmaxPartials} (greedy sampling follows, n <= 8) the LM head also leaves its
     * per-block argmax partials for {@link #sample}.
     */
    private void decodeRows(int b0, int n, boolean argmaxPartials) {
        DeviceBuffer tok = tokens.buffer().view(4L * b0, 4L * n);
        DeviceBuffer sn = seen.buffer().view(4L * b0, 4L * n);
        // x = wte[token] + wpe[min(seen, maxT-1)]
        CudaEmbedding.decode(k, stream, dt, x.buffer(), w.wte, w.wpe, tok, sn, n, C, V, maxT);
        boolean gemv = n <= CudaGemv.MAX_ROWS;
        // The K/V append in the qkv GEMV's epilogue (all policies of a cached decode step but the in-place SHIFT).
        boolean fusedAppend = gemv && !rotary && !rmsNorm && CudaGemv.qkvAppendSupports(policy);   // RoPE: the hook is not filled yet
        AttentionPart qkvAppend = !fusedAppend ? null : (l, lw) -> {
            DeviceBuffer kc = cacheView(kCache, l, b0, n), vc = cacheView(vCache, l, b0, n);
            // q = LayerNorm_1(x) W_q + b_q; K/V of this token straight into the cache at seen (overflow policy applies)
            if (CudaGemv.layerNormFits(dt, n, C)) {
                CudaGemv.qkvAppend(k, stream, dt, x.buffer(), lw.ln1Weight(), lw.ln1Bias(), eps, lw.attnWeight(), lw.attnBias(),
                        q.buffer(), kc, vc, sn, n, C, NH, NKV, HS, ctx, policy);
            } else {
                CudaLayerNorm.layerNorm(k, stream, dt, x.buffer(), lw.ln1Weight(), lw.ln1Bias(), ln.buffer(), n, C, eps);
                CudaGemv.qkvAppend(k, stream, dt, ln.buffer(), null, null, eps, lw.attnWeight(), lw.attnBias(),
                        q.buffer(), kc, vc, sn, n, C, NH, NKV, HS, ctx, policy);
            }
        };
        blocks(n, gemv, qkvAppend, (l, lw) -> {
            DeviceBuffer kc = cacheView(kCache, l, b0, n), vc = cacheView(vCache, l, b0, n);
            // q = qkv_q + b_q; K/V of this token into the cache at seen (overflow policy applies);
            // rotary: q and k normed (Qwen3) and turned to the token's position
            if (rotary)
                CudaRope.append(k, stream, dt, qkv.buffer(), lw.attnBias(), lw.qNorm(), lw.kNorm(), w.ropeInvFreq, q.buffer(),
                        kc, vc, sn, n, NH, NKV, HS, ctx, policy, maxT, eps);
            else if (!fusedAppend)
                CudaKvCache.append(k, stream, dt, qkv.buffer(), lw.attnBias(), q.buffer(), kc, vc, sn, n, NH, HS, ctx, policy);
            // att = softmax(q K^T / sqrt(HS)) V over min(seen+1, ctx) entries, oldest first
            if (chunkedAttention)
                CudaDecodeAttention.attendChunked(k, stream, dt, q.buffer(), kc, vc, sn, part.buffer(), att.buffer(),
                        n, NH, NKV, HS, ctx, policy, splitChunk);
            else if (splitChunk > 0)
                CudaDecodeAttention.attendSplit(k, stream, dt, q.buffer(), kc, vc, sn, part.buffer(), att.buffer(),
                        n, NH, HS, ctx, policy, splitChunk);
            else
                CudaDecodeAttention.attend(k, stream, dt, q.buffer(), kc, vc, sn, att.buffer(), n, NH, HS, ctx, policy);
        });
        if (argmaxPartials && gemv) {
            // logits = LayerNorm_f(x) lmHead^T (+ bias), and each block's best logit per row
            int P = CudaGemv.argmaxPartials(V);
            DeviceBuffer pm = argmaxMax.buffer().view(4L * b0 * P, 4L * n * P), pi = argmaxIdx.buffer().view(4L * b0 * P, 4L * n * P);
            if (CudaGemv.layerNormFits(dt, n, C)) {
                CudaGemv.biasArgmax(k, stream, dt, x.buffer(), w.lnfWeight, w.lnfBias, eps, w.lmHead, w.lmHeadBias,
                        logitsRows(b0, n), pm, pi, n, C, V);
            } else {
                CudaLayerNorm.layerNorm(k, stream, dt, x.buffer(), w.lnfWeight, w.lnfBias, ln.buffer(), n, C, eps);
                CudaGemv.biasArgmax(k, stream, dt, ln.buffer(), null, null, eps, w.lmHead, w.lmHeadBias,
                        logitsRows(b0, n), pm, pi, n, C, V);
            }
        } else {
            head(n, 0, n, gemv, logitsRows(b0, n));
        }
        CudaKvCache.advance(k, stream, sn, n, 1);
    }

    /** Recompute mode: the full causal forward over sequence b's window at positions 0..n-1. */
    private void forwardWindow(int b) {
        int T = windowLen[b];
        DeviceBuffer win = window.buffer().view(4L * b * ctx, 4L * T);
        DeviceBuffer kc = kCache.buffer(), vc = vCache.buffer();
        CudaEmbedding.prefill(k, stream, dt, x.buffer(), w.wte, w.wpe, win, null, 1, T, C, V, maxT);
        blocks(T, false, (l, lw) -> {
            // The scratch cache holds only this layer's K/V of this window: recompute keeps nothing.
            prefillAppend(lw, kc, vc, T, ctx);
            CudaPrefillAttention.attend(k, stream, dt, q.buffer(), kc, vc, att.buffer(), 1, T, NH, NKV, HS, ctx);
        });
        head(T, T - 1, 1, false, logitsRows(b, 1));
    }

    /** Recompute mode: appends tokens[b] to sequence b's window, sliding it left by one when full. */
    private void pushWindow(int b) {
        DeviceBuffer win = window.buffer();
        long base = 4L * b * ctx;
        if (windowLen[b] < ctx) {
            win.copyFromDeviceAsync(stream, tokens.buffer(), 4L * b, base + 4L * windowLen[b], 4);
            windowLen[b]++;
            return;
        }
        if (ctx > 1) {
            // window[1..ctx) -> tmp -> window[0..ctx-1): two copies, because a device-to-device copy
            // between overlapping ranges is undefined.
            windowTmp.buffer().copyFromDeviceAsync(stream, win, base + 4, 0, 4L * (ctx - 1));
            win.copyFromDeviceAsync(stream, windowTmp.buffer(), 0, base, 4L * (ctx - 1));
        }
        win.copyFromDeviceAsync(stream, tokens.buffer(), 4L * b, base + 4L * (ctx - 1), 4);
    }

    // ---- the transformer ----

    /** The attention part of a block: qkv (f32, no bias) -> att (T), given the layer. */
    @FunctionalInterface
    private interface AttentionPart {
        void run(int layer, DeviceWeights.Layer lw);
    }

    /**
     * A prompt's K/V (one sequence, T tokens at positions 0..T-1) into an empty cache of {@code slots}
     * per row, and its queries into q: rotary positions turn q and k (after Qwen3's q/k norm).
     */
    private void prefillAppend(DeviceWeights.Layer lw, DeviceBuffer kc, DeviceBuffer vc, int T, int slots) {
        if (rotary)
            CudaRope.prefillAppend(k, stream, dt, qkv.buffer(), lw.attnBias(), lw.qNorm(), lw.kNorm(), w.ropeInvFreq,
                    q.buffer(), kc, vc, 1, T, NH, NKV, HS, slots, eps);
        else
            CudaKvCache.prefillAppend(k, stream, dt, qkv.buffer(), lw.attnBias(), q.buffer(), kc, vc, 1, T, NH, HS, slots);
    }

    /**
     * The L pre-norm blocks (GPT-2, Radford et al. 2019, sec. 2.3; Llama, Touvron et al. 2023,
     * sec. 2.2) over the residual stream x (rows, C) f32, in place. With {@code gemv} (a decode
     * step of at most 8 rows) the matmuls are our GEMVs, with the bias, the activation and the
     * residual adds fused into their epilogues; otherwise cuBLAS GEMMs, each block's closing
     * residual add fused into the next norm (residual_layernorm, residual_rmsnorm) and the last
     * block's completed by {@link #head}, which then finds its down-projection output in proj.
     */
    private void blocks(int rows, boolean gemv, AttentionPart attention) { blocks(rows, gemv, null, attention); }

    /** As above; on the GEMV path a non-null {@code qkvPart} replaces the qkv GEMV (the fused K/V append). */
    private void blocks(int rows, boolean gemv, AttentionPart qkvPart, AttentionPart attention) {
        if (gemv) {
            for (int l = 0; l < L; l++) gemvBlock(l, rows, qkvPart, attention);
            return;
        }
        for (int l = 0; l < L; l++) {
            DeviceWeights.Layer lw = w.layers.get(l);
            // ln = norm_1(x), after x += mlp(prev) + b_down(prev)
            if (l == 0) norm(lw.ln1Weight(), lw.ln1Bias(), rows);
            else residualNorm(w.layers.get(l - 1).fcProjBias(), lw.ln1Weight(), lw.ln1Bias(), rows);
            // [q | k | v] = ln W_qkv (bias added by the attention part)
            linear(ln.buffer(), lw.attnWeight(), qkv.buffer(), rows, C, QKV);
            attention.run(l, lw);
            // proj = att W_o; x += proj + b_o; ln = norm_2(x)
            linear(att.buffer(), lw.attnProjWeight(), proj.buffer(), rows, QD, C);
            residualNorm(lw.attnProjBias(), lw.ln2Weight(), lw.ln2Bias(), rows);
            // hid = act(ln W_fc + b_fc) (GELU: GPT-2, ReLU: the char model), or gated:
            // hid = silu(ln W_gate + b) * (ln W_up + b) (SwiGLU, Shazeer 2020)
            linear(ln.buffer(), lw.fcWeight(), fc.buffer(), rows, C, FC);
            if (gated) CudaSwiGlu.swiglu(k, stream, dt, fc.buffer(), lw.fcBias(), hid.buffer(), rows, I);
            else CudaActivation.biasActivation(k, stream, dt, act, fc.buffer(), lw.fcBias(), hid.buffer(), rows, FC);
            // proj = hid W_down (added to x, with its bias, by the next norm)
            linear(hid.buffer(), lw.fcProjWeight(), proj.buffer(), rows, I, C);
        }
    }

    /** One block of a decode step on the GEMVs: every residual add lands in x inside a GEMV. */
    private void gemvBlock(int l, int rows, AttentionPart qkvPart, AttentionPart attention) {
        DeviceWeights.Layer lw = w.layers.get(l);
        // [q | k | v] = norm_1(x) W_qkv (bias added by the attention part), or the fused qkv + K/V append
        if (qkvPart != null) qkvPart.run(l, lw);
        else normGemv(CudaGemv.Epilogue.BIAS, lw.ln1Weight(), lw.ln1Bias(), lw.attnWeight(), null, qkv.buffer(), rows, QKV);
        attention.run(l, lw);
        // x += att W_o + b_o
        CudaGemv.gemv(k, stream, dt, CudaGemv.Epilogue.BIAS_RESIDUAL, att.buffer(), lw.attnProjWeight(), lw.attnProjBias(),
                x.buffer(), rows, QD, C);
        if (gated) {
            // hid = silu(norm_2(x) W_gate + b) * (norm_2(x) W_up + b): one GEMV with the RMSNorm
            // prologue and the SwiGLU epilogue where the rows fit its shared memory
            if (rmsNorm && CudaGemv.layerNormFits(dt, rows, C)) {
                CudaGemv.gemvSwiGlu(k, stream, dt, x.buffer(), lw.ln2Weight(), eps, lw.fcWeight(), lw.fcBias(), hid.buffer(), rows, C, I);
            } else {
                norm(lw.ln2Weight(), lw.ln2Bias(), rows);
                CudaGemv.gemvSwiGlu(k, stream, dt, ln.buffer(), null, eps, lw.fcWeight(), lw.fcBias(), hid.buffer(), rows, C, I);
            }
        } else {
            // hid = act(norm_2(x) W_fc + b_fc)
            normGemv(CudaGemv.Epilogue.of(act), lw.ln2Weight(), lw.ln2Bias(), lw.fcWeight(), lw.fcBias(), hid.buffer(), rows, FC);
        }
        // x += hid W_down + b_down
        CudaGemv.gemv(k, stream, dt, CudaGemv.Epilogue.BIAS_RESIDUAL, hid.buffer(), lw.fcProjWeight(), lw.fcProjBias(),
                x.buffer(), rows, I, C);
    }

    /** ln (rows, C) = the model's norm of x: LayerNorm (weight, bias) or RMSNorm (weight; bias null). */
    private void norm(DeviceBuffer weight, DeviceBuffer bias, int rows) {
        if (rmsNorm) CudaRmsNorm.rmsNorm(k, stream, dt, x.buffer(), weight, ln.buffer(), rows, C, eps);
        else CudaLayerNorm.layerNorm(k, stream, dt, x.buffer(), weight, bias, ln.buffer(), rows, C, eps);
    }

    /** x += proj + projBias; ln = the model's norm of x, in one launch. */
    private void residualNorm(DeviceBuffer projBias, DeviceBuffer weight, DeviceBuffer bias, int rows) {
        if (rmsNorm)
            CudaRmsNorm.residualRmsNorm(k, stream, dt, x.buffer(), proj.buffer(), projBias, weight, ln.buffer(), rows, C, eps);
        else
            CudaLayerNorm.residualLayerNorm(k, stream, dt, x.buffer(), proj.buffer(), projBias, weight, bias, ln.buffer(),
                    rows, C, eps);
    }

    /**
     * out (rows, N) = epilogue(norm(x) W^T + bias): the norm in the GEMV's prologue (one gemv_ln or
     * gemv_rms launch) where the rows fit its shared memory; otherwise the norm into ln then the
     * GEMV (the same bits either way).
     */
    private void normGemv(CudaGemv.Epilogue e, DeviceBuffer gamma, DeviceBuffer beta, DeviceBuffer wt, DeviceBuffer bias,
                          DeviceBuffer out, int rows, int N) {
        if (!rmsNorm && CudaGemv.layerNormFits(dt, rows, C)) {
            CudaGemv.gemvLayerNorm(k, stream, dt, e, x.buffer(), gamma, beta, eps, wt, bias, out, rows, C, N);
        } else if (rmsNorm && e == CudaGemv.Epilogue.BIAS && CudaGemv.layerNormFits(dt, rows, C)) {
            CudaGemv.gemvRmsNorm(k, stream, dt, x.buffer(), gamma, eps, wt, bias, out, rows, C, N);
        } else {
            norm(gamma, beta, rows);
            CudaGemv.gemv(k, stream, dt, e, ln.buffer(), wt, bias, out, rows, C, N);
        }
    }

    /**
     * x += proj + b_down of the last block (the GEMV path has added it already); ln = norm_f(x)
     * over all rows; logits of rows [row0, row0+n) = ln lmHead^T (+ bias) into {@code out} (n, V) f32.
     */
    private void head(int rows, int row0, int n, boolean gemv, DeviceBuffer out) {
        if (gemv) {
            // decode: row0 = 0, n = rows
            normGemv(CudaGemv.Epilogue.BIAS, w.lnfWeight, w.lnfBias, w.lmHead, w.lmHeadBias, out, rows, V);
            return;
        }
        residualNorm(w.layers.get(L - 1).fcProjBias(), w.lnfWeight, w.lnfBias, rows);
        // Row-major logits (n,V) = ln (n,C) lmHead^T, lmHead (V,C) row-major. Column-major that is
        // logits^T (V,n) = op(A) B with A = lmHead read as (C,V), op = transpose, B = ln^T (C,n).
        long lnRows = ln.buffer().address() + (long) row0 * C * dt.sizeBytes();
        k.record(new CudaKernels.Launch("cublasGemmEx", dev.kvdecode.bindings.Dim3.of(1), dev.kvdecode.bindings.Dim3.of(1), 0,
                (long) dt.sizeBytes() * ((long) V * C + (long) n * C) + 4L * n * V));
        blas.gemmEx(CublasHandle.CUBLAS_OP_T, CublasHandle.CUBLAS_OP_N, V, n, C, 1f,
                w.lmHead.address(), cublasType, C, lnRows, cublasType, C, 0f, out.address(), CublasHandle.CUDA_R_32F, V);
        if (w.lmHeadBias != null) CudaActivation.biasAdd(k, stream, dt, out, w.lmHeadBias, n, V);
    }

    /**
     * Row-major out (M,N) f32 = in (M,K) · W^T, W stored (N,K) row-major (DeviceWeights), in and W
     * in the session dtype, fp32 accumulation. Column-major: out^T (N,M) = op(A) B with A = W read
     * as (K,N), op = transpose, B = in^T (K,M) — the LM head's form, see CublasHandle.
     */
    private void linear(DeviceBuffer in, DeviceBuffer wt, DeviceBuffer out, int M, int K, int N) {
        k.record(new CudaKernels.Launch("cublasGemmEx", dev.kvdecode.bindings.Dim3.of(1), dev.kvdecode.bindings.Dim3.of(1), 0,
                (long) dt.sizeBytes() * ((long) N * K + (long) M * K) + 4L * M * N));
        blas.gemmEx(CublasHandle.CUBLAS_OP_T, CublasHandle.CUBLAS_OP_N, N, M, K, 1f,
                wt.address(), cublasType, K, in.address(), cublasType, K, 0f, out.address(), CublasHandle.CUDA_R_32F, N);
    }

    /**
     * Samples sequences [b0, b0+n) from their logits: tokens[b] and ring[b][seen[b] mod ringTokens];
     * greedy with {@code fromPartials} reduces the LM head's argmax partials instead of the logits.
     */
    private void sample(int b0, int n, Sampling s, boolean fromPartials) {
        DeviceBuffer lg = logitsRows(b0, n);
        DeviceBuffer tok = tokens.buffer().view(4L * b0, 4L * n);
        DeviceBuffer rg = ring.buffer().view(4L * b0 * ringCap, 4L * n * ringCap);
        DeviceBuffer sn = seen.buffer().view(4L * b0, 4L * n);
        if (s.argmax() && fromPartials) {
            int P = CudaGemv.argmaxPartials(V);
            CudaSampling.argmaxPartials(k, stream, argmaxMax.buffer().view(4L * b0 * P, 4L * n * P),
                    argmaxIdx.buffer().view(4L * b0 * P, 4L * n * P), tok, rg, sn, n, P, V, ringCap);
        } else if (s.argmax())
            CudaSampling.argmax(k, stream, lg, tok, rg, sn, n, V, ringCap);
        else
            CudaSampling.topKP(k, stream, lg, rng.buffer().view(8L * b0, 8L * n), tok, rg, sn, n, V, ringCap,
                    s.temperature(), s.topK(), s.topP());
    }

    private void copyRingToHost() { ring.buffer().copyToHostAsync(stream, 0, ringHost); }

    // ---- helpers ----

    /** Layer l's K (or V) of sequences [b0, b0+n): (n, NKV, rowSlots, HS) in the session dtype. */
    private DeviceBuffer cacheView(DeviceArena.Slot cache, int l, int b0, int n) {
        long perSeq = (long) NKV * rowSlots * HS * dt.sizeBytes();
        return cache.buffer().view(((long) l * B + b0) * perSeq, n * perSeq);
    }

    private DeviceBuffer logitsRows(int b0, int n) { return logits.buffer().view(4L * b0 * V, 4L * n * V); }

    /** src[off, off+n) -> dst at dstOffsetBytes, through pinned staging (waits for the stream first). */
    private void uploadInts(int[] src, int off, int n, DeviceBuffer dst, long dstOffsetBytes) {
        // The previous async copy from the staging area must have run before it is overwritten.
        stream.synchronize();
        MemorySegment.copy(src, off, stageHost, ValueLayout.JAVA_INT, 0, n);
        dst.copyFromHostAsync(stream, stageHost.asSlice(0, 4L * n), dstOffsetBytes);
    }

    private float[] downloadLogits() {
        logits.buffer().copyToHostAsync(stream, 0, logitsHost);
        stream.synchronize();
        MemorySegment.copy(logitsHost, ValueLayout.JAVA_FLOAT, 0, logitsOut, 0, B * V);
        return logitsOut;
    }

    /** STOP: a step needs room for one more token in every sequence (checked before any work). */
    private void checkRoomForStep() {
        if (!roomForStep()) throw KvCache.contextFull(ctx);
    }

    private boolean roomForStep() {
        if (opt.overflow() != OverflowPolicy.STOP) return true;
        for (int b = 0; b < B; b++) {
            int held = opt.kvCache() ? seenHost[b] : windowLen[b];
            if (held + 1 > ctx) return false;
        }
        return true;
    }

    private void checkToken(int t) {
        if (t < 0 || t >= V) throw new IllegalArgumentException("token id " + t + " outside the vocabulary [0, " + V + ")");
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("CUDA session used after close");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        // Release everything even if one release fails (after a device fault every call reports
        // the sticky error); the first failure is rethrown, the others are attached to it.
        RuntimeException first = null;
        AutoCloseable[] owners = {stream::synchronize, () -> { if (stepGraph != null) stepGraph.close(); },
                () -> { if (slotGraph != null) slotGraph.close(); },
                blas, stream, () -> { if (workspace != null) workspace.close(); },
                act32, actT, state, kArena, vArena, w, pinned};
        for (AutoCloseable c : owners) {
            try {
                c.close();
            } catch (Exception e) {
                RuntimeException r = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                if (first == null) first = r;
                else first.addSuppressed(r);
            }
        }
        if (first != null) throw first;
    }

    @Override
    public String toString() {
        return "CudaSession" + Arrays.toString(new int[] {B, C, NH, L, V, ctx}) + opt + copt;
    }

    /**
     * Whether the step's kernels go out as programmatic dependent launches (each waits for its
     * predecessor itself, native kvd_pdl_wait): AUTO on compute capability 9.0+ (Hopper: the
     * launch and block scheduling of a kernel overlap the previous kernel's tail, ~0.7 instead of
     * ~1.5 us per launch, docs/PERF_NOTES.md) with a driver that has cuLaunchKernelEx.
     */
    static boolean programmaticLaunch(GpuContext gpu, CudaOptions.Pdl pdl) {
        boolean has = gpu.driver().has("cuLaunchKernelEx");
        return switch (pdl) {
            case OFF -> false;
            case ON -> has;
            case AUTO -> has && gpu.computeCapability() >= 90;
        };
    }

    /** Whether this session's stream launches the step's kernels with programmatic stream serialization. */
    public boolean programmaticLaunch() { return stream.programmaticLaunch(); }

    /**
     * Keys per block of decode_attention_chunk by default: 16 blocks per KV head at a 1,024-token
     * window (192 for gpt2 on an H100's 132 SMs), ~4 keys per lane group of a 128-thread block.
     */
    static final int AUTO_CHUNK = 64;

    /** Windows of at least this many keys use flash-decoding attention by default (older kernels only). */
    static final int AUTO_SPLIT_MIN_CONTEXT = 256;
    /** Keys per block of the automatic flash-decoding split. */
    static final int AUTO_SPLIT_CHUNK = 64;

    /**
     * The automatic attention form: one block per (sequence, head) walks every cached key in a
     * serial chain per output element, which on an H200 cost ~0.22 us per key per layer (gpt2 fp16,
     * docs/PERF_NOTES.md) and used 12 of 132 SMs; from 256 keys on, 64-key blocks (16 per head at
     * 1024) plus one reduce launch per layer. 0 = the single-block form.
     */
    static int autoChunk(int ctx) {
        return ctx >= AUTO_SPLIT_MIN_CONTEXT ? AUTO_SPLIT_CHUNK : 0;
    }
}
