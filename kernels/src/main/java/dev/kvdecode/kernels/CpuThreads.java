package dev.kvdecode.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A fixed pool of worker threads for the CPU ops, created once and reused for every op of every
 * step: no thread creation per call (issue 9). {@link #parallelFor} cuts [0, n) into up to
 * {@code 4 * threads} contiguous chunks which the caller and the workers claim one at a time from
 * an atomic counter. The caller claims chunks too, so a worker that the OS has not scheduled yet
 * (the norm on a loaded 2-core machine) simply gets no work instead of stalling the op; the caller
 * only ever waits for chunks a worker has already started. One parallelFor runs at a time (a
 * lock); a call made from inside a worker runs inline.
 *
 * <p>Chunks cover disjoint outputs and every op accumulates each output in a fixed order, so the
 * results do not depend on the thread count or on who ran which chunk.
 */
public final class CpuThreads implements AutoCloseable {

    /** Work over the index range [start, end). */
    @FunctionalInterface
    public interface RangeTask {
        void run(int start, int end);
    }

    /**
     * How long an idle worker spins before it parks, and how long the caller spins for the last
     * chunks. Between two ops of a decode step the caller runs a few microseconds of serial work
     * (LayerNorm, attention, residuals); a worker that has parked by then takes tens of
     * microseconds to wake on a VM, so the caller ends up running every chunk itself. 2,000
     * onSpinWait() calls lasted only a few microseconds on this machine: the char-1024 model then
     * ran no faster with 2 threads than with 1 (docs/PERF_NOTES_CPU.md, section 9). Spinning costs
     * only the otherwise idle cores, and only while a model is running.
     */
    static final long SPIN_NANOS = Long.getLong("kvdecode.spinMicros", 200) * 1_000;
    private static final int CHUNKS_PER_THREAD = 4;
    private static final int MAX_CHUNKS = 0xFFFF;
    private static CpuThreads common;

    private final int threads;
    private final Worker[] workers;
    private final ReentrantLock lock = new ReentrantLock();
    /**
     * (job generation << 32) | (chunk count << 16) | next unclaimed chunk, in one word so that a
     * worker reading a stale generation also reads that job's chunk count: with the count in a
     * separate field, a late worker could pair the old generation with the next job's count and
     * claim a chunk that does not exist (seen as a hang in a stress run).
     */
    private final AtomicLong state = new AtomicLong();
    private final AtomicInteger completed = new AtomicInteger();
    private volatile boolean closed;
    private long generation;
    // Written before state publishes a new generation, stable until that job's chunks all complete.
    private RangeTask task;
    private int total;
    private volatile Thread waiter;
    private volatile Throwable failure;

    /** A pool of {@code threads} threads in all (the caller counts as one). */
    public CpuThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.workers = new Worker[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(i + 1);
            workers[i].start();
        }
    }

    /** The process-wide default pool with one thread per available processor, created on first use. */
    public static synchronized CpuThreads common() {
        if (common == null) common = new CpuThreads(Runtime.getRuntime().availableProcessors());
        return common;
    }

    public int threads() { return threads; }

    /**
     * Below this many multiply-adds an op runs on the caller: waking a worker costs microseconds
     * (far more on a loaded machine), which a small op cannot repay.
     */
    public static final long MIN_PARALLEL_WORK = 1 << 16;

    /** The pool an op of {@code work} multiply-adds should use: null (run serially) if it is too small. */
    public static CpuThreads forWork(CpuThreads pool, long work) {
        return pool == null || pool.threads == 1 || work < MIN_PARALLEL_WORK ? null : pool;
    }

    /**
     * Runs task over [0, n), cut into contiguous chunks run by the pool (see the class comment), and
     * returns when all are done. {@code pool} may be null: then the task runs serially on the caller.
     */
    public static void parallelFor(CpuThreads pool, int n, RangeTask task) {
        if (pool == null) {
            if (n > 0) task.run(0, n);
        } else {
            pool.parallelFor(n, task);
        }
    }

    public void parallelFor(int n, RangeTask task) {
        if (n <= 0) return;
        if (threads == 1 || n == 1 || Thread.currentThread() instanceof Worker || closed) {
            task.run(0, n);
            return;
        }
        lock.lock();
        try {
            this.task = task;
            this.total = n;
            int chunks = Math.min(n, Math.min(MAX_CHUNKS, threads * CHUNKS_PER_THREAD));
            this.failure = null;
            this.waiter = Thread.currentThread();
            completed.set(0);
            long g = ++generation;
            state.set((g << 32) | ((long) chunks << 16));   // publishes the fields above
            for (Worker w : workers) LockSupport.unpark(w);
            runChunks(g);
            long spinStart = 0;
            while (completed.get() != chunks) {
                if (spinStart == 0) spinStart = System.nanoTime();
                if (System.nanoTime() - spinStart < SPIN_NANOS) Thread.onSpinWait();
                else LockSupport.park(this);
            }
            this.task = null;
            Throwable err = failure;
            if (err instanceof RuntimeException re) throw re;
            if (err instanceof Error e) throw e;
            if (err != null) throw new IllegalStateException(err);
        } finally {
            lock.unlock();
        }
    }

    /** Claims and runs chunks of job g until none is left (or the job is no longer current). */
    private void runChunks(long g) {
        while (true) {
            long s = state.get();
            if ((s >>> 32) != g) return;
            int chunks = (int) (s >>> 16) & 0xFFFF, c = (int) s & 0xFFFF;
            if (c >= chunks) return;
            if (!state.compareAndSet(s, s + 1)) continue;
            try {
                long start = (long) total * c / chunks, end = (long) total * (c + 1) / chunks;
                task.run((int) start, (int) end);
            } catch (Throwable t) {
                failure = t;
            }
            if (completed.incrementAndGet() == chunks) LockSupport.unpark(waiter);
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Worker w : workers) LockSupport.unpark(w);
    }

    private final class Worker extends Thread {
        private final int index;

        Worker(int index) {
            super("kvdecode-cpu-" + index);
            this.index = index;
            setDaemon(true);
        }

        @Override
        public void run() {
            long seen = 0;
            while (true) {
                long g;
                long spinStart = System.nanoTime();
                while ((g = state.get() >>> 32) == seen) {
                    if (closed) return;
                    if (System.nanoTime() - spinStart < SPIN_NANOS) Thread.onSpinWait();
                    else LockSupport.park(this);
                }
                seen = g;
                runChunks(g);
            }
        }
    }
}
