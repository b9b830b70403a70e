package dev.kvdecode.server;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.BadRequestException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * /v1/chat/completions with a model that has a chat template: the server renders it through the
 * runtime's ChatTemplate (tokenizer_config.json's chat_template, Jinja), and the reply equals the
 * greedy continuation of the rendered text decoded alone. The default char model gets a small
 * template written here (its characters are all in the char vocabulary).
 */
class ChatTemplateServerTest {
    static final String TEMPLATE = "{% for m in messages %}{% if m['role'] == 'tool' %}"
            + "{{ raise_exception('tool messages are not supported') }}{% endif %}"
            + "{{ m['role'] | upper }}: {{ m['content'] | trim }}\\n{% endfor %}"
            + "{% if add_generation_prompt %}ROMEO:{% endif %}";

    @TempDir static Path dir;
    static Serving serving;
    static OpenAIClient client;

    @BeforeAll
    static void start() throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": \"" + TEMPLATE + "\"}");
        ChatFormatter chat = ChatFormatter.forModel(dir);
        serving = Serving.listen(new OpenAiServer.Config("127.0.0.1", 0, null, 64 * 1024));
        serving.load(TestModel.MODEL, TestModel.BACKEND, 2, TestModel.MODEL.config().nPositions(), 4, chat);
        client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + serving.port() + "/v1")
                .apiKey("unused").maxRetries(0).build();
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        serving.shutdown(5000);
    }

    @Test
    void chatRendersTheTemplateAndContinuesIt() {
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder()
                .model(TestModel.MODEL.name()).addSystemMessage("Speak plainly.").addUserMessage("  Who is there?")
                .maxCompletionTokens(20).temperature(0.0).build());
        String rendered = "SYSTEM: Speak plainly.\nUSER: Who is there?\nROMEO:";
        assertEquals(TestModel.aloneGreedyText(rendered, 20), c.choices().get(0).message().content().orElseThrow());
        assertEquals(TestModel.MODEL.tokenizer().encode(rendered).length, c.usage().orElseThrow().promptTokens());
    }

    @Test
    void aTemplatesRaiseExceptionIs400NamingMessages() {
        var params = ChatCompletionCreateParams.builder().model(TestModel.MODEL.name())
                .addUserMessage("hi").addMessage(com.openai.models.chat.completions.ChatCompletionToolMessageParam.builder()
                        .toolCallId("x").content("result").build()).maxCompletionTokens(4).build();
        BadRequestException e = assertThrows(BadRequestException.class, () -> client.chat().completions().create(params));
        assertEquals("messages", e.param().orElse(null));
        assertTrue(e.getMessage().contains("tool messages are not supported"), e.getMessage());
    }
}
