package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;

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
        if (weightFormat == CpuWeightFormat.FP32) return new CpuSession(model.weights(), options, pool, null, kvBf16);
        if (preparedModel != model) {   // narrowed or quantized once per model, shared by its sessions
            reduced = switch (weightFormat) {
                case FP16, BF16 -> PackedHalfWeights.of(model.weights(), weightFormat.half());
                case INT8 -> Q8Weights.of(model.weights());
                case FP32 -> throw new AssertionError();
            };
            preparedModel = model;
        }
        return new CpuSession(model.weights(), options, pool, reduced, kvBf16);
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
