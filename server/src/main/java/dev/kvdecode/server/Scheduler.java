package dev.kvdecode.server;

import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SlotDecoder;
import dev.kvdecode.runtime.sample.SamplingParams;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Continuous batching over one {@link InferenceSession} opened with {@code slots} sequences, each
 * owning its region of the KV cache for as long as it runs. One thread (started by
 * {@link #start}) loops over step boundaries:
 * <ol>
 *   <li>retire cancelled sequences (slot and KV region free at once);</li>
 *   <li>admit queued requests into free slots; without chunking, prefill each newcomer's whole
 *       prompt into its slot and sample its first token;</li>
 *   <li>with chunked prefill ({@code prefillChunk} > 0), feed at most that many prompt tokens in
 *       all to the slots still prefilling, oldest first (a sequence whose prompt is complete
 *       gets its first token), so one long prompt never stalls the running sequences for more
 *       than one chunk;</li>
 *   <li>one batched decode step for every slot whose prompt is in, each sampled with its own
 *       parameters and seeded generator; hand the tokens to the requests' {@link Sink}s, retire
 *       the sequences that finished.</li>
 * </ol>
 * The model work goes through the session's {@link SlotDecoder}: the host loop on the CPU
 * (logits to the host, sampled there), the device loop on CUDA (sampled on the device, only the
 * ids come back).
 * The queue is bounded ({@link #submit} refuses when it is full: HTTP 429). The scheduler never
 * waits on a client: sinks are called on this thread and must only hand tokens over (the HTTP
 * layer queues them for the request's own thread). A client that goes away calls
 * {@link Sequence#cancel}; the sequence leaves at the next step boundary.
 */
public final class Scheduler implements AutoCloseable {

    /** Why a sequence ended. */
    public enum Finish {
        /** The end-of-text token, or the sink asked to stop (a stop string). */
        STOP,
        /** max_tokens, or the window is full. */
        LENGTH,
        /** The client went away or the server shut down before it finished. */
        CANCELLED,
        /** The backend failed. */
        ERROR
    }

    /** Receives one sequence's tokens, on the scheduler thread; must not block. */
    public interface Sink {
        /** A sampled token (never the end-of-text token); false ends the sequence with STOP. */
        boolean onToken(int token);

        /** The end, exactly once: why, and how many tokens were generated. */
        void onFinish(Finish finish, int completionTokens, String error);
    }

    /** Timings of finished sequences, for the metrics. */
    public interface Observer {
        /** firstTokenNanos: submit to first token (0 if none); totalNanos: submit to the end. */
        void finished(Finish finish, int promptTokens, int completionTokens, long firstTokenNanos, long totalNanos);

        Observer NONE = (f, p, c, t, a) -> {};
    }

    /**
     * A request for one sequence.
     *
     * @param prompt    token ids, 1..window
     * @param maxTokens tokens to generate at most, >= 1
     * @param sampling  how each token is chosen; its seed seeds this sequence's generator
     * @param eosTokens the end-of-text ids (the model's, see StopTokens): the sequence stops at any
     *                  of them; empty for none
     */
    public record Request(int[] prompt, int maxTokens, SamplingParams sampling, int[] eosTokens) {
        public Request {
            if (prompt.length == 0) throw new IllegalArgumentException("empty prompt");
            if (maxTokens < 1) throw new IllegalArgumentException("maxTokens must be >= 1");
            eosTokens = eosTokens.clone();
        }

        /** A request with one end-of-text id, or -1 for none. */
        public Request(int[] prompt, int maxTokens, SamplingParams sampling, int eosToken) {
            this(prompt, maxTokens, sampling, eosToken < 0 ? new int[0] : new int[] {eosToken});
        }

        boolean isEos(int token) {
            for (int id : eosTokens) if (id == token) return true;
            return false;
        }
    }

    /** Thrown by {@link #submit} when the queue is full. */
    public static final class QueueFullException extends RuntimeException {
        QueueFullException(int depth) { super("server busy: " + depth + " requests queued"); }
    }

    /** Thrown by {@link #submit} after {@link #shutdown} began. */
    public static final class ShuttingDownException extends RuntimeException {
        ShuttingDownException() { super("server is shutting down"); }
    }

    /** A submitted sequence; the client's handle to cancel it. */
    public static final class Sequence {
        final Request request;
        final Sink sink;
        final long submitted = System.nanoTime();
        volatile boolean cancelled;
        int slot = -1, produced;
        /** Prompt tokens fed so far (== prompt length once it decodes). */
        int fed;
        long firstToken, admitted;

        Sequence(Request request, Sink sink) {
            this.request = request;
            this.sink = sink;
        }

        /** Ends the sequence at the next step boundary (or skips it if still queued). */
        public void cancel() { cancelled = true; }
    }

    private final InferenceSession session;
    private final int slots, window, prefillChunk;
    private SlotDecoder decoder;
    private long admissions;
    private final BlockingQueue<Sequence> queue;
    private final Observer observer;
    private final Sequence[] active;
    private final AtomicInteger inUse = new AtomicInteger();
    private final int[] stepSlots, stepIds;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean accepting = true, running = true;
    private Thread thread;

    /**
     * @param session  opened with batch = slots and the KV cache on; used only by this scheduler's thread
     * @param window   the session's context in tokens
     * @param maxQueue requests waiting for a slot at most, >= 1
     */
    public Scheduler(InferenceSession session, int slots, int window, int maxQueue, Observer observer) {
        this(session, slots, window, maxQueue, 0, observer);
    }

    /**
     * @param prefillChunk prompt tokens fed per step boundary at most (chunked prefill), 0 = each
     *                     prompt whole at its admission
     */
    public Scheduler(InferenceSession session, int slots, int window, int maxQueue, int prefillChunk, Observer observer) {
        if (slots < 1 || window < 1 || maxQueue < 1) throw new IllegalArgumentException("slots, window and maxQueue must be >= 1");
        if (prefillChunk < 0) throw new IllegalArgumentException("prefillChunk must be >= 0, got " + prefillChunk);
        this.session = session;
        this.slots = slots;
        this.window = window;
        this.prefillChunk = prefillChunk;
        this.queue = new LinkedBlockingQueue<>(maxQueue);   // bounded without allocating maxQueue slots up front (--max-queue may be huge)
        this.observer = observer;
        this.active = new Sequence[slots];
        this.stepSlots = new int[slots];
        this.stepIds = new int[slots];
    }

    /** Starts the loop on its own platform thread (it runs the model: virtual threads gain nothing). */
    public Scheduler start() { return start(() -> {}); }

    /**
     * As {@link #start()}, running {@code threadSetup} first on the scheduler thread (the CUDA
     * backend makes its context current there: the driver binds a context per thread).
     */
    public Scheduler start(Runnable threadSetup) {
        thread = Thread.ofPlatform().name("kvdecode-scheduler").daemon().start(() -> {
            threadSetup.run();
            loop();
        });
        return this;
    }

    /** Queues a request; throws {@link QueueFullException} or {@link ShuttingDownException}. */
    public Sequence submit(Request request, Sink sink) {
        if (request.prompt().length > window)
            throw new IllegalArgumentException("prompt of " + request.prompt().length + " tokens exceeds the window of " + window);
        if (!accepting) throw new ShuttingDownException();
        Sequence s = new Sequence(request, sink);
        if (!queue.offer(s)) throw new QueueFullException(queue.size());
        return s;
    }

    public int slots() { return slots; }

    public int window() { return window; }

    /** Prompt tokens per step boundary at most, 0 = whole prompts. */
    public int prefillChunk() { return prefillChunk; }

    /** Slots running a sequence now. */
    public int slotsInUse() { return inUse.get(); }

    /** Requests waiting for a slot. */
    public int queueDepth() { return queue.size(); }

    public boolean accepting() { return accepting; }

    /**
     * Stops admitting new requests (submit throws), lets the queued and running ones finish for
     * at most {@code drainMillis}, then cancels what is left and stops the loop. Returns true if
     * everything finished in time.
     */
    public boolean shutdown(long drainMillis) throws InterruptedException {
        accepting = false;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(drainMillis);
        while ((inUse.get() > 0 || !queue.isEmpty()) && System.nanoTime() < deadline) Thread.sleep(10);
        boolean clean = inUse.get() == 0 && queue.isEmpty();
        running = false;
        if (thread != null) {
            stopped.await();
        } else {   // never started: the queued requests end here
            List<Sequence> left = new ArrayList<>();
            queue.drainTo(left);
            for (Sequence s : left) finishUnadmitted(s, Finish.CANCELLED, null);
        }
        return clean;
    }

    @Override
    public void close() {
        try {
            shutdown(0);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- the loop (scheduler thread only) ----

    private void loop() {
        try {
            decoder = session.slotDecoder(slots);   // on this thread: CUDA allocates in the context bound here
            while (running) {
                retireCancelled();
                admit();
                if (inUse.get() == 0) {
                    Sequence s = queue.poll(20, TimeUnit.MILLISECONDS);
                    if (s != null) admitOne(s);
                    continue;
                }
                prefillChunks();
                step();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            // Shutdown (or the loop failed, e.g. the session's slot decoder could not be made):
            // nothing more is admitted, whatever is left ends now.
            accepting = false;
            for (int b = 0; b < slots; b++) if (active[b] != null) retire(b, Finish.CANCELLED, null);
            List<Sequence> left = new ArrayList<>();
            queue.drainTo(left);
            for (Sequence s : left) finishUnadmitted(s, Finish.CANCELLED, null);
            stopped.countDown();
        }
    }

    private void retireCancelled() {
        for (int b = 0; b < slots; b++) if (active[b] != null && active[b].cancelled) retire(b, Finish.CANCELLED, null);
    }

    private void admit() {
        while (inUse.get() < slots) {
            Sequence s = queue.poll();
            if (s == null) return;
            admitOne(s);
        }
    }

    private void admitOne(Sequence s) {
        if (s.cancelled) {
            finishUnadmitted(s, Finish.CANCELLED, null);
            return;
        }
        int b = 0;
        while (active[b] != null) b++;
        s.slot = b;
        s.admitted = admissions++;
        active[b] = s;
        inUse.incrementAndGet();
        try {
            decoder.start(b, s.request.sampling());
        } catch (RuntimeException e) {
            retire(b, Finish.ERROR, e.toString());
            return;
        }
        if (prefillChunk == 0) feed(b, s.request.prompt().length);
    }

    /**
     * Chunked prefill: up to prefillChunk prompt tokens in all, to the slots still prefilling,
     * oldest admission first. A sequence's chunks are always [k N, (k+1) N) of its own prompt
     * (N = prefillChunk; a chunk that does not fit the rest of the budget waits for the next
     * boundary), so where its chunks split does not depend on what else is prefilling: on CUDA,
     * where a chunked prefill differs from a whole one in the last bits, the output stays
     * independent of the batch.
     */
    private void prefillChunks() {
        if (prefillChunk == 0) return;
        int budget = prefillChunk;
        long after = Long.MIN_VALUE;   // admission order of the last one fed
        while (budget > 0) {
            int oldest = -1;
            for (int b = 0; b < slots; b++) {
                Sequence s = active[b];
                if (s != null && s.fed < s.request.prompt().length && s.admitted > after
                        && (oldest < 0 || s.admitted < active[oldest].admitted)) oldest = b;
            }
            if (oldest < 0) return;
            Sequence s = active[oldest];
            int n = Math.min(prefillChunk, s.request.prompt().length - s.fed);
            if (n > budget) return;
            budget -= n;
            after = s.admitted;
            feed(oldest, n);
        }
    }

    /** Feeds slot b's next n prompt tokens; the last chunk gives the sequence's first token. */
    private void feed(int b, int n) {
        Sequence s = active[b];
        int[] prompt = s.request.prompt();
        int token;
        try {
            token = decoder.prefill(b, prompt, s.fed, s.fed + n);
        } catch (RuntimeException e) {
            retire(b, Finish.ERROR, e.toString());
            return;
        }
        s.fed += n;
        if (s.fed < prompt.length) return;
        s.firstToken = System.nanoTime();
        accept(b, token);
    }

    /** One batched decode step of every active slot whose prompt is in and whose window has room. */
    private void step() {
        int n = 0;
        for (int b = 0; b < slots; b++) {
            Sequence s = active[b];
            if (s == null || s.fed < s.request.prompt().length) continue;
            if (session.tokensSeen(b) >= window) {   // the window is full: the last token cannot be fed
                retire(b, Finish.LENGTH, null);
                continue;
            }
            stepSlots[n++] = b;
        }
        if (n == 0) return;
        try {
            decoder.step(stepSlots, n, stepIds);
        } catch (RuntimeException e) {
            for (int r = 0; r < n; r++) retire(stepSlots[r], Finish.ERROR, e.toString());
            return;
        }
        for (int r = 0; r < n; r++) accept(stepSlots[r], stepIds[r]);
    }

    /** Hands slot b's sampled token on; retires the sequence when it ends. */
    private void accept(int b, int token) {
        Sequence s = active[b];
        if (s.request.isEos(token)) {
            retire(b, Finish.STOP, null);
            return;
        }
        s.produced++;
        boolean more;
        try {
            more = s.sink.onToken(token);
        } catch (RuntimeException e) {
            retire(b, Finish.CANCELLED, null);
            return;
        }
        if (!more) retire(b, Finish.STOP, null);
        else if (s.produced >= s.request.maxTokens()) retire(b, Finish.LENGTH, null);
    }

    private void retire(int b, Finish finish, String error) {
        Sequence s = active[b];
        active[b] = null;
        inUse.decrementAndGet();
        long now = System.nanoTime();
        observer.finished(finish, s.request.prompt().length, s.produced, s.firstToken == 0 ? 0 : s.firstToken - s.submitted,
                now - s.submitted);
        finishSink(s, finish, error);
    }

    private void finishUnadmitted(Sequence s, Finish finish, String error) {
        observer.finished(finish, s.request.prompt().length, 0, 0, System.nanoTime() - s.submitted);
        finishSink(s, finish, error);
    }

    private static void finishSink(Sequence s, Finish finish, String error) {
        try {
            s.sink.onFinish(finish, s.produced, error);
        } catch (RuntimeException ignored) {
            // a failing sink must not stop the other sequences; its request is lost either way
        }
    }
}
