package dev.kvdecode.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The HTTP API on loopback (an ephemeral port) through the official OpenAI Java SDK, and raw
 * HTTP for the malformed requests the SDK cannot send.
 */
class OpenAiServerTest {
    static final String MODEL = TestModel.MODEL.name();
    static final int WINDOW = TestModel.MODEL.config().nPositions();
    static Serving serving;
    static OpenAIClient client;
    static final HttpClient HTTP = HttpClient.newHttpClient();
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void start() {
        serving = Serving.listen(new OpenAiServer.Config("127.0.0.1", 0, null, 64 * 1024));
        serving.load(TestModel.MODEL, TestModel.BACKEND, 4, WINDOW, 16, ChatFormatter.NONE);
        client = client(null);
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        serving.shutdown(5000);
    }

    static OpenAIClient client(String key) {
        return OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + serving.port() + "/v1")
                .apiKey(key != null ? key : "unused").maxRetries(0).build();
    }

    static CompletionCreateParams.Builder greedy(String prompt, long maxTokens) {
        return CompletionCreateParams.builder().model(MODEL).prompt(prompt).maxTokens(maxTokens).temperature(0.0);
    }

    @Test
    void completionEqualsGreedyAloneWithUsage() {
        Completion c = client.completions().create(greedy("ROMEO:", 24).build());
        CompletionChoice ch = c.choices().get(0);
        assertEquals(TestModel.aloneGreedyText("ROMEO:", 24), ch.text());
        assertEquals(CompletionChoice.FinishReason.LENGTH, ch.finishReason());
        var u = c.usage().orElseThrow();
        assertEquals(6, u.promptTokens());
        assertEquals(24, u.completionTokens());
        assertEquals(30, u.totalTokens());
        assertEquals(MODEL, c.model());
    }

    @Test
    void streamingSendsTheSameTextThenUsage() {
        String whole = client.completions().create(greedy("JULIET:", 30).build()).choices().get(0).text();
        StringBuilder sb = new StringBuilder();
        int chunks = 0;
        String finish = null;
        Long usage = null;
        try (StreamResponse<Completion> s = client.completions().createStreaming(greedy("JULIET:", 30)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            for (Completion c : (Iterable<Completion>) s.stream()::iterator) {
                chunks++;
                if (c.usage().isPresent()) usage = c.usage().get().completionTokens();
                for (CompletionChoice ch : c.choices()) {
                    sb.append(ch.text());
                    if (!ch._finishReason().isNull() && !ch._finishReason().isMissing()) finish = ch.finishReason().toString();
                }
            }
        }
        assertEquals(whole, sb.toString());
        assertTrue(chunks > 10, "tokens go out as they are sampled: " + chunks + " chunks");
        assertEquals("length", finish);
        assertEquals(30L, usage);
    }

    /** A stop string spanning several (one-character) tokens ends the text just before it. */
    @Test
    void stopStringSpanningTokens() {
        String full = TestModel.aloneGreedyText("ROMEO:", 40);
        String stop = full.substring(10, 14);
        int at = full.indexOf(stop);
        Completion c = client.completions().create(greedy("ROMEO:", 40).stop(stop).build());
        assertEquals(full.substring(0, at), c.choices().get(0).text());
        assertEquals(CompletionChoice.FinishReason.STOP, c.choices().get(0).finishReason());
        assertEquals(at + stop.length(), c.usage().orElseThrow().completionTokens(), "tokens up to the end of the stop string");
        // streamed: nothing of the stop string is ever sent
        StringBuilder sb = new StringBuilder();
        try (StreamResponse<Completion> s = client.completions().createStreaming(greedy("ROMEO:", 40).stop(stop).build())) {
            s.stream().forEach(x -> x.choices().forEach(ch -> sb.append(ch.text())));
        }
        assertEquals(full.substring(0, at), sb.toString());
    }

    @Test
    void chatWithoutTemplateIs400() {
        var params = ChatCompletionCreateParams.builder().model(MODEL).addUserMessage("hello").build();
        BadRequestException e = assertThrows(BadRequestException.class, () -> client.chat().completions().create(params));
        assertEquals("model has no chat template", e.getMessage().replaceAll("^400: ", ""));
        assertEquals("messages", e.param().orElse(null));
    }

    @Test
    void modelsAndUnknownModel() {
        assertEquals(MODEL, client.models().list().data().get(0).id());
        NotFoundException e = assertThrows(NotFoundException.class,
                () -> client.completions().create(CompletionCreateParams.builder().model("gpt-x").prompt("A").build()));
        assertEquals("model", e.param().orElse(null));
    }

    @Test
    void sdkErrorsNameTheField() {
        assertField(400, "max_tokens", () -> client.completions().create(greedy("A", -1).build()));
        assertField(400, "max_tokens", () -> client.completions().create(greedy("A", 1L << 40).build()));
        assertField(400, "temperature", () -> client.completions().create(greedy("A", 2).temperature(2.5).build()));
        assertField(400, "n", () -> client.completions().create(greedy("A", 2).n(2).build()));
        assertField(400, "top_p", () -> client.completions().create(greedy("A", 2).topP(0.0).build()));
        String longPrompt = "A".repeat(WINDOW + 1);
        assertField(400, "prompt", () -> client.completions().create(greedy(longPrompt, 2).build()));
        assertField(400, "max_tokens", () -> client.completions().create(greedy("A", 2)
                .putAdditionalBodyProperty("max_tokens", JsonValue.from("ten")).build()));
    }

    private static void assertField(int status, String param, Runnable call) {
        OpenAIServiceException e = assertThrows(OpenAIServiceException.class, call::run);
        assertEquals(status, e.statusCode(), e.getMessage());
        assertEquals(param, e.param().orElse(null), e.getMessage());
        assertTrue(e.getMessage().contains(param), e.getMessage());
    }

    // ---- raw HTTP: what the SDK would never send ----

    static HttpResponse<String> post(String path, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + serving.port() + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + serving.port() + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The OpenAI error shape with this status, param and no stack trace. */
    static JsonNode assertError(HttpResponse<String> r, int status, String param) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode err = JSON.readTree(r.body()).get("error");
        assertNotNull(err, r.body());
        for (String f : List.of("message", "type", "param", "code")) assertTrue(err.has(f), f + " in " + r.body());
        if (param != null) assertEquals(param, err.get("param").asText(), r.body());
        assertFalse(r.body().contains("at dev.") || r.body().contains("Exception"), "no stack trace: " + r.body());
        return err;
    }

    @Test
    void malformedRequests() throws Exception {
        assertEquals("invalid_json", assertError(post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": "), 400, null)
                .get("code").asText());
        assertError(post("/v1/completions", "[1, 2]"), 400, null);
        assertError(post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": 5}"), 400, "prompt");
        assertError(post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": \"A\", \"stream\": \"yes\"}"), 400, "stream");
        assertError(post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": \"A\", \"max_tokens\": 2.5}"), 400, "max_tokens");
        assertError(post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": \"A\", \"max_tokens\": 99999999999999999999999}"),
                400, "max_tokens");
        assertError(post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": \"A\", \"stop\": [1]}"), 400, "stop");
        assertError(post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": \"A\", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}"),
                400, "stop");
        assertError(post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": \"A\", \"seed\": \"x\"}"), 400, "seed");
        assertError(post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": [0, 9999]}"), 400, "prompt");
        assertError(post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": \"\\u00e9\"}"), 400, "prompt");
        assertError(post("/v1/completions", "{\"prompt\": \"A\"}"), 400, "model");
        assertError(post("/v1/chat/completions", "{\"model\": \"" + MODEL + "\", \"messages\": 3}"), 400, "messages");
        assertError(post("/v1/nothing", "{}"), 404, null);
        String big = "{\"model\": \"" + MODEL + "\", \"prompt\": \"" + "A".repeat(70 * 1024) + "\"}";
        assertEquals("request_too_large", assertError(post("/v1/completions", big), 413, null).get("code").asText());
        // after all that, the server still serves
        assertEquals(200, post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": [1, 2, 3], \"max_tokens\": 3}").statusCode());
    }

    /**
     * Issue 21: every numeric request field over 0, -1, 1, Integer.MAX_VALUE, past an int, past a
     * long and its own limits; each is served (200) or refused with a 400 naming the field.
     */
    static Stream<Arguments> numericFields() {
        String MAX = Integer.toString(Integer.MAX_VALUE), INT_OVER = "2147483648", LONG_OVER = "9223372036854775808",
                HUGE = "1" + "0".repeat(30), W = Integer.toString(WINDOW), W1 = Integer.toString(WINDOW + 1);
        return Stream.of(
                Arguments.of("max_tokens", "0", 400), Arguments.of("max_tokens", "-1", 400), Arguments.of("max_tokens", "1", 200),
                Arguments.of("max_tokens", W, 200), Arguments.of("max_tokens", W1, 400), Arguments.of("max_tokens", MAX, 400),
                Arguments.of("max_tokens", INT_OVER, 400), Arguments.of("max_tokens", LONG_OVER, 400), Arguments.of("max_tokens", HUGE, 400),
                Arguments.of("n", "0", 400), Arguments.of("n", "-1", 400), Arguments.of("n", "1", 200), Arguments.of("n", MAX, 400),
                Arguments.of("n", INT_OVER, 400), Arguments.of("n", LONG_OVER, 400),
                Arguments.of("best_of", "0", 400), Arguments.of("best_of", "1", 200), Arguments.of("best_of", MAX, 400),
                Arguments.of("temperature", "0", 200), Arguments.of("temperature", "-1", 400), Arguments.of("temperature", "1", 200),
                Arguments.of("temperature", "2", 200), Arguments.of("temperature", "2.0001", 400), Arguments.of("temperature", MAX, 400),
                Arguments.of("temperature", "1e400", 400),
                Arguments.of("temperature", "1e-300", 200), Arguments.of("temperature", "1e-45", 200), Arguments.of("temperature", "1e-30", 200), Arguments.of("temperature", "-1e400", 400),
                Arguments.of("top_p", "0", 400), Arguments.of("top_p", "-1", 400), Arguments.of("top_p", "1", 200),
                Arguments.of("top_p", "1e-300", 200), Arguments.of("top_p", "1.0001", 400), Arguments.of("top_p", MAX, 400),
                Arguments.of("top_p", "1e400", 400),
                Arguments.of("top_k", "0", 200), Arguments.of("top_k", "-1", 200), Arguments.of("top_k", "-2", 400),
                Arguments.of("top_k", "1", 200), Arguments.of("top_k", "66", 200), Arguments.of("top_k", MAX, 200),
                Arguments.of("top_k", INT_OVER, 400), Arguments.of("top_k", LONG_OVER, 400),
                Arguments.of("seed", "0", 200), Arguments.of("seed", "-1", 200), Arguments.of("seed", MAX, 200),
                Arguments.of("seed", Long.toString(Long.MAX_VALUE), 200), Arguments.of("seed", Long.toString(Long.MIN_VALUE), 200),
                Arguments.of("seed", LONG_OVER, 400), Arguments.of("seed", "-9223372036854775809", 400), Arguments.of("seed", "1.5", 400));
    }

    @ParameterizedTest(name = "{0} = {1} -> {2}")
    @MethodSource("numericFields")
    void numericFieldIsServedOrNamed(String field, String value, int status) throws Exception {
        // sampled (temperature 1) unless the sweep is of temperature, so top_k, top_p and seed are used
        String body = "{\"model\": \"" + MODEL + "\", \"prompt\": \"A\""
                + (field.equals("max_tokens") ? "" : ", \"max_tokens\": 2")
                + (field.equals("temperature") ? "" : ", \"temperature\": 1")
                + ", \"" + field + "\": " + value + "}";
        HttpResponse<String> r = post("/v1/completions", body);
        if (status == 200) assertEquals(200, r.statusCode(), field + " = " + value + ": " + r.body());
        else assertError(r, status, field);
    }

    /** stop: 0 to 4 strings are served, 5 are a 400; a stop string as long as the body allows is served. */
    @Test
    void stopCountAndLength() throws Exception {
        String head = "{\"model\": \"" + MODEL + "\", \"prompt\": \"A\", \"max_tokens\": 3, \"stop\": ";
        for (int n = 0; n <= 5; n++) {
            List<String> stops = new ArrayList<>();
            for (int i = 0; i < n; i++) stops.add("\"zz" + i + "\"");
            HttpResponse<String> r = post("/v1/completions", head + "[" + String.join(",", stops) + "]}");
            if (n <= CompletionParams.MAX_STOPS) assertEquals(200, r.statusCode(), n + " stops: " + r.body());
            else assertError(r, 400, "stop");
        }
        assertError(post("/v1/completions", head + "\"\"}"), 400, "stop");
        String longStop = "z".repeat(60 * 1024);   // the body limit (64 KiB) bounds its length
        assertEquals(200, post("/v1/completions", head + "\"" + longStop + "\"}").statusCode());
        assertEquals(200, post("/v1/completions", head + "[\"" + longStop.substring(0, 15000) + "\", \"" + longStop.substring(0, 15000)
                + "\", \"" + longStop.substring(0, 15000) + "\", \"" + longStop.substring(0, 15000) + "\"]}").statusCode());
    }

    /** The body: empty is a 400, exactly the limit (64 KiB here) is read, one byte more is a 413. */
    @Test
    void bodySizeAtTheLimit() throws Exception {
        assertError(post("/v1/completions", ""), 400, null);
        String base = "{\"model\": \"" + MODEL + "\", \"prompt\": \"A\", \"max_tokens\": 2}";
        String atLimit = base.substring(0, base.length() - 1) + " ".repeat(64 * 1024 - base.length()) + "}";
        assertEquals(64 * 1024, atLimit.getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
        assertEquals(200, post("/v1/completions", atLimit).statusCode());
        String over = " " + atLimit;
        assertEquals("request_too_large", assertError(post("/v1/completions", over), 413, null).get("code").asText());
    }

    @Test
    void healthAndMetrics() throws Exception {
        assertEquals(200, get("/health").statusCode());
        client.completions().create(greedy("A", 2).build());
        String m = get("/metrics").body();
        for (String name : List.of("kvdecode_requests_total", "kvdecode_prompt_tokens_total", "kvdecode_generated_tokens_total",
                "kvdecode_queue_depth", "kvdecode_slots_in_use", "kvdecode_time_to_first_token_seconds_bucket",
                "kvdecode_time_per_output_token_seconds_bucket", "kvdecode_request_latency_seconds_bucket"))
            assertTrue(m.contains(name), name + " in /metrics");
    }

    @Test
    void healthIs503WhileLoading() throws Exception {
        try (Serving s = Serving.listen(new OpenAiServer.Config("127.0.0.1", 0, null, 4096))) {
            var r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/health")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(503, r.statusCode());
            var c = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
            assertError(c, 503, null);
        }
    }

    @Test
    void apiKeyRequired() throws Exception {
        try (Serving s = Serving.listen(new OpenAiServer.Config("127.0.0.1", 0, "s3cret-key", 4096))) {
            s.load(TestModel.MODEL, TestModel.BACKEND, 1, 64, 4, ChatFormatter.NONE);
            String base = "http://127.0.0.1:" + s.port() + "/v1";
            OpenAIClient wrong = OpenAIOkHttpClient.builder().baseUrl(base).apiKey("s3cret-kez").maxRetries(0).build();
            OpenAIClient right = OpenAIOkHttpClient.builder().baseUrl(base).apiKey("s3cret-key").maxRetries(0).build();
            try {
                UnauthorizedException e = assertThrows(UnauthorizedException.class,
                        () -> wrong.completions().create(CompletionCreateParams.builder().model(MODEL).prompt("A").maxTokens(2).build()));
                assertEquals(401, e.statusCode());
                assertEquals(2, right.completions().create(CompletionCreateParams.builder().model(MODEL).prompt("A").maxTokens(2)
                        .build()).usage().orElseThrow().completionTokens());
            } finally {
                wrong.close();
                right.close();
            }
            var none = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/models")).build(), HttpResponse.BodyHandlers.ofString());
            assertError(none, 401, null);
            assertEquals(200, HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/health")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode(), "probes need no key");
        }
    }
}
