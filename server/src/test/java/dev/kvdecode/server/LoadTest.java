package dev.kvdecode.server;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A bounded load test on loopback that ends by itself: 32 concurrent streaming clients (and one
 * that hangs up early) against 8 slots of the default model. Every request completes, every
 * greedy output equals the same request decoded alone, the hung-up client's sequence is
 * cancelled, and every slot is free at the end.
 */
class LoadTest {
    static final int CLIENTS = 32, SLOTS = 8, MAX_TOKENS = 12;
    static final String[] WORDS = {"ROMEO", "JULIET", "KING", "QUEEN", "First Citizen", "MENENIUS", "Nurse", "GLOUCESTER"};

    static String prompt(int i) { return WORDS[i % WORDS.length] + ":\n" + "O".repeat(i / WORDS.length); }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void thirtyTwoStreamingClients() throws Exception {
        String model = TestModel.MODEL.name();
        int window = TestModel.MODEL.config().nPositions();
        try (Serving serving = Serving.listen(new OpenAiServer.Config("127.0.0.1", 0, null, 1 << 16))) {
            serving.load(TestModel.MODEL, TestModel.BACKEND, SLOTS, window, 64, ChatFormatter.NONE);
            OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + serving.port() + "/v1")
                    .apiKey("unused").maxRetries(0).build();
            try (ExecutorService pool = Executors.newFixedThreadPool(CLIENTS + 1)) {
                // The client that hangs up: asks for the whole window, reads two chunks, closes.
                Future<Integer> quitter = pool.submit(() -> {
                    int read = 0;
                    try (StreamResponse<Completion> s = client.completions().createStreaming(CompletionCreateParams.builder()
                            .model(model).prompt("HAMLET:").maxTokens(window - 7).temperature(0.0).build())) {
                        Iterator<Completion> it = s.stream().iterator();
                        while (read < 2 && it.hasNext()) { it.next(); read++; }
                    }
                    return read;
                });
                List<Future<String>> results = new ArrayList<>();
                for (int i = 0; i < CLIENTS; i++) {
                    String p = prompt(i);
                    results.add(pool.submit(() -> {
                        StringBuilder sb = new StringBuilder();
                        try (StreamResponse<Completion> s = client.completions().createStreaming(CompletionCreateParams.builder()
                                .model(model).prompt(p).maxTokens(MAX_TOKENS).temperature(0.0).build())) {
                            s.stream().forEach(c -> c.choices().forEach(ch -> sb.append(ch.text())));
                        }
                        return sb.toString();
                    }));
                }
                // hostile requests in the middle of the load: each refused on its own, nobody else disturbed
                String base = "http://127.0.0.1:" + serving.port() + "/v1/completions";
                String[] bad = {"{\"model\": \"" + model + "\", \"prompt\": \"A\", \"max_tokens\": -5}",
                        "{\"model\": \"" + model + "\", \"prompt\": \"A\", \"temperature\": 1e308}", "{not json",
                        "{\"model\": \"" + model + "\", \"prompt\": \"" + "A".repeat(1 << 17) + "\"}"};
                int[] status = {400, 400, 400, 413};
                HttpClient raw = HttpClient.newHttpClient();
                for (int k = 0; k < bad.length; k++) {
                    HttpResponse<String> r = raw.send(HttpRequest.newBuilder(URI.create(base))
                            .POST(HttpRequest.BodyPublishers.ofString(bad[k])).build(), HttpResponse.BodyHandlers.ofString());
                    assertEquals(status[k], r.statusCode(), r.body());
                    assertTrue(r.body().startsWith("{\"error\":"), r.body());
                }
                for (int i = 0; i < CLIENTS; i++)
                    assertEquals(TestModel.aloneGreedyText(prompt(i), MAX_TOKENS), results.get(i).get(60, TimeUnit.SECONDS),
                            "client " + i + " (" + prompt(i).replace("\n", "\\n") + ")");
                assertEquals(2, quitter.get(60, TimeUnit.SECONDS));
            } finally {
                client.close();
            }
            // The hung-up client's sequence is cancelled (its next writes fail) and leaves its slot.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while ((serving.scheduler().slotsInUse() > 0 || cancelled(serving) < 1) && System.nanoTime() < deadline) Thread.sleep(20);
            assertEquals(1, cancelled(serving), "the client that hung up was cancelled");
            assertEquals(0, serving.scheduler().slotsInUse(), "every slot is free again");
            assertEquals(0, serving.scheduler().queueDepth());
        }
    }

    private static final Pattern CANCELLED = Pattern.compile("kvdecode_sequences_finished_total\\{reason=\"cancelled\"} ([0-9.]+)");

    static int cancelled(Serving s) throws Exception {
        String m = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        Matcher x = CANCELLED.matcher(m);
        return x.find() ? (int) Double.parseDouble(x.group(1)) : 0;
    }
}
