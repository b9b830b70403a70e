package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.HalfFormat;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;

/**
 * The pure-Java backend, the reference every other backend is checked against: fp32 arithmetic,
 * with fp32 weights (the reference) or, opt-in, fp16/bf16 matmul weights ({@link HalfWeights}).
 */
public final class CpuBackend implements Backend {
    private final CpuThreads pool;
    private final boolean ownsPool;
    private final HalfFormat weightFormat;   // null = fp32
    private Model preparedModel;             // the model halfWeights were narrowed from
    private HalfWeights halfWeights;

    /** Uses the process-wide pool (one thread per available processor). */
    public CpuBackend() {
        this.pool = CpuThreads.common();
        this.ownsPool = false;
        this.weightFormat = null;
    }

    /** Uses a pool of its own with {@code threads} threads (--threads N), closed with the backend. */
    public CpuBackend(int threads) {
        this(threads, null);
    }

    /**
     * @param threads      CPU threads, 0 = the process-wide pool (one per available processor)
     * @param weightFormat the matmul weights' format, null for fp32
     */
    public CpuBackend(int threads, HalfFormat weightFormat) {
        this.pool = threads == 0 ? CpuThreads.common() : new CpuThreads(threads);
        this.ownsPool = threads != 0;
        this.weightFormat = weightFormat;
    }

    /** Uses the given pool; the caller keeps ownership. */
    public CpuBackend(CpuThreads pool) {
        this.pool = pool;
        this.ownsPool = false;
        this.weightFormat = null;
    }

    @Override
    public String name() { return "cpu"; }

    public int threads() { return pool.threads(); }

    @Override
    public CpuSession open(Model model, SessionOptions options) {
        if (weightFormat == null) return new CpuSession(model.weights(), options, pool);
        if (preparedModel != model) {   // narrowed once per model, shared by its sessions
            halfWeights = HalfWeights.of(model.weights(), weightFormat);
            preparedModel = model;
        }
        return new CpuSession(model.weights(), options, pool, halfWeights);
    }

    /** The matmul weights' format, null for fp32. */
    public HalfFormat weightFormat() { return weightFormat; }

    @Override
    public void close() {
        if (ownsPool) pool.close();
    }
}
