package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.Activations;
import dev.kvdecode.kernels.Attention;
import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.Embedding;
import dev.kvdecode.kernels.HalfFormat;
import dev.kvdecode.kernels.LayerNorm;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.kernels.Residual;
import dev.kvdecode.kernels.RmsNorm;
import dev.kvdecode.kernels.Rope;
import dev.kvdecode.runtime.cache.KvCache;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.engine.Sizes;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.ModelConfig;

import java.util.Arrays;

/**
 * Decoding of any model of the family ({@link ModelConfig}: GPT-2, the char model, Llama, Mistral,
 * Qwen2, Qwen3) on the CPU, one forward for all of them, fp32 arithmetic, for B sequences; the matmul weights are the
 * model's fp32 panels ({@link PackedF32Weights}) or a reduced-precision copy ({@link MatmulWeights}:
 * fp16, bf16, int8 with per-block scales).
 *
 * <p><b>Cached</b> ({@code kvCache = true}): {@link #prefill} runs each prompt causally in one pass
 * and fills the {@link KvCache}; {@link #step} feeds one token per sequence at position
 * min(t, maxT - 1), appends its K/V (overflow policy applies) and attends over the cache, oldest
 * entry first. A prompt longer than the context: with STOP a {@link dev.kvdecode.runtime.engine.ContextFullException};
 * with SHIFT or RING its first {@code contextTokens} tokens are prefilled causally in one pass and
 * the rest are stepped one at a time, exactly as if they had been generated (the chunk and the
 * steps give identical bits, see {@link Matmul}).
 *
 * <p><b>Recompute</b> ({@code kvCache = false}, the tutorial's baseline): the session keeps the
 * last {@code contextTokens} tokens of each sequence and every call runs the full causal forward
 * over them at positions 0..n-1, returning the last position's logits. STOP throws when a token
 * would not fit; SHIFT and RING both slide the window.
 *
 * <p>Within the window both modes compute the same function with the same fp32 operations in the
 * same order, so their logits agree bit for bit; past it they differ by design (the cache keeps
 * K/V computed at their original positions; the recompute re-encodes the window from position 0).
 *
 * <p>Not thread-safe; prefill starts new sequences (it resets the cache).
 */
public final class CpuSession implements InferenceSession {
    private final Gpt2Weights w;
    private final ModelConfig cfg;
    private final SessionOptions opt;
    private final CpuThreads pool;
    private final int B, C, NH, NKV, HS, V, L, maxT, ctx;
    private final int QD, KVD, QKV, FC;   // widths: q (NH*HS), k and v (NKV*HS), q|k|v, the MLP's first matmul
    private final float eps;
    private final boolean rmsNorm, gated;
    private final float[] invFreq;         // rotary positions: RoPE's inverse frequencies (HS/2); null when learned
    private final DecodeState s;
    private final KvCache cache;           // null in recompute mode
    private final int[][] window;          // recompute mode: (B, ctx) last tokens, oldest first
    private final int[] windowLength;      // recompute mode
    private final int[] seen;              // recompute mode: tokens seen per sequence
    private final MatmulWeights mw;        // the matmul weights: the model's fp32 panels or a reduced-precision copy
    private final boolean kvBf16;          // K, V rounded to bf16 (and the cache holds bf16 bits)

    public CpuSession(Gpt2Weights weights, SessionOptions options, CpuThreads pool) {
        this(weights, options, pool, null);
    }

    /**
     * @param reduced the matmul weights in a reduced-precision format (--dtype fp16|bf16|int8), made
     *                from {@code weights}; null computes with the fp32 weights
     */
    public CpuSession(Gpt2Weights weights, SessionOptions options, CpuThreads pool, MatmulWeights reduced) {
        this(weights, options, pool, reduced, false);
    }

    /**
     * @param kvBf16 keep the KV cache as bfloat16 (--kv-dtype bf16): every K and V is rounded to
     *               bf16 right after the qkv matmul, in both modes, so cached and recomputed logits
     *               still agree bit for bit; half the cache's bytes per token
     */
    public CpuSession(Gpt2Weights weights, SessionOptions options, CpuThreads pool, MatmulWeights reduced, boolean kvBf16) {
        // fp32: the model's own packed matrices (no copy)
        this.mw = reduced != null ? reduced : PackedF32Weights.of(weights);
        this.kvBf16 = kvBf16;
        this.w = weights;
        this.cfg = weights.config();
        this.opt = options;
        this.pool = pool;
        this.B = options.batch();
        this.C = cfg.nEmbd();
        this.NH = cfg.nHead();
        this.NKV = cfg.nKvHead();
        this.HS = cfg.headSize();
        this.QD = cfg.attention().qDim();
        this.KVD = cfg.attention().kvDim();
        this.QKV = cfg.attention().qkvDim();
        this.FC = cfg.mlp().fcDim();
        this.rmsNorm = cfg.norm().kind() == ModelConfig.NormKind.RMS_NORM;
        this.gated = cfg.mlp().gated();
        this.invFreq = cfg.positions() instanceof ModelConfig.Rotary r ? invFreq(r, HS) : null;
        this.V = cfg.vocabSize();
        this.L = cfg.nLayer();
        this.maxT = cfg.nPositions();
        this.ctx = options.contextTokens();
        this.eps = cfg.layerNormEpsilon();
        if (ctx > maxT)
            throw new IllegalArgumentException("context " + ctx + " exceeds the model's n_positions " + maxT);
        if (weights.layers().size() != L)
            throw new IllegalArgumentException("weights have " + weights.layers().size() + " layers, config says " + L);
        checkFits(cfg, options, kvBf16);
        this.s = new DecodeState(B, ctx, C, NH, V, QKV, QD, FC, invFreq == null ? 0 : HS / 2);
        if (options.kvCache()) {
            this.cache = new KvCache(L, B, NKV, HS, ctx, options.overflow(), kvBf16, invFreq);
            this.window = null;
            this.windowLength = null;
            this.seen = null;
        } else {
            this.cache = null;
            this.window = new int[B][ctx];
            this.windowLength = new int[B];
            this.seen = new int[B];
        }
    }

    /**
     * The heap a session of {@code batch} sequences and a {@code ctx}-token window takes: the
     * decode state (R = max(B, ctx) rows of x, xn, proj (C), att (NH*HS), qkv (q|k|v), fc (the
     * MLP hidden, gate|up when gated), RoPE cos/sin (HS/2), four int bookkeeping arrays; scores
     * (NH, ctx); logits (B, V)), the KV cache (per layer K and V of B*NKV heads over ctx slots,
     * 2 x ctx for SHIFT; fp32 rows or bf16 pairs) or, recomputing, the (B, ctx) token windows.
     * Sizes in saturating long arithmetic.
     */
    static Sizes.Plan plan(ModelConfig cfg, long batch, int ctx, OverflowPolicy policy, boolean kvCache, boolean kvBf16) {
        long C = cfg.nEmbd(), NH = cfg.nHead(), NKV = cfg.nKvHead(), HS = cfg.headSize(), V = cfg.vocabSize(), L = cfg.nLayer();
        long rows = Math.max(batch, ctx);
        long ropeHalf = cfg.positions() instanceof ModelConfig.Rotary ? HS / 2 : 0;
        Sizes.Plan p = new Sizes.Plan()
                .arrays("(R, C) activations", 3, Sizes.mul(rows, C), 4)
                .array("(R, NH*HS) attention output", Sizes.mul(rows, cfg.attention().qDim()), 4)
                .array("(R, q|k|v) qkv", Sizes.mul(rows, cfg.attention().qkvDim()), 4)
                .array("(R, fc) MLP hidden", Sizes.mul(rows, cfg.mlp().fcDim()), 4)
                .arrays("(R, HS/2) RoPE cos and sin", 2, Sizes.mul(rows, ropeHalf), 4)
                .array("(NH, context) scores", Sizes.mul(NH, ctx), 4)
                .array("(B, V) logits", Sizes.mul(batch, V), 4)
                .arrays("per-row bookkeeping", 4, rows, 4);
        if (!kvCache) return p.arrays("(B, context) token windows", batch, ctx, 4).arrays("per-sequence counters", 2, batch, 4);
        long slots = policy == OverflowPolicy.SHIFT ? 2L * ctx : ctx;
        long heads = Sizes.mul(batch, NKV);
        for (long l = 0; l < L; l++) {
            if (kvBf16) {
                long pairs = (HS + 1) / 2, blocks = (slots + dev.kvdecode.kernels.KvCache.KEY_BLOCK - 1) / dev.kvdecode.kernels.KvCache.KEY_BLOCK;
                p.array("bf16 KV cache keys (one layer)", Sizes.mul(heads, blocks, pairs, dev.kvdecode.kernels.KvCache.KEY_BLOCK), 4)
                        .array("bf16 KV cache values (one layer)", Sizes.mul(heads, slots, pairs), 4);
            } else {
                p.arrays("KV cache key rows (one layer)", Sizes.mul(heads, HS), slots, 4)
                        .arrays("KV cache value rows (one layer)", Sizes.mul(heads, slots), HS, 4);
            }
        }
        return p.array("per-sequence token counts", batch, 4);
    }

    /**
     * Throws, before anything is allocated, when a session of these options cannot fit this JVM's
     * heap or a Java array ({@link Sizes#checkHeap}); the message names --batch and --context and
     * the largest batch that would fit.
     */
    static void checkFits(ModelConfig cfg, SessionOptions o, boolean kvBf16) {
        int ctx = o.contextTokens();
        Sizes.Plan p = plan(cfg, o.batch(), ctx, o.overflow(), o.kvCache(), kvBf16);
        long free = Sizes.freeHeapBytes();
        if (p.fits(free)) return;
        System.gc();
        free = Sizes.freeHeapBytes();
        if (p.fits(free)) return;
        long heap = free;
        long maxBatch = Sizes.largestFitting(o.batch(), b -> plan(cfg, b, ctx, o.overflow(), o.kvCache(), kvBf16).fits(heap));
        String advice = maxBatch > 0 ? "use a smaller --batch (at most " + maxBatch + " fits with --context " + ctx + ") or --context"
                : "use a smaller --context";
        Sizes.checkHeap("--batch " + o.batch() + " --context " + ctx + ": the CPU session (KV cache and decode buffers)", p, advice);
    }

    /** RoPE's inverse frequencies as transformers computes them for the config's rope type. */
    static float[] invFreq(ModelConfig.Rotary r, int HS) {
        float[] f = Rope.invFreq(HS, r.theta());
        ModelConfig.RopeScaling sc = r.scaling();
        return switch (sc.type()) {
            case DEFAULT -> f;
            case LINEAR -> Rope.linear(f, sc.factor());
            case LLAMA3 -> Rope.llama3(f, sc.factor(), sc.lowFreqFactor(), sc.highFreqFactor(), sc.originalMaxPositions());
        };
    }

    @Override
    public float[] prefill(int[][] prompts) {
        if (prompts.length != B)
            throw new IllegalArgumentException("expected " + B + " prompts, got " + prompts.length);
        for (int[] p : prompts) {
            if (p.length == 0) throw new IllegalArgumentException("empty prompt");
            for (int t : p) checkToken(t);
            if (opt.overflow() == OverflowPolicy.STOP && p.length > ctx) throw KvCache.contextFull(ctx);
        }
        if (cache != null) {
            cache.reset();
            for (int b = 0; b < B; b++) prefillCached(b, prompts[b]);
        } else {
            for (int b = 0; b < B; b++) {
                int[] p = prompts[b];
                int n = Math.min(p.length, ctx);
                System.arraycopy(p, p.length - n, window[b], 0, n);
                windowLength[b] = n;
                seen[b] = p.length;
                forwardWindow(b);
            }
        }
        return s.logits;
    }

    @Override
    public float[] step(int[] tokens) {
        if (tokens.length != B) throw new IllegalArgumentException("expected " + B + " tokens, got " + tokens.length);
        for (int t : tokens) checkToken(t);
        if (cache != null) {
            // Check every sequence before touching any state, so STOP leaves the session intact.
            for (int b = 0; b < B; b++) cache.checkRoom(b, 1);
            for (int b = 0; b < B; b++) s.rowSeq[b] = b;
            stepRows(B, tokens, 0);
        } else {
            if (opt.overflow() == OverflowPolicy.STOP)
                for (int b = 0; b < B; b++) if (windowLength[b] == ctx) throw KvCache.contextFull(ctx);
            for (int b = 0; b < B; b++) {
                int[] win = window[b];
                if (windowLength[b] == ctx) {
                    System.arraycopy(win, 1, win, 0, ctx - 1);
                    win[ctx - 1] = tokens[b];
                } else {
                    win[windowLength[b]++] = tokens[b];
                }
                seen[b]++;
                forwardWindow(b);
            }
        }
        return s.logits;
    }

    /**
     * Cached mode only. The slot's rows go through the same code as {@link #prefill} and
     * {@link #step}; the panel matmuls give a row the same bits whatever the row count, and
     * attention reads only the row's own sequence, so a sequence's logits do not depend on which
     * other slots are active (CpuSessionSlotsTest).
     */
    @Override
    public float[] prefillSlot(int slot, int[] prompt) {
        requireCache("prefillSlot");
        checkSlot(slot);
        if (prompt.length == 0) throw new IllegalArgumentException("empty prompt");
        for (int t : prompt) checkToken(t);
        if (prompt.length > ctx) throw KvCache.contextFull(ctx);
        cache.reset(slot);
        prefillCached(slot, prompt);
        return s.logits;
    }

    /**
     * Chunked prefill: the chunk's rows go through {@link #prefillCached} after the tokens already
     * cached, exactly as the one-pass prefill's rows (row t attends over the cache's first
     * n0 + t + 1 entries; a row's matmul bits do not depend on the row count), so the logits and
     * the cache equal the one-pass prefill's bit for bit (CpuSessionSlotsTest).
     */
    @Override
    public float[] prefillSlotChunk(int slot, int[] prompt, int from, int to) {
        requireCache("prefillSlotChunk");
        checkSlot(slot);
        if (from < 0 || to <= from || to > prompt.length)
            throw new IllegalArgumentException("prefillSlotChunk: chunk [" + from + ", " + to + ") of a " + prompt.length + "-token prompt");
        if (prompt.length > ctx) throw KvCache.contextFull(ctx);
        if (from > 0 && cache.tokens(slot) != from)
            throw new IllegalStateException("prefillSlotChunk: slot " + slot + " holds " + cache.tokens(slot) + " tokens, the chunk starts at " + from);
        for (int i = from; i < to; i++) checkToken(prompt[i]);
        if (from == 0) cache.reset(slot);
        prefillCached(slot, from == 0 && to == prompt.length ? prompt : Arrays.copyOfRange(prompt, from, to));
        return s.logits;
    }

    @Override
    public float[] stepSlots(int[] slots, int[] tokens, int count) {
        requireCache("stepSlots");
        if (count < 1 || count > B || slots.length < count || tokens.length < count)
            throw new IllegalArgumentException("stepSlots: count " + count + " outside 1.." + B + " or longer than its arrays");
        long seenMask = 0;
        boolean[] seenSlot = B > 64 ? new boolean[B] : null;
        for (int r = 0; r < count; r++) {
            int b = slots[r];
            checkSlot(b);
            boolean dup = seenSlot != null ? seenSlot[b] : (seenMask & (1L << b)) != 0;
            if (dup) throw new IllegalArgumentException("stepSlots: slot " + b + " given twice");
            if (seenSlot != null) seenSlot[b] = true; else seenMask |= 1L << b;
            checkToken(tokens[r]);
            cache.checkRoom(b, 1);
        }
        System.arraycopy(slots, 0, s.rowSeq, 0, count);
        stepRows(count, tokens, 0);
        return s.logits;
    }

    private void requireCache(String what) {
        if (cache == null) throw new UnsupportedOperationException(what + " needs the KV cache (kvCache = true)");
    }

    private void checkSlot(int b) {
        if (b < 0 || b >= B) throw new IllegalArgumentException("slot " + b + " outside 0.." + (B - 1));
    }

    @Override
    public float[] forwardAll(int[] tokens) {
        int T = tokens.length;
        if (T < 1 || T > ctx) throw new IllegalArgumentException("forwardAll takes 1.." + ctx + " tokens, got " + T);
        for (int t : tokens) checkToken(t);
        embedWindow(tokens, T);
        blocks(T, false);
        long n = (long) T * V;
        Sizes.checkHeap("--context " + T + ": the logits of one forward over " + T + " tokens (T x V)",
                new Sizes.Plan().array("(T, V) logits", n, 4), "use a smaller --context");
        float[] all = new float[(int) n];
        norm(s.xn, s.x, 0, w.lnfWeight(), w.lnfBias(), T);
        lmHead(all, 0, T);
        return all;
    }

    @Override
    public int tokensSeen(int b) { return cache != null ? cache.tokens(b) : seen[b]; }

    @Override
    public int vocabSize() { return V; }

    /** The cache (null in recompute mode), for tests and tools; do not write to it. */
    public KvCache kvCache() { return cache; }

    public SessionOptions options() { return opt; }

    @Override
    public void close() {}

    private void checkToken(int t) {
        if (t < 0 || t >= V) throw new IllegalArgumentException("token id " + t + " outside the vocabulary [0, " + V + ")");
    }

    // ---- cached mode ----

    /** One causal pass over the prompt's first min(n, ctx) tokens, then one step per further token. */
    private void prefillCached(int b, int[] prompt) {
        int T = Math.min(prompt.length, ctx);
        int n0 = cache.tokens(b);
        for (int t = 0; t < T; t++) {
            int n = n0 + t;
            embedRow(t, prompt[t], cachedPosition(b, t, n));
            s.rowSeq[t] = b;
            s.rowAhead[t] = t;
            s.rowCount[t] = Math.min(n + 1, ctx);
            s.rowStart[t] = cache.startAfter(n + 1);
        }
        blocks(T, true);
        cache.commit(b, T);
        logitsOfRows(T - 1, 1, b);
        for (int t = T; t < prompt.length; t++) {
            s.rowSeq[0] = b;
            stepRows(1, prompt, t);
        }
    }

    /** Feeds tokens[tokOff + r] to sequence rowSeq[r] for r < rows (distinct sequences); logits into their rows. */
    private void stepRows(int rows, int[] tokens, int tokOff) {
        for (int r = 0; r < rows; r++) {
            int b = s.rowSeq[r];
            int n = cache.tokens(b);
            embedRow(r, tokens[tokOff + r], cachedPosition(b, 0, n));
            s.rowAhead[r] = 0;
            s.rowCount[r] = Math.min(n + 1, ctx);
            s.rowStart[r] = cache.startAfter(n + 1);
        }
        blocks(rows, true);
        for (int r = 0; r < rows; r++) cache.commit(s.rowSeq[r], 1);
        if (rows == B && isIdentityRows(rows)) {
            logitsOfRows(0, B, 0);
        } else {
            for (int r = 0; r < rows; r++) logitsOfRows(r, 1, s.rowSeq[r]);
        }
    }

    /**
     * The position of token n of sequence b (ahead = its index in this forward). Learned: min(n,
     * maxT - 1) (past n_positions the last learned position is reused; clamp, as the tutorial).
     * Rotary: SHIFT uses the slot the cache writes the key to (see {@link KvCache#writeSlot}),
     * RING and STOP the token's index, clamped to maxT - 1 (positions keep growing up to
     * max_position_embeddings).
     */
    private int cachedPosition(int b, int ahead, int n) {
        if (invFreq != null && opt.overflow() == OverflowPolicy.SHIFT) return cache.writeSlot(b, ahead);
        return Math.min(n, maxT - 1);
    }

    /** Row r of x = the token's embedding (+ wpe[pos] when learned); rotary: row r's cos/sin of pos. */
    private void embedRow(int r, int token, int pos) {
        s.rowPos[r] = pos;
        if (invFreq == null) {
            Embedding.embedRow(s.x, r * C, w.wte(), w.wpe(), token, pos, C);
        } else {
            System.arraycopy(w.wte(), token * C, s.x, r * C, C);
            Rope.cosSin(s.ropeCos, s.ropeSin, r * (HS / 2), invFreq, pos);
        }
    }

    /** Rows 0..T-1 of x = tokens[0..T) at positions 0..T-1. */
    private void embedWindow(int[] tokens, int T) {
        for (int t = 0; t < T; t++) embedRow(t, tokens[t], t);
    }

    private boolean isIdentityRows(int rows) {
        for (int r = 0; r < rows; r++) if (s.rowSeq[r] != r) return false;
        return true;
    }

    // ---- recompute mode ----

    /** Full causal forward over sequence b's window at positions 0..n-1; logits of the last position. */
    private void forwardWindow(int b) {
        int T = windowLength[b];
        embedWindow(window[b], T);
        blocks(T, false);
        logitsOfRows(T - 1, 1, b);
    }

    // ---- the transformer ----

    /**
     * The L pre-norm blocks over the residual stream x (rows, C), in place (GPT-2, Radford et al.
     * 2019, sec. 2.3; Llama, Touvron et al. 2023, sec. 2.2). cached: row r is a new token of
     * sequence rowSeq[r] whose K/V go into the cache and whose query attends over rowCount[r]
     * entries from slot rowStart[r]; otherwise the rows are one sequence at positions 0..rows-1
     * and attention is causal over them.
     */
    private void blocks(int rows, boolean cached) {
        for (int l = 0; l < L; l++) {
            LayerWeights lw = w.layers().get(l);
            // xn = norm_1(x)   (LayerNorm or RMSNorm)
            norm(s.xn, s.x, 0, lw.ln1Weight(), lw.ln1Bias(), rows);
            // [q | k | v] = xn W_qkv + b_qkv   (q: NH heads, k and v: NKV heads of HS)
            linear(l, MatmulWeights.ATTN, s.qkv, s.xn, lw.attnBias(), rows);
            // Qwen3: RMSNorm over each head of q and of k
            if (lw.qNorm() != null) {
                RmsNorm.rmsNormHeads(s.qkv, 0, QKV, rows, NH, HS, lw.qNorm(), eps);
                RmsNorm.rmsNormHeads(s.qkv, QD, QKV, rows, NKV, HS, lw.kNorm(), eps);
            }
            // rotary positions: q and k turned by their row's position (Su et al. 2021)
            if (invFreq != null)
                for (int r = 0; r < rows; r++) {
                    Rope.apply(s.qkv, r * QKV, NH, HS, s.ropeCos, s.ropeSin, r * (HS / 2));
                    Rope.apply(s.qkv, r * QKV + QD, NKV, HS, s.ropeCos, s.ropeSin, r * (HS / 2));
                }
            // --kv-dtype bf16: K and V rounded where they are made, so both modes see the same values
            if (kvBf16) roundKv(rows);
            // att = softmax(q k^T / sqrt(HS)) v per head (Vaswani et al. 2017, eq. 1); query head h
            // reads KV head h / (NH / NKV) (grouped-query attention, Ainslie et al. 2023)
            if (cached) {
                for (int r = 0; r < rows; r++)
                    cache.append(l, s.rowSeq[r], s.rowAhead[r], s.qkv, r * QKV + QD, s.qkv, r * QKV + QD + KVD);
                for (int r = 0; r < rows; r++) {
                    if (kvBf16)
                        Attention.decodeAttention(pool, s.att, r * QD, s.qkv, r * QKV, cache.keys16(l), cache.values16(l),
                                s.rowSeq[r], s.rowStart[r], s.rowCount[r], cache.slots(), NH, NKV, HS, s.scores);
                    else
                        Attention.decodeAttention(pool, s.att, r * QD, s.qkv, r * QKV, cache.keys(l), cache.values(l),
                                s.rowSeq[r], s.rowStart[r], s.rowCount[r], cache.slots(), NH, NKV, HS, s.scores);
                }
            } else {
                Attention.causalSelfAttention(pool, s.att, 0, s.qkv, 0, s.scores, rows, NH, NKV, HS);
            }
            // x = x + att W_o + b_o
            linear(l, MatmulWeights.ATTN_PROJ, s.proj, s.att, lw.attnProjBias(), rows);
            Residual.add(s.x, 0, s.proj, 0, rows * C);
            // xn = norm_2(x)
            norm(s.xn, s.x, 0, lw.ln2Weight(), lw.ln2Bias(), rows);
            // h = act(xn W_fc + b_fc) (GELU: GPT-2, ReLU: the char model), or gated:
            // h = silu(xn W_gate) * (xn W_up) (SwiGLU, Shazeer 2020; W_fc = [W_gate | W_up])
            linear(l, MatmulWeights.FC, s.fc, s.xn, lw.fcBias(), rows);
            if (gated) Activations.gated(cfg.activation(), s.fc, rows, cfg.mlp().hidden());
            else Activations.apply(pool, cfg.activation(), s.fc, 0, rows * FC);
            // x = x + h W_down + b_down
            linear(l, MatmulWeights.FC_PROJ, s.proj, s.fc, lw.fcProjBias(), rows);
            Residual.add(s.x, 0, s.proj, 0, rows * C);
        }
    }

    /** out (rows, C) = the model's norm of x (rows, C) from row xRow0: LayerNorm (with bias) or RMSNorm. */
    private void norm(float[] out, float[] x, int xRow0, float[] weight, float[] bias, int rows) {
        if (rmsNorm) RmsNorm.rmsNorm(out, 0, x, xRow0 * C, weight, rows, C, eps);
        else LayerNorm.layerNorm(out, 0, x, xRow0 * C, weight, bias, rows, C, eps);
    }

    /** The K and V parts of each qkv row rounded to bf16 (nearest even) and widened back, in place. */
    private void roundKv(int rows) {
        for (int r = 0; r < rows; r++)
            for (int c = r * QKV + QD, e = (r + 1) * QKV; c < e; c++) s.qkv[c] = HalfFormat.BF16.widen(HalfFormat.BF16.narrow(s.qkv[c]));
    }

    /** logits[b0 + i] = LayerNorm_f(x[row0 + i]) lmHead^T + lmHeadBias for i < n. */
    private void logitsOfRows(int row0, int n, int b0) {
        norm(s.xn, s.x, row0, w.lnfWeight(), w.lnfBias(), n);
        lmHead(s.logits, b0 * V, n);
    }

    /** y (rows,out) = x (rows,in) W + b for matrix k of layer l. */
    private void linear(int l, int k, float[] y, float[] x, float[] b, int rows) {
        mw.linear(pool, l, k, y, x, b, rows);
    }

    /** logits (rows,V) at logitsOff = xn (rows,C) lmHead^T + lmHeadBias. */
    private void lmHead(float[] logits, int logitsOff, int rows) {
        // reduced precision: the head is stored transposed (C, V), so the logits use the vectorized matmul
        // kernel (C2 does not vectorize V ordered dot products); fp32 keeps the dot products over
        // the model's (V, C) rows, as a transposed fp32 copy would cost V*C*4 bytes of memory for
        // ~4% (docs/PERF_NOTES_CPU.md)
        mw.head(pool, logits, logitsOff, s.xn, w.lmHeadBias(), rows);
    }

    @Override
    public String toString() {
        return "CpuSession" + Arrays.toString(new int[] {B, C, NH, L, V, ctx}) + opt;
    }
}
