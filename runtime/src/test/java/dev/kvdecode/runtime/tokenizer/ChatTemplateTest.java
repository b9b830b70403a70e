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
import java.util.List;

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
     * output that would fill the heap is a one-line TokenizerException (issue 16). Loops nested
     * over range() without output are NOT bounded yet (docs/FUZZING.md).
     */
    @Test
    void hugeOutputIsBounded(@TempDir Path tmp) throws IOException {
        String big = "{% for a in range(9000) %}{% for b in range(9000) %}{{ 'xxxxxxxx' }}{% endfor %}{% endfor %}";
        Files.writeString(tmp.resolve("tokenizer_config.json"), JSON.writeValueAsString(JSON.createObjectNode().put("chat_template", big)));
        TokenizerException e = assertThrows(TokenizerException.class, () -> ChatTemplate.load(tmp).orElseThrow().render(List.of(), false));
        assertTrue(e.getMessage().startsWith(tmp.resolve("tokenizer_config.json") + ": chat template does not render"), e.getMessage());
    }
}
