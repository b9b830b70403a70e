package dev.kvdecode.server;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvdecode.runtime.engine.StopTokens;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.tokenizer.TokenizerException;
import dev.kvdecode.runtime.tokenizer.TokenizerLimitException;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The OpenAI-compatible HTTP API over a {@link Scheduler} (Javalin on virtual threads; JSON with
 * Jackson): POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health,
 * GET /metrics. The server starts before the model is loaded: until {@link #ready} /health and the
 * API answer 503. Each request's thread only parses, submits, and writes what the scheduler
 * hands it; the scheduler thread never waits on it.
 */
public final class OpenAiServer implements AutoCloseable {

    /** What the server needs once the model is loaded. */
    public record Engine(Model model, Scheduler scheduler, ChatFormatter chat) {}

    /**
     * @param apiKey       null = no authentication
     * @param maxBodyBytes larger request bodies get 413
     */
    public record Config(String host, int port, String apiKey, long maxBodyBytes) {}

    private static final ObjectMapper JSON = new ObjectMapper();
    /** A request waits at most this long for its next event before it gives up (a stuck backend). */
    private static final long EVENT_TIMEOUT_S = 600;

    private final Config config;
    private final ServerMetrics metrics;
    private final byte[] apiKey;
    private final Javalin app;
    private volatile Engine engine;
    private volatile boolean draining;

    public OpenAiServer(Config config) {
        this.config = config;
        this.metrics = new ServerMetrics();
        this.apiKey = config.apiKey() == null ? null : config.apiKey().getBytes(StandardCharsets.UTF_8);
        this.app = Javalin.create(c -> {
            c.startup.showJavalinBanner = false;
            c.startup.showOldJavalinVersionWarning = false;
            c.concurrency.useVirtualThreads = true;
            c.http.maxRequestSize = config.maxBodyBytes();
            c.http.compressionStrategy = CompressionStrategy.NONE;   // SSE chunks must leave as they are written
            c.jetty.host = config.host();
            c.jetty.port = config.port();
            c.routes.before("/v1/*", this::authenticate);
            c.routes.get("/health", this::health);
            c.routes.get("/metrics", ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8").result(metrics.scrape()));
            c.routes.get("/v1/models", this::models);
            c.routes.post("/v1/completions", ctx -> complete(ctx, false));
            c.routes.post("/v1/chat/completions", ctx -> complete(ctx, true));
            c.routes.exception(ApiException.class, (e, ctx) -> error(ctx, e));
            c.routes.exception(HttpResponseException.class, (e, ctx) -> error(ctx, fromJavalin(e)));
            c.routes.exception(Exception.class, (e, ctx) -> {
                System.err.println("kvdecode serve: internal error on " + ctx.path() + ": " + e);
                error(ctx, new ApiException(500, "server_error", null, "internal_error", "internal server error"));
            });
        });
    }

    /** Starts listening; returns the bound port (useful with port 0). */
    public int start() {
        app.start();
        return app.port();
    }

    /** The model is loaded: /health turns 200 and the API serves. */
    public void ready(Engine e) {
        metrics.watch(e.scheduler());
        this.engine = e;
    }

    /** Stops admitting: /health and new API requests answer 503 (requests in flight go on). */
    public void drain() { draining = true; }

    public int port() { return app.port(); }

    ServerMetrics metrics() { return metrics; }

    @Override
    public void close() { app.stop(); }

    // ---- endpoints ----

    private void health(Context ctx) {
        boolean ok = engine != null && !draining;
        ctx.status(ok ? 200 : 503).contentType("application/json")
                .result(ok ? "{\"status\":\"ok\"}" : engine == null ? "{\"status\":\"loading\"}" : "{\"status\":\"draining\"}");
    }

    private void models(Context ctx) {
        Engine e = engine();
        ObjectNode o = JSON.createObjectNode().put("object", "list");
        o.putArray("data").addObject().put("id", e.model().name()).put("object", "model").put("created", 0)
                .put("owned_by", "kvdecode").put("max_model_len", e.scheduler().window());
        json(ctx, 200, o, "models");
    }

    private void complete(Context ctx, boolean chat) throws IOException {
        String endpoint = chat ? "chat.completions" : "completions";
        Engine e = engine();
        JsonNode body = parseBody(ctx);
        int window = e.scheduler().window();
        CompletionParams p = CompletionParams.parse(body, chat, chat ? window : 16, window);
        if (!p.model().equals(e.model().name()))
            throw new ApiException(404, "invalid_request_error", "model", "model_not_found",
                    "model: '" + p.model() + "' does not exist; this server serves '" + e.model().name() + "'");
        String promptText = chat ? chatPrompt(body, e.chat()) : null;
        // the template writes the special tokens itself (BOS among them): encode without adding any, as HF does
        int[] prompt = chat ? encode(e, promptText, "messages", false) : completionPrompt(body, e);
        if (prompt.length > window)
            throw new ApiException(400, "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded",
                    (chat ? "messages" : "prompt") + ": " + prompt.length + " tokens exceed the model's window of " + window + " tokens");

        Pipe pipe = new Pipe(new TextStream(e.model().tokenizer(), p.stop()));
        Scheduler.Sequence seq;
        try {
            // any of the model's eos ids ends the reply; a chat's also at the template's eos_token
            seq = e.scheduler().submit(new Scheduler.Request(prompt, p.maxTokens(), p.sampling(),
                    StopTokens.of(e.model(), chat ? e.chat().eosToken() : null)), pipe);
        } catch (Scheduler.QueueFullException q) {
            ctx.header("Retry-After", "1");
            throw new ApiException(429, "rate_limit_error", null, "queue_full", q.getMessage() + "; retry later");
        } catch (Scheduler.ShuttingDownException s) {
            throw new ApiException(503, "server_error", null, "shutting_down", s.getMessage());
        }
        String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        long created = System.currentTimeMillis() / 1000;
        Response r = new Response(id, created, e.model().name(), chat, prompt.length);
        try {
            if (p.stream()) stream(ctx, pipe, r, p.includeUsage(), endpoint);
            else whole(ctx, pipe, r, endpoint);
        } finally {
            seq.cancel();   // no-op once finished; frees the slot if this thread gave up early
        }
    }

    /** Non-streaming: wait for the end, answer one object. */
    private void whole(Context ctx, Pipe pipe, Response r, String endpoint) {
        StringBuilder text = new StringBuilder();
        End end = pipe.collect(text);
        if (end.finish() == Scheduler.Finish.ERROR || end.finish() == Scheduler.Finish.CANCELLED)
            throw failed(end);
        ObjectNode o = r.object(false);
        ObjectNode choice = ((ArrayNode) o.get("choices")).addObject().put("index", 0);
        if (r.chat()) choice.putObject("message").put("role", "assistant").put("content", text.toString());
        else choice.put("text", text.toString()).putNull("logprobs");
        choice.put("finish_reason", finishReason(end));
        r.usage(o, end.completionTokens());
        json(ctx, 200, o, endpoint);
    }

    /** Server-sent events: a chunk per piece of text as it is sampled, then [DONE]. */
    private void stream(Context ctx, Pipe pipe, Response r, boolean includeUsage, String endpoint) throws IOException {
        ctx.status(200).contentType("text/event-stream; charset=utf-8").header("Cache-Control", "no-cache")
                .header("X-Accel-Buffering", "no");
        metrics.request(endpoint, 200);
        OutputStream out = ctx.res().getOutputStream();
        try {
            if (r.chat()) {
                ObjectNode first = r.chunk();
                ((ArrayNode) first.get("choices")).addObject().put("index", 0).putNull("finish_reason")
                        .putObject("delta").put("role", "assistant").put("content", "");
                send(out, first);
            }
            while (true) {
                Object ev = pipe.next();
                if (ev instanceof String text) {
                    send(out, r.textChunk(text, null));
                    continue;
                }
                End end = (End) ev;
                if (end.finish() == Scheduler.Finish.ERROR || end.finish() == Scheduler.Finish.CANCELLED) {
                    // the status is sent already: the error goes into the stream, as OpenAI does
                    ApiException x = failed(end);
                    send(out, errorBody(x));
                } else {
                    send(out, r.textChunk("", finishReason(end)));
                    if (includeUsage) {
                        ObjectNode u = r.chunk();
                        r.usage(u, end.completionTokens());
                        send(out, u);
                    }
                }
                out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                return;
            }
        } catch (IOException | IllegalStateException gone) {
            // The client went away: the caller's finally cancels the sequence, which leaves its
            // slot at the next step boundary. Nothing more can be written.
        }
    }

    private static void send(OutputStream out, ObjectNode o) throws IOException {
        out.write(("data: " + JSON.writeValueAsString(o) + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static ApiException failed(End end) {
        if (end.finish() == Scheduler.Finish.CANCELLED)
            return new ApiException(503, "server_error", null, "shutting_down", "the request was cancelled: the server is shutting down");
        return new ApiException(500, "server_error", null, "backend_error", "generation failed: " + end.error());
    }

    private static String finishReason(End end) {
        return end.finish() == Scheduler.Finish.STOP ? "stop" : "length";
    }

    // ---- request parts ----

    private Engine engine() {
        Engine e = engine;
        if (e == null) throw new ApiException(503, "server_error", null, "loading", "the model is still loading; retry shortly");
        if (draining) throw new ApiException(503, "server_error", null, "shutting_down", "server is shutting down");
        return e;
    }

    private void authenticate(Context ctx) {
        if (apiKey == null) return;
        String h = ctx.header("Authorization");
        byte[] given = h != null && h.startsWith("Bearer ") ? h.substring(7).getBytes(StandardCharsets.UTF_8) : new byte[0];
        // constant time in the key's content (MessageDigest.isEqual); only lengths may leak
        if (!MessageDigest.isEqual(given, apiKey))
            throw new ApiException(401, "authentication_error", null, "invalid_api_key",
                    "invalid or missing API key: send Authorization: Bearer <key>");
    }

    private JsonNode parseBody(Context ctx) {
        long declared = ctx.req().getContentLengthLong();
        if (declared > config.maxBodyBytes()) throw tooLarge();
        byte[] bytes = ctx.bodyAsBytes();
        if (bytes.length > config.maxBodyBytes()) throw tooLarge();
        JsonNode n;
        try {
            n = JSON.readTree(bytes);
        } catch (JacksonException e) {
            throw ApiException.badRequest("invalid_json", "the body is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw ApiException.badRequest("invalid_json", "the body could not be read: " + e.getMessage());
        }
        if (n == null || !n.isObject()) throw ApiException.badRequest("invalid_json", "the body must be a JSON object");
        return n;
    }

    private ApiException tooLarge() {
        return new ApiException(413, "invalid_request_error", null, "request_too_large",
                "the request body exceeds " + config.maxBodyBytes() + " bytes");
    }

    private static int[] completionPrompt(JsonNode body, Engine e) {
        JsonNode p = body.get("prompt");
        if (p == null || p.isNull()) throw ApiException.badField("prompt", "is required");
        if (p.isTextual()) return encode(e, p.asText(), "prompt", true);
        if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) return encode(e, p.get(0).asText(), "prompt", true);
        if (p.isArray() && !p.isEmpty() && p.get(0).isIntegralNumber()) {
            int V = e.model().tokenizer().vocabSize();
            int[] ids = new int[p.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode t = p.get(i);
                if (!t.isIntegralNumber() || t.asLong() < 0 || t.asLong() >= V)
                    throw ApiException.badField("prompt", "token ids must be integers in [0, " + V + "), got " + t);
                ids[i] = t.asInt();
            }
            return ids;
        }
        if (p.isArray() && p.size() > 1)
            throw ApiException.badField("prompt", "one prompt per request (n = 1); got " + p.size());
        throw ApiException.badField("prompt", "must be a string, an array of one string, or an array of token ids");
    }

    private static int[] encode(Engine e, String text, String field, boolean addSpecialTokens) {
        int[] ids;
        try {
            ids = e.model().tokenizer().encode(text, addSpecialTokens);
        } catch (TokenizerLimitException x) {
            throw modelFault(x);
        } catch (TokenizerException x) {
            throw ApiException.badField(field, x.getMessage());
        }
        if (ids.length == 0) throw ApiException.badField(field, "encodes to no tokens");
        return ids;
    }

    /**
     * The model's chat template or tokenizer regex passed its budget. The budgets grow with the
     * input, so that real files stay far below them on any request: the served model's files are
     * at fault, not the request (500, and a line for the operator).
     */
    private static ApiException modelFault(TokenizerLimitException x) {
        System.err.println("kvdecode serve: " + x.getMessage());
        return new ApiException(500, "server_error", null, "tokenizer_limit", x.getMessage());
    }

    private static String chatPrompt(JsonNode body, ChatFormatter chat) {
        JsonNode ms = body.get("messages");
        if (ms == null || !ms.isArray() || ms.isEmpty()) throw ApiException.badField("messages", "must be a non-empty array");
        List<ChatFormatter.Message> list = new ArrayList<>();
        for (JsonNode m : ms) {
            if (!m.isObject()) throw ApiException.badField("messages", "each message must be an object");
            String role = CompletionParams.string(m, "role", true);
            JsonNode c = m.get("content");
            String content;
            if (c == null || c.isNull()) content = "";
            else if (c.isTextual()) content = c.asText();
            else if (c.isArray()) {
                StringBuilder sb = new StringBuilder();
                for (JsonNode part : c) {
                    if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual())
                        throw ApiException.badField("messages", "only text content parts are supported");
                    sb.append(part.get("text").asText());
                }
                content = sb.toString();
            } else throw ApiException.badField("messages", "content must be a string or an array of text parts");
            list.add(new ChatFormatter.Message(role, content));
        }
        Optional<String> prompt;
        try {
            prompt = chat.render(list);
        } catch (TokenizerLimitException x) {
            throw modelFault(x);
        } catch (TokenizerException x) {
            throw ApiException.badField("messages", x.getMessage());
        }
        if (prompt.isEmpty())
            throw new ApiException(400, "invalid_request_error", "messages", "no_chat_template", "model has no chat template");
        return prompt.get();
    }

    // ---- responses ----

    private void json(Context ctx, int status, ObjectNode o, String endpoint) {
        metrics.request(endpoint, status);
        ctx.status(status).contentType("application/json").result(o.toString());
    }

    private void error(Context ctx, ApiException e) {
        metrics.request(ctx.path().startsWith("/v1/chat") ? "chat.completions" : ctx.path().startsWith("/v1/completions") ? "completions" : "other", e.status);
        ctx.status(e.status).contentType("application/json").result(errorBody(e).toString());
    }

    private static ObjectNode errorBody(ApiException e) {
        ObjectNode o = JSON.createObjectNode();
        ObjectNode err = o.putObject("error");
        err.put("message", e.getMessage()).put("type", e.type);
        if (e.param != null) err.put("param", e.param); else err.putNull("param");
        if (e.code != null) err.put("code", e.code); else err.putNull("code");
        return o;
    }

    private static ApiException fromJavalin(HttpResponseException e) {
        return switch (e.getStatus()) {
            case 413 -> new ApiException(413, "invalid_request_error", null, "request_too_large", "the request body is too large");
            case 404 -> new ApiException(404, "invalid_request_error", null, "not_found", "no such endpoint");
            case 405 -> new ApiException(405, "invalid_request_error", null, "method_not_allowed", "method not allowed");
            default -> new ApiException(e.getStatus(), e.getStatus() >= 500 ? "server_error" : "invalid_request_error", null, null,
                    e.getMessage());
        };
    }

    /** The fixed parts of one response's objects. */
    private record Response(String id, long created, String model, boolean chat, int promptTokens) {
        ObjectNode object(boolean chunk) {
            ObjectNode o = JSON.createObjectNode();
            o.put("id", id).put("object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion")
                    .put("created", created).put("model", model);
            o.putArray("choices");
            return o;
        }

        ObjectNode chunk() { return object(true); }

        ObjectNode textChunk(String text, String finish) {
            ObjectNode o = chunk();
            ObjectNode c = ((ArrayNode) o.get("choices")).addObject().put("index", 0);
            if (chat) {
                ObjectNode d = c.putObject("delta");
                if (!text.isEmpty() || finish == null) d.put("content", text);
            } else {
                c.put("text", text).putNull("logprobs");
            }
            if (finish != null) c.put("finish_reason", finish); else c.putNull("finish_reason");
            return o;
        }

        void usage(ObjectNode o, int completion) {
            o.putObject("usage").put("prompt_tokens", promptTokens).put("completion_tokens", completion)
                    .put("total_tokens", promptTokens + completion);
        }
    }

    // ---- scheduler -> request thread ----

    /** How a sequence ended, as the request thread sees it. */
    record End(Scheduler.Finish finish, int completionTokens, String error) {}

    /**
     * Hands a sequence's text from the scheduler thread to its request thread: the scheduler only
     * appends to an unbounded queue (bounded in practice by max_tokens), never waits.
     */
    static final class Pipe implements Scheduler.Sink {
        private final LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        private final TextStream text;

        Pipe(TextStream text) { this.text = text; }

        @Override
        public boolean onToken(int token) {
            String s = text.push(token);
            if (!s.isEmpty()) events.add(s);
            return !text.stopFound();
        }

        @Override
        public void onFinish(Scheduler.Finish finish, int completionTokens, String error) {
            String rest = text.finish();
            if (!rest.isEmpty()) events.add(rest);
            Scheduler.Finish f = text.stopFound() ? Scheduler.Finish.STOP : finish;
            events.add(new End(f, completionTokens, error));
        }

        /** The next piece of text or the End. */
        Object next() {
            try {
                Object o = events.poll(EVENT_TIMEOUT_S, TimeUnit.SECONDS);
                if (o == null) return new End(Scheduler.Finish.ERROR, 0, "no token for " + EVENT_TIMEOUT_S + " s");
                return o;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return new End(Scheduler.Finish.CANCELLED, 0, null);
            }
        }

        /** Appends all text to sb; returns the End. */
        End collect(StringBuilder sb) {
            while (true) {
                Object o = next();
                if (o instanceof End end) return end;
                sb.append((String) o);
            }
        }
    }
}
