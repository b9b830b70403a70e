package dev.kvdecode.runtime.tokenizer;

import java.util.Objects;

/** One turn of a chat, as chat templates see it: {@code {"role": ..., "content": ...}}. */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }
}
