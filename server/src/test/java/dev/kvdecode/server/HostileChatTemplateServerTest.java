package dev.kvdecode.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A served model whose chat template runs away (issue 16): three loops nested over range(1000),
 * 10^9 iterations, when the first message says "hang". The request that triggers it gets a 500
 * server_error, code tokenizer_limit, with the one-line message naming tokenizer_config.json
 * and the limit, once the render budget is spent (about a second); requests beside it are served
 * as usual, and so are later ones.
 */
class HostileChatTemplateServerTest {
    static final String TEMPLATE = "{% if messages[0]['content'] == 'hang' %}"
            + "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}"
            + "{% endif %}{% for m in messages %}{{ m['role'] | upper }}: {{ m['content'] }}\n{% endfor %}ROMEO:";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir static Path dir;
    static Serving serving;

    @BeforeAll
    static void start() throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), JSON.writeValueAsString(JSON.createObjectNode().put("chat_template", TEMPLATE)));
        serving = Serving.listen(new OpenAiServer.Config("127.0.0.1", 0, null, 64 * 1024));
        serving.load(TestModel.MODEL, TestModel.BACKEND, 2, TestModel.MODEL.config().nPositions(), 4, ChatFormatter.forModel(dir));
    }

    @AfterAll
    static void stop() throws Exception {
        serving.shutdown(5000);
    }

    static CompletableFuture<HttpResponse<String>> chat(String content) {
        String body = JSON.createObjectNode().put("model", TestModel.MODEL.name()).put("max_tokens", 8).put("temperature", 0.0)
                .set("messages", JSON.createArrayNode().add(JSON.createObjectNode().put("role", "user").put("content", content))).toString();
        return HTTP.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + serving.port() + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aRunawayTemplateIs500AndDisturbsNoOtherRequest() throws Exception {
        var hostile = chat("hang");
        var hostile2 = chat("hang");
        var plain = chat("Who is there?");
        String expected = TestModel.aloneGreedyText("USER: Who is there?\nROMEO:", 8);

        HttpResponse<String> p = plain.get();
        assertEquals(200, p.statusCode(), p.body());
        assertEquals(expected, JSON.readTree(p.body()).at("/choices/0/message/content").asText());
        for (var h : java.util.List.of(hostile, hostile2)) {
            HttpResponse<String> r = h.get();
            assertEquals(500, r.statusCode(), r.body());
            JsonNode err = JSON.readTree(r.body()).get("error");
            assertEquals("server_error", err.get("type").asText(), r.body());
            assertEquals("tokenizer_limit", err.get("code").asText(), r.body());
            // 501,000 steps (nodes rendered and loop iterations); on a machine loaded enough, the 10 s could come first
            assertTrue(err.get("message").asText().startsWith(dir.resolve("tokenizer_config.json") + ": chat template exceeds its render budget of "),
                    r.body());
        }
        // and after them
        HttpResponse<String> later = chat("Who is there?").get();
        assertEquals(200, later.statusCode(), later.body());
        assertEquals(expected, JSON.readTree(later.body()).at("/choices/0/message/content").asText());
    }
}
