package dev.kvdecode.runtime.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** The CLI end to end: every bad input is one line on stderr naming the flag or file, exit code 2. */
class CliTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");
    static final Path CHAR = FIXTURES.resolve("char-tiny");

    record Run(int exitCode, String out, String err) {}

    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    static void assertUsageError(Run r, String expectedFragment) {
        assertEquals(2, r.exitCode(), () -> "exit code; stderr: " + r.err());
        String err = r.err().strip();
        assertFalse(err.contains("\n"), () -> "error must be one line, got:\n" + err);
        assertFalse(err.contains("Exception") || err.contains("\tat "), () -> "no stack trace: " + err);
        assertTrue(err.startsWith("kvdecode: "), err);
        assertTrue(err.contains(expectedFragment), () -> "expected '" + expectedFragment + "' in: " + err);
    }

    /** A copy of the char fixture model that a test may damage. */
    static Path copyModel(Path src, Path dir) throws IOException {
        Path dst = dir.resolve(src.getFileName());
        Files.createDirectories(dst);
        try (Stream<Path> files = Files.list(src)) {
            for (Path f : files.toList()) Files.copy(f, dst.resolve(f.getFileName()));
        }
        return dst;
    }

    @Test
    void greedyJsonIsOneObjectAndCacheOnEqualsOff() throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        List<List<Integer>> tokens = new ArrayList<>();
        for (String cache : new String[] {"on", "off"}) {
            Run r = run("generate", "--model", CHAR.toString(), "--prompt", "First Citizen:", "--max-new-tokens", "25",
                    "--greedy", "--kv-cache", cache, "--backend", "cpu", "--json");
            assertEquals(0, r.exitCode(), r.err());
            String[] lines = r.out().strip().split("\n");
            assertEquals(1, lines.length, "exactly one JSON object on stdout");
            JsonNode o = mapper.readTree(lines[0]);
            for (String key : new String[] {"model", "backend", "kv_cache", "prompt_tokens", "tokens", "text", "prefill_ms", "decode_ms", "tokens_per_s"})
                assertTrue(o.has(key), "missing key " + key);
            assertEquals(cache, o.get("kv_cache").asText());
            assertEquals(25, o.get("tokens").size());
            List<Integer> ids = new ArrayList<>();
            o.get("tokens").forEach(n -> ids.add(n.asInt()));
            tokens.add(ids);
        }
        assertEquals(tokens.get(0), tokens.get(1), "greedy tokens with --kv-cache on and off");
    }

    /** slide past the window: greedy tokens with and without the cache stay identical (both re-encode the same windows). */
    @Test
    void slideKeepsCachedEqualToRecomputedPastTheWindow() throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        List<JsonNode> tokens = new ArrayList<>();
        for (String cache : new String[] {"on", "off"}) {
            Run r = run("generate", "--model", CHAR.toString(), "--prompt", "First Citizen:", "--max-new-tokens", "80",
                    "--greedy", "--kv-cache", cache, "--context", "20", "--overflow", "slide", "--backend", "cpu", "--json");
            assertEquals(0, r.exitCode(), r.err());
            JsonNode o = mapper.readTree(r.out());
            assertEquals(80, o.get("tokens").size(), "slide never stops at the window");
            tokens.add(o.get("tokens"));
        }
        assertEquals(tokens.get(0), tokens.get(1));
    }

    @Test
    void stopEndsAtTheWindow() throws Exception {
        Run r = run("generate", "--model", CHAR.toString(), "--prompt", "First", "--max-new-tokens", "80",
                "--greedy", "--context", "20", "--overflow", "stop", "--backend", "cpu", "--json");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode o = new ObjectMapper().readTree(r.out());
        assertEquals("context_full", o.get("stop_reason").asText());
        assertEquals(16, o.get("tokens").size(), "5 prompt tokens + 15 fed tokens fill 20 slots; the 16th is sampled, never fed");
    }

    /** --dtype fp16|bf16|int8 runs on the CPU (reduced-precision matmul weights). */
    @Test
    void cpuRunsWithReducedPrecisionWeights() throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        for (String dtype : new String[] {"fp16", "bf16", "int8"}) {
            Run r = run("generate", "--model", CHAR.toString(), "--prompt", "First Citizen:", "--max-new-tokens", "5",
                    "--greedy", "--backend", "cpu", "--dtype", dtype, "--json");
            assertEquals(0, r.exitCode(), dtype + ": " + r.err());
            assertEquals(5, mapper.readTree(r.out().strip()).get("tokens").size(), dtype);
        }
    }

    @Test
    void streamsPromptAndText() {
        Run r = run("generate", "--model", CHAR.toString(), "--prompt", "ROMEO:", "--max-new-tokens", "10", "--seed", "3");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().startsWith("ROMEO:"), r.out());
        assertEquals("ROMEO:".length() + 10 + 1, r.out().length(), "prompt + 10 chars + newline: " + r.out());
    }

    @Test
    void tokenizePrintsIds() {
        Run r = run("tokenize", "--model", CHAR.toString(), "--text", "First");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals("18 47 56 57 58", r.out().strip());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--max-new-tokens|0|--max-new-tokens: must be >= 1",
            "--max-new-tokens|-5|--max-new-tokens: must be >= 1",
            "--temperature|-0.5|--temperature: must be >= 0",
            "--top-p|0|--top-p: must be in (0, 1]",
            "--top-p|1.5|--top-p: must be in (0, 1]",
            "--top-k|-1|--top-k: must be >= 0",
            "--kv-cache|maybe|--kv-cache: expected on or off",
            "--overflow|wrap|--overflow: expected slide, shift, ring or stop",
            "--backend|tpu|--backend: unknown backend 'tpu'",
            "--context|0|--context: must be in 1..32",
            "--context|33|--context: must be in 1..32",
            "--max-new-tokens|abc|Invalid value for option '--max-new-tokens'",
            "--dtype|fp8|--dtype: expected fp32, fp16, bf16 or int8 (CPU only), got 'fp8'",
            "--kv-dtype|int8|--kv-dtype: expected fp32 or bf16, got 'int8'",
    })
    void badFlags(String flag, String value, String message) {
        assertUsageError(run("generate", "--model", CHAR.toString(), flag, value), message);
    }

    /** --kv-dtype bf16 on the CPU: runs, and with the cache on and off gives the same greedy tokens. */
    @Test
    void bf16KvCacheRunsAndCacheOnEqualsOff() throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        List<JsonNode> tokens = new ArrayList<>();
        for (String cache : new String[] {"on", "off"}) {
            Run r = run("generate", "--model", CHAR.toString(), "--prompt", "First Citizen:", "--max-new-tokens", "12",
                    "--greedy", "--backend", "cpu", "--kv-dtype", "bf16", "--kv-cache", cache, "--json");
            assertEquals(0, r.exitCode(), r.err());
            tokens.add(mapper.readTree(r.out().strip()).get("tokens"));
        }
        assertEquals(tokens.get(0), tokens.get(1));
        assertEquals(12, tokens.get(0).size());
        // CUDA keeps its cache in --dtype
        assertUsageError(run("generate", "--model", CHAR.toString(), "--backend", "cuda-emu", "--kv-dtype", "bf16"),
                "--kv-dtype: the cuda-emu backend keeps its KV cache in --dtype (fp32)");
    }

    /** int8 weights are CPU-only: asking the CUDA backends for them is a usage error, not a fallback. */
    @Test
    void int8OnCudaIsAUsageError() {
        for (String backend : new String[] {"cuda", "cuda-emu"})
            assertUsageError(run("generate", "--model", CHAR.toString(), "--backend", backend, "--dtype", "int8"),
                    "--dtype int8: int8 weights are CPU-only; use --backend cpu");
    }

    /** The char model has no tokenizer_config.json, so no chat template. */
    @Test
    void chatWithoutTemplate() {
        assertUsageError(run("generate", "--model", CHAR.toString(), "--chat", "--prompt", "Hi"),
                "--chat: " + CHAR + " has no chat template (chat_template in tokenizer_config.json, or chat_template.jinja)");
        assertUsageError(run("generate", "--model", CHAR.toString(), "--system", "Be brief", "--prompt", "Hi"), "--system: needs --chat");
        assertUsageError(run("generate", "--model", CHAR.toString(), "--chat"), "--chat: needs a --prompt");
    }

    /** A chat template that runs away (10^9 loop iterations) is a one-line error naming it and the limit, exit 2. */
    @Test
    void runawayChatTemplate(@TempDir Path tmp) throws IOException {
        Path model = copyModel(CHAR, tmp);
        Files.writeString(model.resolve("chat_template.jinja"),
                "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}");
        assertUsageError(run("generate", "--model", model.toString(), "--chat", "--prompt", "Hi"),
                model.resolve("chat_template.jinja") + ": chat template exceeds its render budget of ");
    }

    @Test
    void emptyPrompt() {
        assertUsageError(run("generate", "--model", CHAR.toString(), "--prompt", ""), "--prompt: must not be empty");
    }

    @Test
    void unknownCharacter() {
        assertUsageError(run("generate", "--model", CHAR.toString(), "--prompt", "café"),
                "character 'é' (U+00E9) is not in the model's vocabulary (chars.json)");
    }

    @Test
    void promptLongerThanContextWithStop() {
        assertUsageError(run("generate", "--model", CHAR.toString(), "--prompt", "First Citizen: Before we proceed",
                "--context", "8", "--overflow", "stop"), "do not fit the context of 8 with --overflow stop");
    }

    @Test
    void missingModelDirectory(@TempDir Path tmp) {
        assertUsageError(run("generate", "--model", tmp.resolve("nope").toString()), "--model " + tmp.resolve("nope") + ": model directory does not exist");
    }

    @Test
    void configWithoutRequiredKey(@TempDir Path tmp) throws IOException {
        Path m = copyModel(CHAR, tmp);
        String cfg = Files.readString(m.resolve("config.json")).replaceAll("\"n_head\"\\s*:\\s*\\d+\\s*,?", "");
        Files.writeString(m.resolve("config.json"), cfg);
        assertUsageError(run("generate", "--model", m.toString()), "config.json: missing required key \"n_head\"");
    }

    @Test
    void badHeaderLength(@TempDir Path tmp) throws IOException {
        Path m = copyModel(CHAR, tmp);
        Path st = m.resolve("model.safetensors");
        try (FileChannel ch = FileChannel.open(st, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 99_999_999_999L), 0);
        }
        assertUsageError(run("generate", "--model", m.toString()), "model.safetensors: header length");
    }

    @Test
    void unknownDtype(@TempDir Path tmp) throws IOException {
        Path m = copyModel(CHAR, tmp);
        rewriteHeader(m.resolve("model.safetensors"), h -> h.replaceFirst("\"F32\"", "\"I64\""));
        assertUsageError(run("generate", "--model", m.toString()), "I64");
    }

    @Test
    void shapeDisagreesWithConfig(@TempDir Path tmp) throws IOException {
        Path m = copyModel(CHAR, tmp);
        String cfg = Files.readString(m.resolve("config.json")).replaceFirst("\"n_embd\"\\s*:\\s*32", "\"n_embd\": 16");
        Files.writeString(m.resolve("config.json"), cfg);
        assertUsageError(run("generate", "--model", m.toString()), "expected");
    }

    @Test
    void truncatedFile(@TempDir Path tmp) throws IOException {
        Path m = copyModel(CHAR, tmp);
        Path st = m.resolve("model.safetensors");
        try (FileChannel ch = FileChannel.open(st, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 100);
        }
        assertUsageError(run("generate", "--model", m.toString()), "model.safetensors");
    }

    @Test
    void evalScoresText(@TempDir Path tmp) throws IOException {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "First Citizen:\nBefore we proceed any further, hear me speak.\n");
        Run r = run("eval", "--model", CHAR.toString(), "--text-file", text.toString(), "--json");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("\"mean_cross_entropy_nats\""), r.out());
        assertUsageError(run("eval", "--model", CHAR.toString(), "--text-file", tmp.resolve("missing.txt").toString()),
                "--text-file " + tmp.resolve("missing.txt") + ": no such file");
    }

    /** Rewrites the JSON header of a safetensors file, padding with spaces to keep its length. */
    static void rewriteHeader(Path file, java.util.function.UnaryOperator<String> edit) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        String edited = edit.apply(header);
        byte[] eb = edited.getBytes(StandardCharsets.UTF_8);
        assertTrue(eb.length <= n, "edit must not grow the header");
        byte[] padded = new byte[(int) n];
        java.util.Arrays.fill(padded, (byte) ' ');
        System.arraycopy(eb, 0, padded, 0, eb.length);
        System.arraycopy(padded, 0, all, 8, (int) n);
        Files.write(file, all);
    }
}
