package dev.kvdecode.server;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The server stops a reply at any of the model's eos ids (ModelConfig.eosIds(): config.json and
 * generation_config.json), and a chat reply also at its template's eos_token. The default char
 * model is given two eos ids here: one that its greedy continuation of the prompt emits at token 9
 * and one it never emits; its chat template's eos_token is a character the chat reply emits early.
 */
class ModelEosServerTest {
    static final String PROMPT = "ROMEO:";
    static final String TEMPLATE = "{% for m in messages %}{{ m['role'] | upper }}: {{ m['content'] }}\\n{% endfor %}"
            + "{% if add_generation_prompt %}JULIET:{% endif %}";
    static final String RENDERED = "USER: Speak.\nJULIET:";
    static final int MAX = 30;

    @TempDir static Path dir;
    static Serving serving;
    static OpenAIClient client;
    static int[] plain, chat;   // the greedy replies without any eos
    static int modelEos, templateEos;

    @BeforeAll
    static void start() throws IOException {
        var tok = TestModel.MODEL.tokenizer();
        plain = TestModel.aloneGreedy(tok.encode(PROMPT), MAX, TestModel.MODEL.config().nPositions());
        chat = TestModel.aloneGreedy(tok.encode(RENDERED), MAX, TestModel.MODEL.config().nPositions());
        assertEquals(-1, tok.eosToken(), "the char model has no eos of its own");
        modelEos = plain[9];
        int unused = 0;
        while (contains(plain, unused) || contains(chat, unused)) unused++;
        // the chat's eos_token: the first character of the chat reply, after its second, that is not the model's eos
        int i = 2;
        while (chat[i] == modelEos) i++;
        templateEos = chat[i];
        ModelConfig c = TestModel.MODEL.config();
        ModelConfig withEos = new ModelConfig(c.architecture(), c.nLayer(), c.nEmbd(), c.nPositions(), c.vocabSize(),
                c.norm(), c.positions(), c.attention(), c.mlp(), c.tiedHead(), c.headBias(), c.tokenizer(), c.bosId(),
                List.of(unused, modelEos));
        Model model = new Model(TestModel.MODEL.name(), withEos, TestModel.MODEL.weights(), tok);

        String eosText = tok.decode(new int[] {templateEos}).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"chat_template\": \"" + TEMPLATE + "\", \"eos_token\": \"" + eosText + "\"}");
        serving = Serving.listen(new OpenAiServer.Config("127.0.0.1", 0, null, 64 * 1024));
        serving.load(model, TestModel.BACKEND, 2, model.config().nPositions(), 4, ChatFormatter.forModel(dir));
        client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + serving.port() + "/v1")
                .apiKey("unused").maxRetries(0).build();
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        serving.shutdown(5000);
    }

    @Test
    void completionStopsAtTheModelsEos() {
        Completion c = client.completions().create(CompletionCreateParams.builder().model(TestModel.MODEL.name())
                .prompt(PROMPT).maxTokens(MAX).temperature(0.0).build());
        CompletionChoice choice = c.choices().get(0);
        assertEquals(TestModel.MODEL.tokenizer().decode(upTo(plain, modelEos)), choice.text());
        assertEquals(CompletionChoice.FinishReason.STOP, choice.finishReason());
    }

    @Test
    void chatStopsAtTheTemplatesEosToo() {
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder()
                .model(TestModel.MODEL.name()).addUserMessage("Speak.").maxCompletionTokens(MAX).temperature(0.0).build());
        int[] want = upTo(upTo(chat, modelEos), templateEos);
        assertTrue(want.length < MAX, "the reference reply ends at an eos");
        assertEquals(TestModel.MODEL.tokenizer().decode(want), c.choices().get(0).message().content().orElseThrow());
        assertEquals(ChatCompletion.Choice.FinishReason.STOP, c.choices().get(0).finishReason());
    }

    /** The tokens before the first {@code eos}. */
    private static int[] upTo(int[] tokens, int eos) {
        int n = 0;
        while (n < tokens.length && tokens[n] != eos) n++;
        return Arrays.copyOf(tokens, n);
    }

    private static boolean contains(int[] a, int v) {
        for (int x : a) if (x == v) return true;
        return false;
    }
}
