package dev.kvdecode.server;

import dev.kvdecode.runtime.tokenizer.ChatMessage;
import dev.kvdecode.runtime.tokenizer.ChatTemplate;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Turns chat messages into the prompt text of the served model (its chat template), or says the
 * model has none (then /v1/chat/completions answers 400 "model has no chat template").
 */
interface ChatFormatter {
    /** One message of a chat. */
    record Message(String role, String content) {}

    /** The prompt for these messages, ending where the assistant's reply starts; empty without a template. */
    Optional<String> render(List<Message> messages);

    /** The template's eos_token (tokenizer_config.json), where a chat reply also ends; null if none. */
    default String eosToken() { return null; }

    /** The served model has no chat template (the default char model and GPT-2 have none). */
    ChatFormatter NONE = messages -> Optional.empty();

    /**
     * The chat formatter of the model in {@code modelDir}: its {@link ChatTemplate}
     * ({@code chat_template} of tokenizer_config.json, or chat_template.jinja), or {@link #NONE}.
     * A template that refuses the messages (its {@code raise_exception}) throws
     * {@link dev.kvdecode.runtime.tokenizer.TokenizerException}, which the server answers with a 400
     * naming {@code messages}.
     */
    static ChatFormatter forModel(Path modelDir) {
        if (modelDir == null) return NONE;
        return ChatTemplate.load(modelDir).<ChatFormatter>map(t -> new ChatFormatter() {
            @Override
            public Optional<String> render(List<Message> messages) {
                return Optional.of(t.render(messages.stream().map(m -> new ChatMessage(m.role(), m.content())).toList(), true));
            }

            @Override
            public String eosToken() { return t.eosToken(); }
        }).orElse(NONE);
    }
}
