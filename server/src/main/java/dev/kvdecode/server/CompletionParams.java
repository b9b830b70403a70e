package dev.kvdecode.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvdecode.runtime.sample.SamplingParams;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The validated parameters of a completion or chat request. Every refusal is a 400 naming the
 * field ({@link ApiException#badField}); fields this server does not use are ignored, as OpenAI's
 * own clients send many optional ones.
 */
record CompletionParams(String model, int maxTokens, SamplingParams sampling, List<String> stop, boolean stream,
                        boolean includeUsage) {

    /** OpenAI's limit on stop strings. */
    static final int MAX_STOPS = 4;

    /**
     * @param defaultMaxTokens used when max_tokens is absent
     * @param window           the model's window: max_tokens may not exceed it
     */
    static CompletionParams parse(JsonNode body, boolean chat, int defaultMaxTokens, int window) {
        String model = string(body, "model", true);
        String maxField = chat && body.hasNonNull("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        int maxTokens = (int) integer(body, maxField, 1, window, defaultMaxTokens);
        long n = integer(body, "n", 1, 1, 1);
        assert n == 1;
        if (!chat) {
            if (bool(body, "echo", false)) throw ApiException.badField("echo", "echo is not supported");
            integer(body, "best_of", 1, 1, 1);
            if (body.hasNonNull("logprobs")) throw ApiException.badField("logprobs", "logprobs are not supported");
        }
        double temperature = number(body, "temperature", 0, 2, 1.0, true);
        double topP = number(body, "top_p", 0, 1, 1.0, false);
        long topK = integer(body, "top_k", -1, Integer.MAX_VALUE, 0);
        long seed = body.hasNonNull("seed") ? integer(body, "seed", Long.MIN_VALUE, Long.MAX_VALUE, 0)
                : ThreadLocalRandom.current().nextLong();
        boolean stream = bool(body, "stream", false);
        boolean includeUsage = false;
        JsonNode so = body.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!so.isObject()) throw ApiException.badField("stream_options", "must be an object");
            includeUsage = bool(so, "include_usage", false, "stream_options.include_usage");
        }
        SamplingParams sampling = temperature == 0 ? SamplingParams.greedyDecoding()
                : SamplingParams.of((float) temperature, (int) Math.max(0, topK),
                        // a top_p below float's range (e.g. 1e-300) rounds to 0: keep it the smallest nucleus
                        Math.max((float) topP, Float.MIN_VALUE), seed);
        return new CompletionParams(model, maxTokens, sampling, stops(body), stream, includeUsage);
    }

    private static List<String> stops(JsonNode body) {
        JsonNode s = body.get("stop");
        List<String> out = new ArrayList<>();
        if (s == null || s.isNull()) return out;
        if (s.isTextual()) {
            out.add(s.asText());
        } else if (s.isArray()) {
            if (s.size() > MAX_STOPS) throw ApiException.badField("stop", "at most " + MAX_STOPS + " stop strings, got " + s.size());
            for (JsonNode e : s) {
                if (!e.isTextual()) throw ApiException.badField("stop", "must be a string or an array of strings");
                out.add(e.asText());
            }
        } else {
            throw ApiException.badField("stop", "must be a string or an array of strings");
        }
        for (String x : out) if (x.isEmpty()) throw ApiException.badField("stop", "stop strings must not be empty");
        return out;
    }

    static String string(JsonNode body, String field, boolean required) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            if (required) throw ApiException.badField(field, "is required");
            return null;
        }
        if (!v.isTextual()) throw ApiException.badField(field, "must be a string, got " + kind(v));
        return v.asText();
    }

    static long integer(JsonNode body, String field, long min, long max, long dflt) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isIntegralNumber()) throw ApiException.badField(field, "must be an integer, got " + kind(v));
        if (!v.canConvertToLong() || v.asLong() < min || v.asLong() > max)
            throw ApiException.badField(field, min == max ? "must be " + min + ", got " + v.asText()
                    : "must be between " + min + " and " + max + ", got " + v.asText());
        return v.asLong();
    }

    /** A number in [min, max] (or (min, max] when !minInclusive). */
    static double number(JsonNode body, String field, double min, double max, double dflt, boolean minInclusive) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isNumber()) throw ApiException.badField(field, "must be a number, got " + kind(v));
        double d = v.asDouble();
        if (!(minInclusive ? d >= min : d > min) || !(d <= max))
            throw ApiException.badField(field, "must be in " + (minInclusive ? "[" : "(") + fmt(min) + ", " + fmt(max) + "], got " + v.asText());
        return d;
    }

    static boolean bool(JsonNode body, String field, boolean dflt) { return bool(body, field, dflt, field); }

    private static boolean bool(JsonNode body, String field, boolean dflt, String name) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw ApiException.badField(name, "must be a boolean, got " + kind(v));
        return v.asBoolean();
    }

    static String kind(JsonNode v) {
        if (v.isTextual()) return "a string";
        if (v.isNumber()) return "a number";
        if (v.isBoolean()) return "a boolean";
        if (v.isArray()) return "an array";
        if (v.isObject()) return "an object";
        return v.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
    }

    private static String fmt(double d) { return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d); }
}
