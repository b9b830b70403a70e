package dev.kvdecode.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A fixed pool of worker threads for the CPU ops, created once and reused for every op of every
 * step: no thread creation per call (issue 9). {@link #parallelFor} splits [0, n) into one
 * contiguous range per thread; the calling thread runs range 0 itself, so a pool of 1 thread is
 * plain serial code. One parallelFor runs at a time (a lock); a call made from inside a worker runs
 * inline. Workers spin briefly before parking because ops follow each other within microseconds.
 *
 * <p>The split is static and depends only on (n, threads), and every op accumulates each output
 * element in the same order whatever the split, so results do not depend on the thread count.
 */
public final class CpuThreads implements AutoCloseable {

    /** Work over the index range [start, end). */
    @FunctionalInterface
    public interface RangeTask {
        void run(int start, int end);
    }

    private static final int SPIN_ITERATIONS = 20_000;
    private static CpuThreads common;

    private final int threads;
    private final Worker[] workers;
    private final ReentrantLock lock = new ReentrantLock();
    private final AtomicInteger remaining = new AtomicInteger();
    private volatile long generation;
    private volatile boolean closed;
    // Written before the volatile generation bump, read after it: published by it.
    private RangeTask task;
    private int total;
    private Thread waiter;
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
     * Runs task over [0, n) split into at most {@link #threads()} contiguous ranges and returns when
     * all are done. {@code pool} may be null: then the task runs serially on the caller.
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
            this.waiter = Thread.currentThread();
            this.failure = null;
            remaining.set(workers.length);
            generation = generation + 1;            // publishes task/total/waiter
            for (Worker w : workers) LockSupport.unpark(w);
            Throwable mine = null;
            try {
                runRange(0);
            } catch (Throwable t) {
                mine = t;
            }
            int spins = 0;
            while (remaining.get() != 0) {
                if (spins++ < SPIN_ITERATIONS) Thread.onSpinWait();
                else LockSupport.park(this);
            }
            this.task = null;
            Throwable err = mine != null ? mine : failure;
            if (err instanceof RuntimeException re) throw re;
            if (err instanceof Error e) throw e;
            if (err != null) throw new IllegalStateException(err);
        } finally {
            lock.unlock();
        }
    }

    private void runRange(int index) {
        long start = (long) total * index / threads;
        long end = (long) total * (index + 1) / threads;
        if (end > start) task.run((int) start, (int) end);
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
                int spins = 0;
                while ((g = generation) == seen) {
                    if (closed) return;
                    if (spins++ < SPIN_ITERATIONS) Thread.onSpinWait();
                    else LockSupport.park(this);
                }
                seen = g;
                try {
                    runRange(index);
                } catch (Throwable t) {
                    failure = t;
                }
                Thread w = waiter;
                if (remaining.decrementAndGet() == 0) LockSupport.unpark(w);
            }
        }
    }
}
