package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A checkpoint's chat template (the Jinja {@code chat_template} of tokenizer_config.json, or
 * chat_template.jinja beside it), rendered as transformers' {@code apply_chat_template} does:
 * the variables are {@code messages}, {@code add_generation_prompt}, {@code bos_token} and
 * {@code eos_token}, with {@code raise_exception(msg)} and {@code strftime_now(fmt)}.
 * <p>
 * Encode the result with {@link Tokenizer#encode(String, boolean) encode(text, false)}: the
 * template writes the BOS itself where the model wants one, and HF's apply_chat_template adds
 * no second one.
 * <p>
 * The engine is HubSpot's jinjava, with Python's whitespace control and operator precedence
 * switched on (LegacyOverrides). What it lacks for HF templates is bridged here, each checked
 * against transformers' renderings of the Llama 3, Llama 2 and Qwen3 templates in the tests:
 * Python's string methods (strip, lstrip, rstrip, startswith, endswith, split, upper, lower,
 * replace, title) on strings; the slice {@code [::-1]} (rewritten to {@code |reverse}); and
 * expressions as {@code namespace(...)} keyword values (parenthesized before parsing).
 */
public final class ChatTemplate {
    /**
     * Bounds on one rendering (the template is the model's, the messages a server client's): its
     * output, every string, list and map it builds, range() and nesting. A chat prompt longer than
     * MAX_OUTPUT characters would not fit any context kvdecode runs anyway.
     */
    static final int MAX_OUTPUT = 4 << 20, MAX_COLLECTION = 100_000, RANGE_LIMIT = 1_000, MAX_RENDER_DEPTH = 10;
    private static final Pattern REVERSE_SLICE = Pattern.compile("([A-Za-z_][A-Za-z0-9_.]*)\\[\\s*:\\s*:\\s*-1\\s*]");

    private final Path source;
    private final String template;
    private final String bosToken, eosToken;
    private final Jinjava jinjava;

    private ChatTemplate(Path source, String template, String bosToken, String eosToken) {
        this.source = source;
        this.template = translate(template);
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        LegacyOverrides python = LegacyOverrides.newBuilder()
                .withUseTrimmingForNotesAndExpressions(true)   // {{- ... -}}
                .withUseNaturalOperatorPrecedence(true)
                .withParseWhitespaceControlStrictly(true)
                .withKeepNullableLoopValues(true)
                .withHandleBackslashInQuotesOnly(true)
                .withUsePyishObjectMapper(true)
                .build();
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStringMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        jinjava = new Jinjava(JinjavaConfig.newBuilder().withLegacyOverrides(python).withElResolver(resolver)
                .withFailOnUnknownTokens(false).withMaxOutputSize(MAX_OUTPUT).withMaxStringLength(MAX_OUTPUT)
                .withMaxListSize(MAX_COLLECTION).withMaxMapSize(MAX_COLLECTION).withRangeLimit(RANGE_LIMIT)
                .withMaxRenderDepth(MAX_RENDER_DEPTH).build());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now", ChatTemplate.class, "strftimeNow", String.class));
    }

    /**
     * The model folder's chat template: chat_template.jinja if present (what transformers 4.43+
     * writes), else tokenizer_config.json's chat_template (a string, or a list of {name, template}
     * of which "default" is used). Empty when the folder has neither.
     */
    public static Optional<ChatTemplate> load(Path modelDir) {
        if (dev.kvdecode.runtime.model.gguf.GgufModels.isGguf(modelDir))   // a .gguf file: tokenizer.chat_template (issue 20)
            return dev.kvdecode.runtime.model.gguf.GgufTokenizers.chatTemplate(modelDir);
        Path config = modelDir.resolve("tokenizer_config.json");
        JsonNode root = Files.isRegularFile(config) ? Gpt2BpeTokenizer.readJson(config) : null;
        String bos = root == null ? null : HfTokenizer.specialTokenName(root.get("bos_token"));
        String eos = root == null ? null : HfTokenizer.specialTokenName(root.get("eos_token"));
        Path jinja = modelDir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            try {
                return Optional.of(new ChatTemplate(jinja, Files.readString(jinja, StandardCharsets.UTF_8), bos, eos));
            } catch (IOException | java.io.UncheckedIOException e) {
                throw Gpt2BpeTokenizer.cannotRead(jinja, e instanceof IOException io ? io : (Exception) e);
            }
        }
        if (root == null) return Optional.empty();
        JsonNode t = root.get("chat_template");
        if (t == null || t.isNull()) return Optional.empty();
        if (t.isTextual()) return Optional.of(new ChatTemplate(config, t.asText(), bos, eos));
        if (t.isArray()) {
            for (JsonNode named : t) {
                if (named.path("name").asText().equals("default") && named.path("template").isTextual()) {
                    return Optional.of(new ChatTemplate(config, named.get("template").asText(), bos, eos));
                }
            }
        }
        throw new TokenizerException(config + ": chat_template is neither a string nor a list with a \"default\" template");
    }

    /** A template given as text (a GGUF file's tokenizer.chat_template); {@code source} names it in messages. */
    public static ChatTemplate of(Path source, String template, String bosToken, String eosToken) {
        return new ChatTemplate(source, template, bosToken, eosToken);
    }

    /** tokenizer_config.json's bos_token, or null. */
    public String bosToken() { return bosToken; }

    /** tokenizer_config.json's eos_token, or null: a chat ends at it. */
    public String eosToken() { return eosToken; }

    /**
     * The prompt text for a chat. A template that rejects the chat (raise_exception, e.g. roles
     * that do not alternate) or fails to render is a one-line {@link TokenizerException}.
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> msgs = new ArrayList<>();
        for (ChatMessage m : messages) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("role", m.role());
            o.put("content", m.content());
            msgs.add(o);
        }
        Map<String, Object> ctx = new HashMap<>();
        ctx.put("messages", msgs);
        ctx.put("add_generation_prompt", addGenerationPrompt);
        if (bosToken != null) ctx.put("bos_token", bosToken);
        if (eosToken != null) ctx.put("eos_token", eosToken);
        RenderResult r = jinjava.renderForResult(template, ctx);
        for (TemplateError e : r.getErrors()) {
            Throwable cause = e.getException();
            while (cause != null && !(cause instanceof TemplateRaised)) cause = cause.getCause();
            if (cause != null) throw new TokenizerException(source + ": chat template: " + cause.getMessage());
        }
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new TokenizerException(source + ": chat template does not render (line " + e.getLineno() + "): "
                        + Gpt2BpeTokenizer.printable(e.getMessage(), 160));
            }
        }
        return r.getOutput();
    }

    // ---- what jinjava lacks --------------------------------------------------------------------

    /** The template source with [::-1] and namespace(k=expr) in forms jinjava parses. */
    static String translate(String t) {
        t = REVERSE_SLICE.matcher(t).replaceAll("($1|reverse)");
        StringBuilder sb = new StringBuilder(t.length() + 16);
        int at = 0;
        for (int i = t.indexOf("namespace(", 0); i >= 0; i = t.indexOf("namespace(", at)) {
            int open = i + "namespace(".length();
            int close = matchingParen(t, open);
            if (close < 0) break;
            sb.append(t, at, open);
            List<String> args = topLevelSplit(t.substring(open, close));
            for (int k = 0; k < args.size(); k++) {
                String a = args.get(k);
                Matcher m = Pattern.compile("^(\\s*[A-Za-z_][A-Za-z0-9_]*\\s*)=(?!=)(.*)$", Pattern.DOTALL).matcher(a);
                sb.append(k > 0 ? "," : "").append(m.matches() ? m.group(1) + "=(" + m.group(2).strip() + ")" : a);
            }
            sb.append(')');
            at = close + 1;
        }
        return sb.append(t, at, t.length()).toString();
    }

    /** The index of the ')' that closes the '(' before from, skipping quoted strings; -1 if none. */
    private static int matchingParen(String s, int from) {
        int depth = 1;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                int end = s.indexOf(c, i + 1);
                if (end < 0) return -1;
                i = end;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                if (--depth == 0) return c == ')' ? i : -1;
            }
        }
        return -1;
    }

    private static List<String> topLevelSplit(String s) {
        List<String> out = new ArrayList<>();
        int depth = 0, start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                int end = s.indexOf(c, i + 1);
                if (end < 0) break;
                i = end;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
            } else if (c == ',' && depth == 0) {
                out.add(s.substring(start, i));
                start = i + 1;
            }
        }
        out.add(s.substring(start));
        return out;
    }

    /** Thrown by the template's raise_exception(message). */
    static final class TemplateRaised extends RuntimeException {
        TemplateRaised(String message) { super(message); }
    }

    public static String raiseException(String message) { throw new TemplateRaised(message); }

    /** Python's datetime.now().strftime(format) for the codes chat templates use. */
    public static String strftimeNow(String format) {
        ZonedDateTime now = ZonedDateTime.now();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) { sb.append(c); continue; }
            char f = format.charAt(++i);
            String pattern = switch (f) {
                case 'd' -> "dd"; case 'm' -> "MM"; case 'Y' -> "yyyy"; case 'y' -> "yy";
                case 'b' -> "MMM"; case 'B' -> "MMMM"; case 'a' -> "EEE"; case 'A' -> "EEEE";
                case 'H' -> "HH"; case 'I' -> "hh"; case 'M' -> "mm"; case 'S' -> "ss"; case 'p' -> "a";
                case 'j' -> "DDD";
                default -> null;
            };
            if (f == '%') sb.append('%');
            else if (pattern == null) sb.append('%').append(f);
            else sb.append(now.format(DateTimeFormatter.ofPattern(pattern, Locale.ENGLISH)));
        }
        return sb.toString();
    }

    /** Python's str methods on strings (jinjava would look for Java methods of these names). */
    private static final class PythonStringMethods extends ELResolver {
        @Override
        public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
            if (!(base instanceof String s) || method == null) return null;
            Object[] p = params == null ? new Object[0] : params;
            Object result = switch (method.toString()) {
                case "strip" -> strip(s, arg(p), true, true);
                case "lstrip" -> strip(s, arg(p), true, false);
                case "rstrip" -> strip(s, arg(p), false, true);
                case "startswith" -> p.length == 1 ? s.startsWith(String.valueOf(p[0])) : null;
                case "endswith" -> p.length == 1 ? s.endsWith(String.valueOf(p[0])) : null;
                case "split" -> split(s, arg(p));
                case "upper" -> s.toUpperCase(Locale.ROOT);
                case "lower" -> s.toLowerCase(Locale.ROOT);
                case "title" -> title(s);
                case "replace" -> p.length == 2 ? s.replace(String.valueOf(p[0]), String.valueOf(p[1])) : null;
                default -> null;
            };
            if (result != null) context.setPropertyResolved(true);
            return result;
        }

        private static String arg(Object[] p) { return p.length > 0 && p[0] != null ? String.valueOf(p[0]) : null; }

        /** Python's strip: whitespace, or any of the given characters. */
        private static String strip(String s, String chars, boolean left, boolean right) {
            int from = 0, to = s.length();
            while (left && from < to && (chars == null ? Character.isWhitespace(s.charAt(from)) : chars.indexOf(s.charAt(from)) >= 0)) from++;
            while (right && to > from && (chars == null ? Character.isWhitespace(s.charAt(to - 1)) : chars.indexOf(s.charAt(to - 1)) >= 0)) to--;
            return s.substring(from, to);
        }

        private static List<String> split(String s, String sep) {
            List<String> out = new ArrayList<>();
            if (sep == null) {
                for (String w : s.strip().split("\\s+")) if (!w.isEmpty()) out.add(w);
                return out;
            }
            int at = 0;
            for (int i = s.indexOf(sep); i >= 0 && !sep.isEmpty(); i = s.indexOf(sep, at)) {
                out.add(s.substring(at, i));
                at = i + sep.length();
            }
            out.add(s.substring(at));
            return out;
        }

        private static String title(String s) {
            StringBuilder sb = new StringBuilder(s.length());
            boolean prevLetter = false;
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                sb.append(prevLetter ? Character.toLowerCase(c) : Character.toUpperCase(c));
                prevLetter = Character.isLetter(c);
            }
            return sb.toString();
        }

        @Override public Class<?> getCommonPropertyType(ELContext context, Object base) { return null; }
        @Override public Iterator<java.beans.FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) { return null; }
        @Override public Class<?> getType(ELContext context, Object base, Object property) { return null; }
        @Override public Object getValue(ELContext context, Object base, Object property) { return null; }
        @Override public boolean isReadOnly(ELContext context, Object base, Object property) { return true; }
        @Override public void setValue(ELContext context, Object base, Object property, Object value) { }
    }
}
