package dev.kvdecode.runtime.cli;

import dev.kvdecode.runtime.model.FixtureLogits;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static dev.kvdecode.runtime.cli.CliTest.CHAR;
import static dev.kvdecode.runtime.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 21: every numeric flag of generate and eval over 0, -1, 1, Integer.MAX_VALUE, just past
 * the model's limits (the char fixture: n_positions 32, vocabulary 65, this machine's processors)
 * and sizes whose products overflow an int (batch x 4C, batch x V, ...). Each run either succeeds
 * or ends with exit 2, exactly one stderr line naming the flag, nothing on stdout. Cases that
 * must succeed or must fail say so, so the sweep can fail both ways. In-process through picocli.
 */
class HostileFlagsTest {
    enum Expect { RUN, ERROR, EITHER }

    record Case(String command, String flag, String value, Expect expect) {
        @Override
        public String toString() { return command + " " + flag + " " + value; }
    }

    static final int CORES = Runtime.getRuntime().availableProcessors();
    static final String MAX = Integer.toString(Integer.MAX_VALUE);

    @TempDir static Path dir;
    static Path text;

    @BeforeAll
    static void writeText() throws IOException {
        text = dir.resolve("heldout.txt");
        Files.writeString(text, "First Citizen:\nBefore we proceed any further, hear me speak.\n");
    }

    /** The values every numeric flag gets, with what a flag of this kind must do with them. */
    static void sweep(List<Case> out, String command, String flag, Expect zero, Expect minusOne, Expect one, Expect max,
                      String... more) {
        out.add(new Case(command, flag, "0", zero));
        out.add(new Case(command, flag, "-1", minusOne));
        out.add(new Case(command, flag, "1", one));
        out.add(new Case(command, flag, MAX, max));
        out.add(new Case(command, flag, "2147483648", Expect.ERROR));            // not an int at all
        out.add(new Case(command, flag, "-2147483649", Expect.ERROR));
        for (int i = 0; i < more.length; i += 2) out.add(new Case(command, flag, more[i], Expect.valueOf(more[i + 1])));
    }

    static Stream<Case> cases() {
        List<Case> c = new ArrayList<>();
        Expect R = Expect.RUN, E = Expect.ERROR;
        String threadsPastCores = Integer.toString(CORES + 1);
        // generate: --overflow stop and a one-character prompt, so every run ends by the window (32 tokens)
        sweep(c, "generate", "--max-new-tokens", E, E, R, R, "16777216", "RUN", "33", "RUN");
        sweep(c, "generate", "--batch", E, E, R, E,
                "16777216", "ERROR",      // x 4C = 2^31: the MLP buffer's int size overflows
                "33554432", "ERROR",      // x V = 2^31 + ...: the logits
                "1000000", "ERROR",       // ~40 GB of KV cache and buffers on any test heap
                "3", "RUN");
        sweep(c, "generate", "--context", E, E, R, E, "33", "ERROR", "32", "RUN");
        sweep(c, "generate", "--threads", R, E, R, E, threadsPastCores, "ERROR", "100000", "ERROR");
        sweep(c, "generate", "--top-k", R, E, R, R, "66", "RUN", "65", "RUN");
        sweep(c, "generate", "--seed", R, R, R, R);
        c.removeIf(x -> x.flag().equals("--seed") && x.value().startsWith("2147483648"));   // a long: both parse
        c.removeIf(x -> x.flag().equals("--seed") && x.value().equals("-2147483649"));
        c.add(new Case("generate", "--seed", "9223372036854775808", E));
        sweep(c, "generate", "--temperature", R, E, R, R);
        c.removeIf(x -> x.flag().equals("--temperature") && (x.value().equals("2147483648") || x.value().equals("-2147483649")));
        c.add(new Case("generate", "--temperature", "NaN", E));
        sweep(c, "generate", "--top-p", E, E, R, E);
        c.removeIf(x -> x.flag().equals("--top-p") && (x.value().equals("2147483648") || x.value().equals("-2147483649")));
        // eval
        sweep(c, "eval", "--context", E, E, R, E, "33", "ERROR", "32", "RUN");
        sweep(c, "eval", "--max-tokens", E, E, E, R, "2", "RUN");
        sweep(c, "eval", "--threads", R, E, R, E, threadsPastCores, "ERROR");
        return c.stream();
    }

    static String[] args(Case k) {
        List<String> a = new ArrayList<>(List.of(k.command(), "--model", CHAR.toString(), "--backend", "cpu"));
        if (k.command().equals("generate")) {
            a.addAll(List.of("--prompt", "F", "--overflow", "stop"));
            if (!k.flag().equals("--max-new-tokens")) a.addAll(List.of("--max-new-tokens", "4"));
            if (!k.flag().equals("--temperature")) a.add("--greedy");
        } else {
            a.addAll(List.of("--text-file", text.toString()));
        }
        a.add(k.flag());
        a.add(k.value());
        return a.toArray(String[]::new);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void runsOrEndsInOneLine(Case k) {
        CliTest.Run r = run(args(k));
        if (r.exitCode() == 0) {
            assertNotEquals(Expect.ERROR, k.expect(), () -> k + " must be refused; it ran. stderr: " + r.err());
            return;
        }
        assertNotEquals(Expect.RUN, k.expect(), () -> k + " must run; stderr: " + r.err());
        assertEquals(2, r.exitCode(), () -> k + ": exit code; stderr: " + r.err());
        assertEquals("", r.out(), () -> k + ": nothing on stdout");
        List<String> lines = r.err().strip().lines().toList();
        assertEquals(1, lines.size(), () -> k + ": one stderr line, got:\n" + r.err());
        String line = lines.get(0);
        assertTrue(line.startsWith("kvdecode: "), line);
        assertFalse(line.contains("Exception") || line.contains("\tat "), line);
        assertTrue(line.contains(k.flag()), () -> k + ": the line must name " + k.flag() + ": " + line);
    }

    /** The first command: the size is refused before anything is allocated, naming what fits. */
    @Test
    void hugeBatchNamesWhatFits() {
        // --backend auto, as the issue typed it: its notice (CPU fallback) is held back, the error is the one line
        CliTest.Run r = run("generate", "--model", CHAR.toString(), "--max-new-tokens", "5", "--batch", "100000000");
        CliTest.assertUsageError(r, "--batch 100000000");
        assertTrue(r.err().contains("at most") || r.err().contains("about"), r.err());
        assertEquals("", r.out());
    }

    /**
     * The CUDA path checks the device's free memory (cuMemGetInfo; the emulator reports a 16 GiB
     * device) before it uploads or allocates anything: 10^6 sequences of the fixture need ~30 GiB.
     */
    @Test
    void deviceMemoryIsCheckedBeforeAllocating() {
        CliTest.Run r = run("generate", "--model", CHAR.toString(), "--backend", "cuda-emu", "--max-new-tokens", "5",
                "--batch", "1000000");
        assertEquals(2, r.exitCode(), r.err());
        assertEquals("", r.out());
        List<String> lines = r.err().strip().lines().toList();   // cuda-emu's notice is held back
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("kvdecode: --batch 1000000 --context 32: the CUDA session"), lines.get(0));
        assertTrue(lines.get(0).contains("of device memory needed") && lines.get(0).contains("free of 16.00 GiB")
                && lines.get(0).contains("fit with --context 32"), lines.get(0));
    }

    /** The second command: an error, no thread is started (checked before the backend opens). */
    @Test
    void threadsAboveTheProcessorsAreAnError() {
        int before = Thread.activeCount();
        CliTest.Run r = run("generate", "--model", CHAR.toString(), "--backend", "cpu", "--max-new-tokens", "5",
                "--threads", "100000");
        CliTest.assertUsageError(r, "--threads: must be in 0.." + CORES);
        assertEquals("", r.out());
        assertTrue(Thread.activeCount() < before + 50, "threads started: " + (Thread.activeCount() - before));
    }

    /** A GPT-2 model folder that convert --to gguf accepts (the gpt2-tiny fixture with GPT-2's tokenizer files). */
    static Path gpt2Model() throws IOException {
        Path m = dir.resolve("gpt2-tiny-bpe");
        if (Files.isDirectory(m)) return m;
        Files.createDirectories(m);
        Path fx = FixtureLogits.dir("gpt2-tiny"), tok = fx.getParent().getParent().resolve("gpt2-tokenizer");
        for (String f : new String[] {"config.json", "model.safetensors"}) Files.copy(fx.resolve(f), m.resolve(f));
        for (String f : new String[] {"vocab.json", "merges.txt"}) Files.copy(tok.resolve(f), m.resolve(f));
        return m;
    }

    static CliTest.Run convert(Path out) throws IOException {
        return run("convert", "--to", "gguf", "--model", gpt2Model().toString(), "--out", out.toString());
    }

    /** No file but the ones a test put there: nothing named like the target, no temporary .part files. */
    static void assertNothingLeft(Path folder, List<String> expected) throws IOException {
        if (!Files.isDirectory(folder)) return;
        try (Stream<Path> files = Files.list(folder)) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(expected, names, "files left in " + folder);
        }
    }

    /**
     * convert --to gguf's output path, checked before the model is read: an existing regular file
     * is replaced atomically; a folder, a path below a file, a missing folder or one that cannot be
     * written is one line naming --out, and nothing is left behind.
     */
    @Test
    void convertOutputPaths() throws IOException {
        Path outs = Files.createDirectories(dir.resolve("convert-out"));
        Path existing = outs.resolve("existing.gguf");
        Files.writeString(existing, "old contents");
        CliTest.Run ok = convert(existing);
        assertEquals(0, ok.exitCode(), ok.err());
        assertEquals("", ok.err());
        assertEquals(1, ok.out().strip().lines().count(), ok.out());
        byte[] head = Arrays.copyOf(Files.readAllBytes(existing), 4);
        assertArrayEquals("GGUF".getBytes(java.nio.charset.StandardCharsets.US_ASCII), head, "replaced by a GGUF file");
        assertNothingLeft(outs, List.of("existing.gguf"));

        Path folder = Files.createDirectories(outs.resolve("a-folder.gguf"));
        CliTest.assertUsageError(convert(folder), "--out " + folder + ": is a directory");
        CliTest.assertUsageError(convert(existing.resolve("below-a-file.gguf")), "--out " + existing.resolve("below-a-file.gguf"));
        CliTest.assertUsageError(convert(outs.resolve("no/such/folder/x.gguf")), "the folder does not exist");
        assertNothingLeft(outs, List.of("a-folder.gguf", "existing.gguf"));
        assertNothingLeft(folder, List.of());

        // a folder that cannot be written: read-only for a user; as root (which may write anyway) /proc
        Path locked = Files.createDirectories(outs.resolve("locked"));
        Set<PosixFilePermission> before = Files.getPosixFilePermissions(locked);
        Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            Path target = Files.isWritable(locked) ? Path.of("/proc/kvdecode-convert-test.gguf") : locked.resolve("x.gguf");
            CliTest.Run r = convert(target);
            CliTest.assertUsageError(r, "--out " + target);
            assertEquals("", r.out());
            assertFalse(Files.exists(target), "no partial output");
            assertNothingLeft(locked, List.of());
        } finally {
            Files.setPosixFilePermissions(locked, before);
        }
    }
}
