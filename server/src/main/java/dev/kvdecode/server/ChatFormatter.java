package dev.kvdecode.server;

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

    /** The served model has no chat template (the default char model and GPT-2 have none). */
    ChatFormatter NONE = messages -> Optional.empty();

    /**
     * The chat formatter of the model in {@code modelDir}. The only place where a model's chat
     * template joins the server: until the runtime reads templates (the Llama-family issue's
     * ChatTemplate), every model has none.
     */
    static ChatFormatter forModel(Path modelDir) {
        return NONE;
    }
}
