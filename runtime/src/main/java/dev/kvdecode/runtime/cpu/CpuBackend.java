package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.GgmlBlocks;
import dev.kvdecode.kernels.GgmlMatrix;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.Warmup;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.HeapTooSmallException;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.RandomWeights;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The pure-Java backend, the reference every other backend is checked against: fp32 arithmetic,
 * with fp32 weights (the reference) or, opt-in, fp16/bf16 ({@link PackedHalfWeights})
 * or int8 ({@link Q8Weights}) matmul weights.
 */
public final class CpuBackend implements Backend {
    private final CpuThreads pool;
    private final boolean ownsPool;
    private final CpuWeightFormat weightFormat;
    private final boolean kvBf16;            // --kv-dtype bf16
    private Model preparedModel;             // the model reduced was made from
    private MatmulWeights reduced;
    private Gpt2Weights preparedWeights;     // the weights reduced was made from (model.fp32Weights())

    /** Uses the process-wide pool (one thread per available processor). */
    public CpuBackend() {
        this.pool = CpuThreads.common();
        this.ownsPool = false;
        this.weightFormat = CpuWeightFormat.FP32;
        this.kvBf16 = false;
    }

    /** Uses a pool of its own with {@code threads} threads (--threads N), closed with the backend. */
    public CpuBackend(int threads) {
        this(threads, CpuWeightFormat.FP32);
    }

    /**
     * @param threads      CPU threads, 0 = the process-wide pool (one per available processor)
     * @param weightFormat the matmul weights' format
     */
    public CpuBackend(int threads, CpuWeightFormat weightFormat) {
        this(threads, weightFormat, false);
    }

    /**
     * @param threads      CPU threads, 0 = the process-wide pool (one per available processor)
     * @param weightFormat the matmul weights' format
     * @param kvBf16       keep the KV cache as bf16 (--kv-dtype bf16)
     */
    public CpuBackend(int threads, CpuWeightFormat weightFormat, boolean kvBf16) {
        if (weightFormat == null) throw new IllegalArgumentException("weight format is null");
        this.kvBf16 = kvBf16;
        this.pool = threads == 0 ? CpuThreads.common() : new CpuThreads(threads);
        this.ownsPool = threads != 0;
        this.weightFormat = weightFormat;
    }

    /** Uses the given pool; the caller keeps ownership. */
    public CpuBackend(CpuThreads pool) {
        this.pool = pool;
        this.ownsPool = false;
        this.weightFormat = CpuWeightFormat.FP32;
        this.kvBf16 = false;
    }

    @Override
    public String name() { return "cpu"; }

    public int threads() { return pool.threads(); }

    @Override
    public CpuSession open(Model model, SessionOptions options) {
        if (model.stored() != null && weightFormat == CpuWeightFormat.FP32)   // a quantized GGUF, kept as stored
            return new CpuSession(model.weights(), options, pool, StoredMatmulWeights.of(model.stored(), model.weights()), kvBf16);
        if (weightFormat == CpuWeightFormat.FP32) return new CpuSession(model.weights(), options, pool, null, kvBf16);
        prepare(model);
        return new CpuSession(preparedWeights, options, pool, reduced, kvBf16);
    }

    /**
     * fp16, bf16, int8: narrows or quantizes the model's matmul weights, once per model (its
     * sessions share them). A quantized GGUF's kept weights are dequantized to fp32 first (one
     * transient copy, with a notice): --dtype asks for a format other than the file's.
     */
    @Override
    public void prepare(Model model) {
        if (weightFormat == CpuWeightFormat.FP32 || preparedModel == model) return;
        ModelConfig cfg = model.config();
        long C = cfg.nEmbd();
        long perLayer = C * cfg.attention().qkvDim() + (long) cfg.attention().qDim() * C
                + C * cfg.mlp().fcDim() + (long) cfg.mlp().hidden() * C;
        long weights = cfg.nLayer() * perLayer + C * cfg.vocabSize();
        String what = model.name() + ": the " + weightFormat.flag() + " copy of the matmul weights";
        // the copy, plus int8's transient: one matrix in flat fp32 (the largest is C x max(QKV, FC))
        long bytes = (long) Math.ceil(weights * weightFormat.bytesPerWeight())
                + 4L * C * Math.max(cfg.attention().qkvDim(), cfg.mlp().fcDim());
        HeapTooSmallException.check(what, bytes);
        reduced = null;   // a previous model's copy can go first
        preparedModel = null;
        preparedWeights = null;
        if (model.stored() != null)
            System.err.println("kvdecode: " + model.name() + ": the " + String.join(", ", model.stored().formats())
                    + " weights are dequantized to fp32 and then converted for --dtype " + weightFormat.flag());
        try {
            preparedWeights = model.fp32Weights();
            reduced = reduce(preparedWeights, weightFormat);
        } catch (OutOfMemoryError e) {
            throw HeapTooSmallException.of(what, bytes);
        }
        preparedModel = model;
    }

    private static MatmulWeights reduce(Gpt2Weights w, CpuWeightFormat format) {
        return switch (format) {
            case FP16, BF16 -> PackedHalfWeights.of(w, format.half());
            case INT8 -> Q8Weights.of(w);
            case FP32 -> null;
        };
    }

    /**
     * Runs the kernels of this backend's format on a small GPT-2-shaped model of random weights
     * (2 layers, 256 wide, 4 heads, 1,000 symbols, a 48-token window that shifts) on this
     * backend's pool, prefill then steps, until closed or {@link #WARMUP_MAX_NANOS}. In a fresh
     * JVM the Vector API kernels run boxed until C2 has compiled them: a GPT-2 fp32 decode's first
     * 32 tokens took ~55 ms each against ~21 warm, and a 16-token prefill ~0.9 s; a warm-up during
     * the model's load moves that work off the user's first tokens (docs/PERF_NOTES_CPU.md
     * section 13). A failure here is dropped: the real session reports real errors.
     */
    @Override
    public Warmup warmUp() {
        AtomicBoolean stop = new AtomicBoolean();
        Thread t = Thread.ofPlatform().daemon().name("kvdecode-warmup").start(() -> warm(stop));
        return () -> {
            stop.set(true);
            boolean interrupted = false;
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        };
    }

    /** The longest a warm-up runs. */
    static final long WARMUP_MAX_NANOS = 10_000_000_000L;

    private void warm(AtomicBoolean stop) {
        long deadline = System.nanoTime() + WARMUP_MAX_NANOS;
        try {
            ModelConfig cfg = ModelConfig.gpt2(2, 4, 256, 64, 1000);
            Gpt2Weights w = RandomWeights.create(cfg, 20261126L);
            MatmulWeights mw = reduce(w, weightFormat);
            int[] prompt = new int[16];
            for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 37) % cfg.vocabSize();
            int[] next = new int[1];
            // fp32 sessions also run a quantized GGUF's kept matrices (issue 20): their kernels too
            GgmlMatrix[] blocks = weightFormat == CpuWeightFormat.FP32 ? new GgmlMatrix[] {warmMatrix(GgmlBlocks.Layout.Q4_0),
                    warmMatrix(GgmlBlocks.Layout.Q4_K), warmMatrix(GgmlBlocks.Layout.Q6_K)} : new GgmlMatrix[0];
            float[] bx = new float[32 * 256], by = new float[32 * 128];
            try (CpuSession s = new CpuSession(w, new SessionOptions(1, 48, OverflowPolicy.SHIFT, true), pool, mw, kvBf16)) {
                while (!stop.get() && System.nanoTime() < deadline) {
                    s.prefill(new int[][] {prompt});
                    for (int i = 0; i < 64 && !stop.get(); i++) {
                        next[0] = (i * 101) % cfg.vocabSize();
                        s.step(next);
                        for (GgmlMatrix m : blocks) Matmul.matmul(pool, by, 0, bx, 0, m, null, 1);
                    }
                    for (GgmlMatrix m : blocks) Matmul.matmul(pool, by, 0, bx, 0, m, null, 32);
                }
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            // dropped on purpose (see warmUp)
        }
    }

    /** A (256, 128) matrix of fixed pseudo-random blocks of {@code layout} (scales 1e-3), for the warm-up. */
    private static GgmlMatrix warmMatrix(GgmlBlocks.Layout layout) {
        int in = 256, out = 128;
        byte[] raw = new byte[out * (in / layout.elements) * layout.sizeBytes];
        java.util.SplittableRandom r = new java.util.SplittableRandom(7);
        for (int i = 0; i < raw.length; i++) raw[i] = (byte) r.nextInt(256);
        short h = Float.floatToFloat16(1e-3f);
        for (int o = 0; o < raw.length; o += layout.sizeBytes) {
            int at = layout == GgmlBlocks.Layout.Q6_K ? o + 208 : o;
            raw[at] = (byte) h;
            raw[at + 1] = (byte) (h >> 8);
            if (layout == GgmlBlocks.Layout.Q4_K) {
                raw[at + 2] = (byte) h;
                raw[at + 3] = (byte) (h >> 8);
            }
        }
        return GgmlMatrix.of(layout, java.lang.foreign.MemorySegment.ofArray(raw), in, out);
    }

    /** Whether sessions keep their KV cache as bf16. */
    public boolean kvBf16() { return kvBf16; }

    /** The matmul weights' format. */
    public CpuWeightFormat weightFormat() { return weightFormat; }

    @Override
    public void close() {
        if (ownsPool) pool.close();
    }
}
