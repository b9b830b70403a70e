package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;

/** The committed GPT-2 tokenizer fixtures (scripts/reference/make_tokenizer_fixtures.py). */
final class Fixtures {
    private Fixtures() {}

    static Path gpt2Dir() {
        try {
            return Path.of(Fixtures.class.getResource("/gpt2-tokenizer/vocab.json").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static JsonNode json(String name) {
        try {
            return new ObjectMapper().readTree(gpt2Dir().resolve(name).toFile());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }
}
