package dev.kvdecode.server;

import dev.kvdecode.runtime.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 21 for {@code kvdecode serve}: every numeric flag over 0, -1, 1, Integer.MAX_VALUE, values
 * that are not an int, just past the limits (the char-tiny fixture: n_positions 32) and slot counts
 * whose KV cache overflows an int or the heap (the default model: 2 MiB of KV cache per slot).
 * Each run either starts the server (stopped at once: the command's stop latch is already counted
 * down) or ends with exit 2, exactly one stderr line naming the flag, nothing on stdout. Cases that
 * must start or must fail say so, so the sweep can fail both ways. In-process through picocli.
 */
class ServeHostileFlagsTest {
    enum Expect { RUN, ERROR, EITHER }

    record Case(String model, String flag, String value, Expect expect) {
        @Override
        public String toString() { return flag + " " + value + " (" + Path.of(model).getFileName() + ")"; }
    }

    static final String TINY = Path.of("..", "runtime", "src", "test", "resources", "fixtures", "char-tiny").toString();
    static final String DEFAULT = Path.of("..", "models", "shakespeare-char").toString();
    static final String MAX = Integer.toString(Integer.MAX_VALUE);
    static final int CORES = Runtime.getRuntime().availableProcessors();

    record Run(int exitCode, String out, String err) {}

    /** serve with these arguments; a server that starts is stopped (drained) as soon as it serves. */
    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Main.commandLine();
        CommandLine serve = cl.getSubcommands().get("serve");
        ((ServeCommand) serve.getCommand()).stop = new CountDownLatch(0);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    static void sweep(List<Case> out, String model, String flag, Expect zero, Expect minusOne, Expect one, Expect max,
                      String... more) {
        out.add(new Case(model, flag, "0", zero));
        out.add(new Case(model, flag, "-1", minusOne));
        out.add(new Case(model, flag, "1", one));
        out.add(new Case(model, flag, MAX, max));
        out.add(new Case(model, flag, "2147483648", Expect.ERROR));   // not an int
        out.add(new Case(model, flag, "-2147483649", Expect.ERROR));
        for (int i = 0; i < more.length; i += 2) out.add(new Case(model, flag, more[i], Expect.valueOf(more[i + 1])));
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    static Stream<Case> cases() {
        List<Case> c = new ArrayList<>();
        Expect R = Expect.RUN, E = Expect.ERROR, EITHER = Expect.EITHER;
        // port 1 is privileged: refused (one line) unless the tests run as root
        sweep(c, TINY, "--port", R, E, EITHER, E, "65536", "ERROR", Integer.toString(freePort()), "RUN");
        sweep(c, TINY, "--max-batch", E, E, R, E, "33", "RUN", "1024", "RUN");
        sweep(c, TINY, "--prefill-chunk", R, E, R, R);
        // the default model: 4 layers x 2 x 256 positions x 256 x 4 bytes = 2 MiB of KV cache per slot
        sweep(c, DEFAULT, "--max-batch", E, E, R, E,
                "16777216", "ERROR",     // 32 TiB; slots x 4C overflows an int
                "33554432", "ERROR",     // slots x V overflows an int too
                "1000000", "ERROR");     // ~2 TB on any test heap
        sweep(c, TINY, "--max-queue", E, E, R, R);
        sweep(c, TINY, "--context", E, E, R, E, "33", "ERROR", "32", "RUN");
        sweep(c, TINY, "--max-body-bytes", E, E, E, R, "1023", "ERROR", "1024", "RUN");
        c.removeIf(x -> x.flag().equals("--max-body-bytes") && x.value().startsWith("2147483648"));   // a long: both parse
        c.removeIf(x -> x.flag().equals("--max-body-bytes") && x.value().equals("-2147483649"));
        c.add(new Case(TINY, "--max-body-bytes", "2147483648", R));
        c.add(new Case(TINY, "--max-body-bytes", Long.toString(Long.MAX_VALUE), R));
        c.add(new Case(TINY, "--max-body-bytes", "9223372036854775808", E));
        sweep(c, TINY, "--drain-seconds", R, E, R, R);
        sweep(c, TINY, "--threads", R, E, R, E, Integer.toString(CORES + 1), "ERROR", "100000", "ERROR");
        return c.stream();
    }

    static String[] args(Case k) {
        List<String> a = new ArrayList<>(List.of("serve", "--model", k.model(), "--backend", "cpu", "--host", "127.0.0.1"));
        if (!k.flag().equals("--port")) a.addAll(List.of("--port", "0"));
        if (!k.flag().equals("--max-batch")) a.addAll(List.of("--max-batch", "2"));
        a.add(k.flag());
        a.add(k.value());
        return a.toArray(String[]::new);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void startsOrEndsInOneLine(Case k) {
        Run r = run(args(k));
        if (r.exitCode() == 0) {
            assertNotEquals(Expect.ERROR, k.expect(), () -> k + " must be refused; it started. stderr: " + r.err());
            assertTrue(r.err().contains("kvdecode: serving "), r.err());
            assertEquals("", r.out());
            return;
        }
        assertNotEquals(Expect.RUN, k.expect(), () -> k + " must start; stderr: " + r.err());
        assertOneLine(r, k.toString(), k.flag());
    }

    static void assertOneLine(Run r, String what, String flag) {
        assertEquals(2, r.exitCode(), () -> what + ": exit code; stderr: " + r.err());
        assertEquals("", r.out(), () -> what + ": nothing on stdout");
        List<String> lines = r.err().strip().lines().toList();
        assertEquals(1, lines.size(), () -> what + ": one stderr line, got:\n" + r.err());
        String line = lines.get(0);
        assertTrue(line.startsWith("kvdecode: "), line);
        assertFalse(line.contains("Exception") || line.contains("\tat "), line);
        assertTrue(line.contains(flag), () -> what + ": the line must name " + flag + ": " + line);
    }

    /** Slots past the heap: refused by the session's check before the KV cache is allocated, naming what fits. */
    @Test
    void maxBatchPastTheHeapNamesWhatFits() {
        Run r = run("serve", "--model", DEFAULT, "--backend", "cpu", "--port", "0", "--max-batch", "16777216");
        assertOneLine(r, "--max-batch 16777216", "--max-batch 16777216 --context 256");
        assertTrue(r.err().contains("at most") && r.err().contains("fits"), r.err());
    }

    /** The CUDA path checks the device's free memory (the emulator reports 16 GiB) before it allocates. */
    @Test
    void maxBatchPastTheDeviceIsOneLine() {
        Run r = run("serve", "--model", TINY, "--backend", "cuda-emu", "--port", "0", "--max-batch", "1000000");
        assertOneLine(r, "cuda-emu --max-batch 1000000", "--max-batch 1000000 --context 32");
        assertTrue(r.err().contains("of device memory needed"), r.err());
    }

    /** A port in use is one line naming --port, before the model loads. */
    @Test
    void portInUseIsOneLine() throws IOException {
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            Run r = run("serve", "--model", TINY, "--backend", "cpu", "--port", Integer.toString(taken.getLocalPort()));
            assertOneLine(r, "port in use", "--port");
        }
    }
}
