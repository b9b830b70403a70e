package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The real Llama 3, Llama 2 and Qwen3 tokenizer folders that scripts/fetch-test-fixtures.sh
 * fetched (Maven's generate-test-resources) and listed in target/test-fixtures, and the ids HF
 * gave for them (scripts/reference/make_hf_tokenizer_fixtures.py). A failed or missing fetch
 * fails the calling test with the fetch's one-line reason: it never skips.
 */
public final class RealTokenizers {
    static final String[] NAMES = {"llama3", "llama2", "qwen3"};
    private static final Path LIST = Path.of("target/test-fixtures/tokenizers.properties");
    private static Properties dirs;
    private static JsonNode expected;
    private static final java.util.Map<String, HfTokenizer> LOADED = new java.util.HashMap<>();

    private RealTokenizers() {}

    public static synchronized Path dir(String name) {
        if (dirs == null) {
            if (!Files.isRegularFile(LIST)) fail(LIST.toAbsolutePath() + " is missing: run the build through Maven (generate-test-resources runs scripts/fetch-test-fixtures.sh)");
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(LIST)) {
                p.load(r);
            } catch (IOException e) {
                fail("cannot read " + LIST + ": " + e);
            }
            dirs = p;
        }
        if (dirs.containsKey("error")) fail("tokenizer fixtures were not fetched: " + dirs.getProperty("error"));
        String d = dirs.getProperty(name);
        if (d == null || !Files.isRegularFile(Path.of(d, "tokenizer.json"))) fail(name + ": no tokenizer.json listed in " + LIST + " (" + d + ")");
        return Path.of(d);
    }

    /** The real tokenizer, loaded once per test JVM (a Llama 3 tokenizer.json is 9 MB of JSON). */
    static synchronized HfTokenizer tokenizer(String name) {
        return LOADED.computeIfAbsent(name, n -> HfTokenizer.fromModelDir(dir(n)));
    }

    /** fixtures.json's object for one tokenizer: cases, no_special_first8, chat. */
    public static synchronized JsonNode expected(String name) {
        if (expected == null) {
            try (var in = RealTokenizers.class.getResourceAsStream("/hf-tokenizers/fixtures.json")) {
                expected = new ObjectMapper().readTree(in);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        return expected.get(name);
    }
}
