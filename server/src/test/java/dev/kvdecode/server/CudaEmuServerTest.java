package dev.kvdecode.server;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.kvdecode.kernels.cuda.DType;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cuda.CudaBackend;
import dev.kvdecode.runtime.cuda.CudaOptions;
import dev.kvdecode.runtime.cuda.CudaSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * kvdecode serve on the CUDA backend's device slot loop (sampling on the device, captured graphs),
 * run on the device emulator with the default model and chunked prefill (3 tokens per step): a
 * request's greedy output is the same alone (1 concurrent) and with 3 and 8 concurrent requests,
 * every slot is free at the end, and a client that hangs up is cancelled and frees its slot. Few,
 * short requests in a 32-token window: the emulator runs every kernel on the CPU (~1 min CPU).
 */
class CudaEmuServerTest {
    static final int SLOTS = 8, MAX_TOKENS = 4, CHUNK = 3;
    static CudaBackend gpu;

    @BeforeAll
    static void open() { gpu = CudaBackend.openEmulator(new CudaOptions(DType.F32, true, 16, 3, 0)); }

    @AfterAll
    static void close() { if (gpu != null) gpu.close(); }

    static String prompt(int i) { return LoadTest.prompt(i * 3 + i / 4); }

    static String complete(OpenAIClient client, String model, String prompt, int maxTokens) {
        StringBuilder sb = new StringBuilder();
        try (StreamResponse<Completion> s = client.completions().createStreaming(CompletionCreateParams.builder()
                .model(model).prompt(prompt).maxTokens(maxTokens).temperature(0.0).build())) {
            s.stream().forEach(c -> c.choices().forEach(ch -> sb.append(ch.text())));
        }
        return sb.toString();
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void batchInvarianceSlotsAndCancel() throws Exception {
        String model = TestModel.MODEL.name();
        int window = 32, chunk = CHUNK;
        try (Serving serving = Serving.listen(new OpenAiServer.Config("127.0.0.1", 0, null, 1 << 16))) {
            serving.load(TestModel.MODEL, gpu, SLOTS, window, 16, chunk, ChatFormatter.NONE);
            OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + serving.port() + "/v1")
                    .apiKey("unused").maxRetries(0).build();
            try (ExecutorService pool = Executors.newFixedThreadPool(SLOTS + 1)) {
                long t0 = System.nanoTime();
                String[] alone = new String[SLOTS];
                for (int i = 0; i < SLOTS; i++) alone[i] = complete(client, model, prompt(i), MAX_TOKENS);
                for (int i = 0; i < SLOTS; i++) assertFalse(alone[i].isEmpty(), "request " + i + " generated nothing");
                System.err.printf("alone: %.1f s%n", (System.nanoTime() - t0) / 1e9);
                for (int concurrent : new int[] {3, 8}) {
                    t0 = System.nanoTime();
                    List<Future<String>> got = new ArrayList<>();
                    for (int i = 0; i < concurrent; i++) {
                        String p = prompt(i);
                        got.add(pool.submit(() -> complete(client, model, p, MAX_TOKENS)));
                    }
                    for (int i = 0; i < concurrent; i++)
                        assertEquals(alone[i], got.get(i).get(120, TimeUnit.SECONDS),
                                "chunk " + chunk + ", " + concurrent + " concurrent, request " + i + ": differs from the request alone");
                    System.err.printf("%d concurrent: %.1f s%n", concurrent, (System.nanoTime() - t0) / 1e9);
                }
                t0 = System.nanoTime();
                // a client that hangs up after two chunks, beside a running request
                Future<String> other = pool.submit(() -> complete(client, model, prompt(1), MAX_TOKENS));
                int read = 0;
                try (StreamResponse<Completion> s = client.completions().createStreaming(CompletionCreateParams.builder()
                        .model(model).prompt("HAMLET:").maxTokens(window - 8).temperature(0.0).build())) {
                    Iterator<Completion> it = s.stream().iterator();
                    while (read < 2 && it.hasNext()) { it.next(); read++; }
                }
                assertEquals(2, read);
                assertEquals(alone[1], other.get(120, TimeUnit.SECONDS), "the request beside the one cancelled");
                System.err.printf("cancel: %.1f s%n", (System.nanoTime() - t0) / 1e9);
            } finally {
                client.close();
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while ((serving.scheduler().slotsInUse() > 0 || LoadTest.cancelled(serving) < 1) && System.nanoTime() < deadline)
                Thread.sleep(20);
            assertEquals(1, LoadTest.cancelled(serving), "the client that hung up was cancelled");
            assertEquals(0, serving.scheduler().slotsInUse(), "every slot is free again");
            assertEquals(0, serving.scheduler().queueDepth());
        }
    }

    /** A sequence cancelled while its token is delivered leaves at the next step boundary (at most one more token). */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void cancelFreesSlotWithinAStep() throws Exception {
        CudaSession session = gpu.open(TestModel.MODEL, new SessionOptions(2, 32, OverflowPolicy.STOP, true));
        try (Scheduler sch = new Scheduler(session, 2, 32, 4, 0, Scheduler.Observer.NONE)) {
            SchedulerTest.Collect c = new SchedulerTest.Collect(0, 2);
            c.seq = sch.submit(SchedulerTest.greedy(SchedulerTest.prompt(7, 3), 25), c);
            SchedulerTest.Collect beside = new SchedulerTest.Collect();
            sch.submit(SchedulerTest.greedy(SchedulerTest.prompt(8, 3), 5), beside);
            sch.start(gpu.gpu()::makeCurrent);
            assertEquals(Scheduler.Finish.CANCELLED, c.await());
            assertTrue(c.tokens.size() <= 3, "tokens after cancel: " + c.tokens.size());
            assertEquals(Scheduler.Finish.LENGTH, beside.await());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (sch.slotsInUse() > 0 && System.nanoTime() < deadline) Thread.sleep(5);
            assertEquals(0, sch.slotsInUse());
            sch.shutdown(1000);
        } finally {
            gpu.gpu().makeCurrent();
            session.close();
        }
    }
}
