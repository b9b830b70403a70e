package dev.kvdecode.server;

import dev.kvdecode.runtime.cli.BackendOptions;
import dev.kvdecode.runtime.cli.ModelOptions;
import dev.kvdecode.runtime.cli.UsageException;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.SizeLimitException;
import dev.kvdecode.runtime.engine.Warmup;
import dev.kvdecode.runtime.model.HeapTooSmallException;
import dev.kvdecode.runtime.model.Model;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import sun.misc.Signal;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code kvdecode serve}: the OpenAI-compatible server (see README, "kvdecode serve"). */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Serve the model over HTTP with OpenAI's API (completions, chat, streaming), batching concurrent requests.")
final class ServeCommand implements Callable<Integer> {
    @Mixin ModelOptions model = new ModelOptions();
    @Mixin BackendOptions backendOptions = new BackendOptions();
    @Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to listen on (default: ${DEFAULT-VALUE}; 0.0.0.0 for all)")
    String host;

    @Option(names = "--port", defaultValue = "8080", description = "TCP port, 0 = any free one (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--max-batch", defaultValue = "8",
            description = "slots: sequences decoded together; the KV cache for all of them is allocated at start (default: ${DEFAULT-VALUE})")
    int maxBatch;

    @Option(names = "--max-queue", defaultValue = "64", description = "requests waiting for a slot before 429 (default: ${DEFAULT-VALUE})")
    int maxQueue;

    @Option(names = "--prefill-chunk", defaultValue = "0",
            description = "prompt tokens prefilled per step boundary at most, interleaved with the running sequences' decode steps; 0 = each prompt whole at admission (default: ${DEFAULT-VALUE})")
    int prefillChunk;

    @Option(names = "--context", description = "window per slot in tokens, <= the model's n_positions (default: n_positions)")
    Integer context;

    @Option(names = "--api-key", description = "require Authorization: Bearer KEY on /v1/* (default: none; or env KVDECODE_API_KEY)")
    String apiKey;

    @Option(names = "--max-body-bytes", defaultValue = "1048576", description = "larger request bodies get 413 (default: ${DEFAULT-VALUE})")
    long maxBodyBytes;

    @Option(names = "--drain-seconds", defaultValue = "30",
            description = "on SIGTERM, let requests in flight finish for at most this long, then exit (default: ${DEFAULT-VALUE})")
    int drainSeconds;

    /** Counted down to stop (drain and exit); null: SIGTERM and SIGINT do it. Tests set a latch of their own. */
    CountDownLatch stop;

    @Override
    public Integer call() throws Exception {
        if (port < 0 || port > 65535) throw new UsageException("--port: must be in 0..65535, got " + port);
        // no fixed ceiling: the session checks the KV cache of maxBatch slots against the memory free (issue 21)
        if (maxBatch < 1) throw new UsageException("--max-batch: must be >= 1, got " + maxBatch);
        if (maxQueue < 1) throw new UsageException("--max-queue: must be >= 1, got " + maxQueue);
        if (prefillChunk < 0) throw new UsageException("--prefill-chunk: must be >= 0 (0 = off), got " + prefillChunk);
        if (maxBodyBytes < 1024) throw new UsageException("--max-body-bytes: must be >= 1024, got " + maxBodyBytes);
        if (drainSeconds < 0) throw new UsageException("--drain-seconds: must be >= 0, got " + drainSeconds);
        if (apiKey == null) apiKey = System.getenv("KVDECODE_API_KEY");
        if (apiKey != null && apiKey.isBlank()) throw new UsageException("--api-key: must not be empty");
        PrintWriter err = spec.commandLine().getErr();
        // a missing model directory is a mistake to report before anything listens
        Path dir = model.resolve();
        if (!Files.exists(dir)) throw new UsageException("--model " + dir + ": model directory (or .gguf file) does not exist");

        Backend backend = backendOptions.openHoldingNotices();
        CountDownLatch stop = this.stop;
        if (stop == null) {
            stop = new CountDownLatch(1);
            CountDownLatch s = stop;
            Signal.handle(new Signal("TERM"), x -> s.countDown());
            Signal.handle(new Signal("INT"), x -> s.countDown());
        }
        Serving serving;
        try {
            // listens at once (a taken port fails before a large model loads; /health is 503 while
            // it loads), but says nothing until the session is open: a size the session refuses is
            // the only stderr line (issue 21)
            serving = Serving.listen(new OpenAiServer.Config(host, port, apiKey, maxBodyBytes));
        } catch (RuntimeException e) {
            backend.close();
            throw new UsageException("--host/--port: cannot listen on " + host + ":" + port + ": " + rootMessage(e));
        }
        try {
            Model m;
            try (Warmup w = backend.warmUp()) {
                m = model.load();
                backend.prepare(m);
            }
            int n = m.config().nPositions();
            int window = context != null ? context : n;
            if (window < 1 || window > n)
                throw new UsageException("--context: must be in 1.." + n + " (the model's n_positions), got " + window);
            try {
                // the session checks the KV cache of maxBatch slots against the heap (CPU) or the
                // device's free memory (CUDA) before it allocates anything
                serving.load(m, backend, maxBatch, window, maxQueue, prefillChunk, ChatFormatter.forModel(dir));
            } catch (HeapTooSmallException | SizeLimitException e) {
                // the session speaks of --batch; serve's flag is --max-batch
                throw new UsageException(e.getMessage().replace("--batch ", "--max-batch "));
            }
            backendOptions.printNotices(err);
            err.println("kvdecode: serving " + m.name() + " on " + backend.name() + " at http://" + host + ":" + serving.port()
                    + ": " + maxBatch + " slots of " + window + " tokens, queue " + maxQueue
                    + (prefillChunk > 0 ? ", prefill chunks of " + prefillChunk : "")
                    + (apiKey != null ? ", API key required" : "") + "; SIGTERM drains and exits");
            err.flush();
            stop.await();
            err.println("kvdecode: draining (at most " + drainSeconds + " s)...");
            err.flush();
            boolean clean = serving.shutdown(drainSeconds * 1000L);
            err.println(clean ? "kvdecode: stopped" : "kvdecode: stopped; requests still running after the drain time were cancelled");
            err.flush();
            return 0;
        } finally {
            serving.close();
            backend.close();
        }
    }

    private static String rootMessage(Throwable e) {
        while (e.getCause() != null) e = e.getCause();
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }
}
