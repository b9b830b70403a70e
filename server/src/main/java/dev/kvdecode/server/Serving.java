package dev.kvdecode.server;

import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cuda.CudaBackend;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;

/**
 * A running server: the HTTP API, and once {@link #load} ran, the session (batch = slots, its
 * KV cache sized once for all of them) and the scheduler. {@link #shutdown} drains it.
 */
public final class Serving implements AutoCloseable {
    private final OpenAiServer http;
    private InferenceSession session;
    private Scheduler scheduler;

    private Serving(OpenAiServer http) { this.http = http; }

    /** Listens at once (/health answers 503 until {@link #load}). */
    public static Serving listen(OpenAiServer.Config config) {
        OpenAiServer s = new OpenAiServer(config);
        s.start();
        return new Serving(s);
    }

    /**
     * Opens the session with {@code slots} sequences of {@code window} tokens each (the whole KV
     * cache, allocated now) and starts serving.
     */
    public void load(Model model, Backend backend, int slots, int window, int maxQueue, ChatFormatter chat) {
        load(model, backend, slots, window, maxQueue, 0, chat);
    }

    /** As above, prefilling prompts in chunks of at most {@code prefillChunk} tokens per step boundary (0 = whole). */
    public void load(Model model, Backend backend, int slots, int window, int maxQueue, int prefillChunk, ChatFormatter chat) {
        session = backend.open(model, new SessionOptions(slots, window, OverflowPolicy.STOP, true));
        // the CUDA driver binds a context to a thread: the scheduler thread runs the session
        Runnable bind = backend instanceof CudaBackend cuda ? cuda.gpu()::makeCurrent : () -> {};
        scheduler = new Scheduler(session, slots, window, maxQueue, prefillChunk, http.metrics()).start(bind);
        http.ready(new OpenAiServer.Engine(model, scheduler, chat));
    }

    public int port() { return http.port(); }

    public Scheduler scheduler() { return scheduler; }

    /**
     * Stops admitting (new requests and /health get 503), lets requests in flight finish for at
     * most drainMillis, then stops. Returns true if nothing had to be cut off.
     */
    public boolean shutdown(long drainMillis) throws InterruptedException {
        http.drain();
        boolean clean = scheduler == null || scheduler.shutdown(drainMillis);
        // let the request threads write their last chunks before the connections close
        Thread.sleep(100);
        http.close();
        if (session != null) session.close();
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
}
