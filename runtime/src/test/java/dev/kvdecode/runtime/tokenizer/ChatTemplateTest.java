package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Chat templates rendered by jinjava, then encoded without added special tokens, against
 * transformers' apply_chat_template(messages, add_generation_prompt=True, tokenize=True) for the
 * real Llama 3 and Qwen3 files and the Llama-2-chat template on the Llama 2 file.
 */
class ChatTemplateTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The model folder, with the committed template added to tokenizer_config.json where the package has none. */
    static Path modelDir(String name, JsonNode chat, Path tmp) throws IOException {
        Path dir = RealTokenizers.dir(name);
        if (chat.get("template_file").isNull()) return dir;
        String template;
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("/hf-tokenizers/" + chat.get("template_file").asText())) {
            template = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        ObjectNode config = (ObjectNode) JSON.readTree(dir.resolve("tokenizer_config.json").toFile());
        config.put("chat_template", template);
        Path copy = tmp.resolve(name);
        Files.createDirectories(copy);
        JSON.writeValue(copy.resolve("tokenizer_config.json").toFile(), config);
        Files.createSymbolicLink(copy.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        return copy;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "llama2", "qwen3"})
    void renderedChatGivesHfIds(String name, @TempDir Path tmp) throws IOException {
        JsonNode chat = RealTokenizers.expected(name).get("chat");
        Path dir = modelDir(name, chat, tmp);
        ChatTemplate template = ChatTemplate.load(dir).orElseThrow();
        Tokenizer tok = RealTokenizers.tokenizer(name);
        int checked = 0;
        for (JsonNode c : chat.get("cases")) {
            List<ChatMessage> messages = new ArrayList<>();
            for (JsonNode m : c.get("messages")) messages.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
            if (c.has("error")) {
                TokenizerException e = assertThrows(TokenizerException.class, () -> template.render(messages, true));
                assertTrue(e.getMessage().endsWith(": chat template: " + c.get("error").asText()), e.getMessage());
                continue;
            }
            String rendered = template.render(messages, true);
            assertEquals(c.get("rendered").asText(), rendered, () -> name + ": rendering of " + c.get("messages"));
            assertArrayEquals(Fixtures.ints(c.get("ids")), tok.encode(rendered, false), () -> name + ": ids of " + c.get("messages"));
            checked++;
        }
        assertTrue(checked >= 5, "checked " + checked);
    }

    @Test
    void folderWithoutTemplateIsEmpty(@TempDir Path tmp) throws IOException {
        assertTrue(ChatTemplate.load(RealTokenizers.dir("llama2")).isEmpty(), "the llama2 package has no chat_template");
        assertTrue(ChatTemplate.load(tmp).isEmpty());
    }

    @Test
    void chatTemplateJinjaFileWins(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"chat_template\": \"config\", \"bos_token\": \"<s>\"}");
        assertEquals("config", ChatTemplate.load(tmp).orElseThrow().render(List.of(), false));
        Files.writeString(tmp.resolve("chat_template.jinja"), "{{ bos_token }}{% for m in messages %}{{ m.role|upper }}:{{ m.content.strip() }};{% endfor %}");
        assertEquals("<s>USER:hi;", ChatTemplate.load(tmp).orElseThrow().render(List.of(new ChatMessage("user", " hi ")), false));
    }

    /** The rewrites for what jinjava lacks, and Python string methods, on their own. */
    @Test
    void pythonFormsRender(@TempDir Path tmp) throws IOException {
        assertEquals("{% for m in (messages|reverse) %}", ChatTemplate.translate("{% for m in messages[::-1] %}"));
        assertEquals("namespace(a=(true), b=(messages|length - 1))", ChatTemplate.translate("namespace(a=true, b=messages|length - 1)"));
        String t = "{%- set ns = namespace(last=messages|length - 1, n=0) %}{%- for m in messages[::-1] %}{%- set ns.n = ns.n + 1 %}"
                + "{{- m.content.split('|')[-1].lstrip('x').rstrip() }}{{ '!' if m.content.startswith('a') and m.content.endswith('z ') }},{% endfor %}"
                + "{{ ns.last }}/{{ ns.n }}{{ strftime_now('%Y')|length }}";
        Files.writeString(tmp.resolve("tokenizer_config.json"), JSON.writeValueAsString(JSON.createObjectNode().put("chat_template", t)));
        ChatTemplate c = ChatTemplate.load(tmp).orElseThrow();
        assertEquals("b,yz!,1/24", c.render(List.of(new ChatMessage("user", "a|xxyz "), new ChatMessage("user", "b")), true));
    }

    /**
     * A template is the model's, so the server renders untrusted code on every chat request:
     * output that would fill the heap is a one-line TokenizerException (issue 16), from jinjava's
     * output limit or the render budget, whichever comes first.
     */
    @Test
    void hugeOutputIsBounded(@TempDir Path tmp) throws IOException {
        String big = "{% for a in range(9000) %}{% for b in range(9000) %}{{ 'xxxxxxxx' }}{% endfor %}{% endfor %}";
        Files.writeString(tmp.resolve("tokenizer_config.json"), JSON.writeValueAsString(JSON.createObjectNode().put("chat_template", big)));
        TokenizerException e = assertThrows(TokenizerException.class, () -> ChatTemplate.load(tmp).orElseThrow().render(List.of(), false));
        String file = tmp.resolve("tokenizer_config.json").toString();
        assertTrue(e.getMessage().startsWith(file + ": chat template does not render")
                || e.getMessage().startsWith(file + ": chat template exceeds its render budget of "), e.getMessage());
    }

    // ---- the render budget (issue 16): a template is code, and the server renders it on every request ----

    /** A chat of n messages (a system message, then user and assistant in turn) of contentChars characters each. */
    static List<ChatMessage> chat(int n, int contentChars) {
        List<ChatMessage> messages = new ArrayList<>();
        String content = "The quick brown fox jumps over the lazy dog. ".repeat(contentChars / 45 + 1).substring(0, contentChars);
        for (int i = 0; i < n; i++) messages.add(new ChatMessage(i == 0 ? "system" : i % 2 == 1 ? "user" : "assistant", content));
        return messages;
    }

    /**
     * The real templates spend a small part of their budget, on a short chat and on a long one
     * (what RenderBudget.Limits.forChat is sized from): they render within a tenth of it, and the
     * same text as under the full one.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3", "llama2", "qwen3"})
    void realTemplatesStayFarBelowTheBudget(String name, @TempDir Path tmp) throws IOException {
        ChatTemplate template = ChatTemplate.load(modelDir(name, RealTokenizers.expected(name).get("chat"), tmp)).orElseThrow();
        for (int[] shape : new int[][]{{1, 10}, {3, 200}, {21, 2000}, {501, 100}, {2001, 1000}}) {
            List<ChatMessage> messages = chat(shape[0], shape[1]);
            long chars = messages.stream().mapToLong(m -> m.role().length() + m.content().length()).sum();
            RenderBudget.Limits full = RenderBudget.Limits.forChat(messages.size(), chars);
            RenderBudget tenth = new RenderBudget(new RenderBudget.Limits(full.steps() / 10, full.allocatedBytes() / 10, 3_600_000));
            String rendered = template.render(messages, true, tenth);
            assertEquals(template.render(messages, true), rendered);
            System.out.printf("%s: %d messages of %d chars: %,d steps (%.0f per message), %,d bytes (%.0f per message, %.1f per char)%n",
                    name, shape[0], shape[1], tenth.steps(), tenth.steps() / (double) shape[0], tenth.allocatedBytesSoFar(),
                    tenth.allocatedBytesSoFar() / (double) shape[0], tenth.allocatedBytesSoFar() / (double) chars);
        }
    }

    /** Hostile templates of a few hundred bytes, each of which would run for minutes or fill the heap unbounded. */
    static final Map<String, String> HOSTILE = hostile();

    private static Map<String, String> hostile() {
        Map<String, String> h = new LinkedHashMap<>();
        // 10^9 empty iterations: no node renders in the innermost loop (about 100 s unbounded).
        h.put("nested-loops", "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}");
        // The chat's messages as the outer loop: the same, scaled by the client's chat.
        h.put("loops-over-messages", "{% for m in messages %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}");
        // 24 macros, each calling the one before twice: 2^24 calls (about 10 s per 2^16 unbounded).
        StringBuilder macros = new StringBuilder("{% macro m0() %}{% endmacro %}");
        for (int i = 1; i <= 24; i++) macros.append("{% macro m").append(i).append("() %}{{ m").append(i - 1).append("() }}{{ m").append(i - 1).append("() }}{% endmacro %}");
        h.put("exponential-macros", macros.append("{{ m24() }}").toString());
        // The same through call blocks and caller().
        StringBuilder calls = new StringBuilder("{% macro c0() %}{{ caller() }}{{ caller() }}{% endmacro %}");
        h.put("call-blocks", calls.append("{% for i in range(1000) %}{% for j in range(1000) %}{% call c0() %}x{% endcall %}{% endfor %}{% endfor %}").toString());
        // A 4 M character string (jinjava's string limit) made by doubling, then 1,000 copies kept in a list: 4 GB.
        h.put("memory", "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(19) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
                + "{% set keep = [] %}{% for i in range(1000) %}{% do keep.append(ns.s ~ i) %}{% endfor %}{{ keep|length }}");
        return h;
    }

    /**
     * Each hostile template fails with the one-line TokenizerLimitException naming its file and the
     * limit, on the default budget for a 3-message chat; none is left running.
     */
    @ParameterizedTest
    @ValueSource(strings = {"nested-loops", "loops-over-messages", "exponential-macros", "call-blocks", "memory"})
    void hostileTemplatesPassTheirBudgetAndFail(String name, @TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("tokenizer_config.json"), JSON.writeValueAsString(JSON.createObjectNode().put("chat_template", HOSTILE.get(name))));
        ChatTemplate template = ChatTemplate.load(tmp).orElseThrow();
        long t0 = System.nanoTime();
        TokenizerLimitException e = assertThrows(TokenizerLimitException.class, () -> template.render(chat(3, 20), true));
        System.out.printf("%s: %s (%d ms)%n", name, e.getMessage(), (System.nanoTime() - t0) / 1_000_000);
        assertTrue(e.getMessage().startsWith(tmp.resolve("tokenizer_config.json") + ": chat template exceeds its render budget of "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    /** Each limit on its own, each reached by the template it bounds (the others set out of reach). */
    @Test
    void eachLimitNamesItself(@TempDir Path tmp) throws IOException {
        long none = Long.MAX_VALUE / 4, hour = 3_600_000; // limits out of reach
        // 10,000 iterations of an empty body but only 101 nodes rendered: the iterations are what counts.
        Files.writeString(tmp.resolve("chat_template.jinja"), "{% for a in range(100) %}{% for b in range(100) %}{% endfor %}{% endfor %}");
        ChatTemplate empty = ChatTemplate.load(tmp).orElseThrow();
        TokenizerLimitException steps = assertThrows(TokenizerLimitException.class,
                () -> empty.render(List.of(), true, new RenderBudget(new RenderBudget.Limits(5_000, none, hour))));
        assertEquals(tmp.resolve("chat_template.jinja") + ": chat template exceeds its render budget of 5,000 steps (nodes rendered and loop iterations)", steps.getMessage());
        RenderBudget enough = new RenderBudget(new RenderBudget.Limits(20_000, none, hour));
        assertEquals("", empty.render(List.of(), true, enough));
        assertEquals(1 + 100 + 100 + 100 * 100, enough.steps(), "the outer tag, its 100 iterations, the inner tag 100 times, its 100 x 100 iterations");
        // a rendering after one that failed gets a fresh budget
        assertThrows(TokenizerLimitException.class, () -> empty.render(List.of(), true, new RenderBudget(new RenderBudget.Limits(5_000, none, hour))));
        assertEquals("", empty.render(List.of(), true));

        Files.writeString(tmp.resolve("chat_template.jinja"), HOSTILE.get("nested-loops"));
        ChatTemplate loops = ChatTemplate.load(tmp).orElseThrow();
        TokenizerLimitException time = assertThrows(TokenizerLimitException.class,
                () -> loops.render(List.of(), true, new RenderBudget(new RenderBudget.Limits(none, none, 50))));
        assertEquals(tmp.resolve("chat_template.jinja") + ": chat template exceeds its render budget of 50 ms", time.getMessage());

        Files.writeString(tmp.resolve("chat_template.jinja"), HOSTILE.get("memory"));
        ChatTemplate memory = ChatTemplate.load(tmp).orElseThrow();
        TokenizerLimitException bytes = assertThrows(TokenizerLimitException.class,
                () -> memory.render(List.of(), true, new RenderBudget(new RenderBudget.Limits(none, 64L << 20, hour))));
        assertEquals(tmp.resolve("chat_template.jinja") + ": chat template exceeds its render budget of 64 MB allocated", bytes.getMessage());
    }

    /** Unbounded recursion is jinjava's to refuse (recursive macro calls are off): it renders nothing, at once. */
    @Test
    void recursiveMacroIsRefused(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("chat_template.jinja"), "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}a{{ m(1) }}b");
        assertEquals("ab", ChatTemplate.load(tmp).orElseThrow().render(List.of(), true));
    }
}
