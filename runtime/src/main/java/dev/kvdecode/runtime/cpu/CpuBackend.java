package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;

/** The pure-Java fp32 backend, the reference every other backend is checked against. */
public final class CpuBackend implements Backend {
    private final CpuThreads pool;
    private final boolean ownsPool;

    /** Uses the process-wide pool (one thread per available processor). */
    public CpuBackend() {
        this.pool = CpuThreads.common();
        this.ownsPool = false;
    }

    /** Uses a pool of its own with {@code threads} threads (--threads N), closed with the backend. */
    public CpuBackend(int threads) {
        this.pool = new CpuThreads(threads);
        this.ownsPool = true;
    }

    /** Uses the given pool; the caller keeps ownership. */
    public CpuBackend(CpuThreads pool) {
        this.pool = pool;
        this.ownsPool = false;
    }

    @Override
    public String name() { return "cpu"; }

    public int threads() { return pool.threads(); }

    @Override
    public CpuSession open(Model model, SessionOptions options) {
        return new CpuSession(model.weights(), options, pool);
    }

    @Override
    public void close() {
        if (ownsPool) pool.close();
    }
}
