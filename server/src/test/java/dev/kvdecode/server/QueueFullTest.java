package dev.kvdecode.server;

import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.SessionOptions;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A full queue answers 429 with Retry-After. The scheduler is not started, so nothing leaves its
 * queue and the test does not depend on timing; shutting it down ends the queued request with 503.
 */
class QueueFullTest {
    @Test
    void fullQueueIs429WithRetryAfter() throws Exception {
        var session = TestModel.BACKEND.open(TestModel.MODEL, new SessionOptions(1, 64, OverflowPolicy.STOP, true));
        Scheduler paused = new Scheduler(session, 1, 64, 1, Scheduler.Observer.NONE);
        OpenAiServer http = new OpenAiServer(new OpenAiServer.Config("127.0.0.1", 0, null, 4096));
        try {
            int port = http.start();
            http.ready(new OpenAiServer.Engine(TestModel.MODEL, paused, ChatFormatter.NONE));
            HttpClient c = HttpClient.newHttpClient();
            HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"" + TestModel.MODEL.name() + "\", \"prompt\": \"A\"}")).build();
            CompletableFuture<HttpResponse<String>> queued = c.sendAsync(req, HttpResponse.BodyHandlers.ofString());
            while (paused.queueDepth() < 1) Thread.sleep(5);
            HttpResponse<String> refused = c.send(req, HttpResponse.BodyHandlers.ofString());
            OpenAiServerTest.assertError(refused, 429, null);
            assertEquals("1", refused.headers().firstValue("Retry-After").orElse(null));
            assertFalse(queued.isDone());
            paused.shutdown(0);
            OpenAiServerTest.assertError(queued.get(30, TimeUnit.SECONDS), 503, null);
        } finally {
            http.close();
            session.close();
        }
    }
}
