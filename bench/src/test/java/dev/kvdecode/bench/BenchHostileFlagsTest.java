package dev.kvdecode.bench;

import dev.kvdecode.bench.jmh.BenchmarksMain;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.kvdecode.bench.BenchCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 21 for {@code kvdecode bench} and {@code kvdecode jmh}: every numeric flag over 0, -1, 1,
 * Integer.MAX_VALUE, just past its limit and sizes whose products overflow an int either runs or
 * ends with exit 2, one stderr line naming the flag, nothing on stdout and no file written; output
 * paths are checked before the run.
 */
class BenchHostileFlagsTest {
    static final Path CHAR = Path.of("../runtime/src/test/resources/fixtures/char-tiny");
    static final int CORES = Runtime.getRuntime().availableProcessors();
    static final String MAX = Integer.toString(Integer.MAX_VALUE);

    enum Expect { RUN, ERROR }

    record Case(String flag, String value, Expect expect) {
        @Override
        public String toString() { return "bench " + flag + " " + value; }
    }

    static void sweep(List<Case> c, String flag, Expect zero, Expect minusOne, Expect one, Expect max, String... more) {
        c.add(new Case(flag, "0", zero));
        c.add(new Case(flag, "-1", minusOne));
        c.add(new Case(flag, "1", one));
        c.add(new Case(flag, MAX, max));
        c.add(new Case(flag, "2147483648", Expect.ERROR));
        for (int i = 0; i < more.length; i += 2) c.add(new Case(flag, more[i], Expect.valueOf(more[i + 1])));
    }

    static Stream<Case> cases() {
        List<Case> c = new ArrayList<>();
        Expect R = Expect.RUN, E = Expect.ERROR;
        sweep(c, "--batch", E, E, R, E, "16777216", "ERROR", "1000000", "ERROR");
        sweep(c, "--steps", E, E, R, E, Integer.toString(BenchCommand.MAX_STEPS + 1), "ERROR", "40", "RUN");
        sweep(c, "--context", E, E, R, E, "33", "ERROR");
        sweep(c, "--reps", E, E, R, E, Integer.toString(BenchCommand.MAX_REPS + 1), "ERROR");
        sweep(c, "--warmup", R, E, R, R);   // a warm-up never runs past the window
        sweep(c, "--max-recompute-steps", R, E, R, R);
        sweep(c, "--threads", R, E, R, E, Integer.toString(CORES + 1), "ERROR");
        c.add(new Case("--seed", "0", R));
        c.add(new Case("--seed", "-1", R));
        c.add(new Case("--seed", "9223372036854775808", E));
        return c.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void runsOrEndsInOneLine(Case k, @TempDir Path tmp) {
        Path out = tmp.resolve("out");
        List<String> a = new ArrayList<>(List.of("bench", "--model", CHAR.toString(), "--backend", "cpu", "--modes",
                "cached,recompute", "--no-charts", "--out", out.toString()));
        if (!k.flag().equals("--steps")) a.addAll(List.of("--steps", "3"));
        if (!k.flag().equals("--warmup")) a.addAll(List.of("--warmup", "0"));
        a.addAll(List.of(k.flag(), k.value()));
        BenchCommandTest.Run r = run(a.toArray(String[]::new));
        if (r.code() == 0) {
            assertEquals(Expect.RUN, k.expect(), () -> k + " must be refused; it ran. stderr: " + r.err());
            assertTrue(Files.isRegularFile(out.resolve("bench.csv")), "bench.csv written");
            return;
        }
        assertEquals(Expect.ERROR, k.expect(), () -> k + " must run; stderr: " + r.err());
        assertOneLine(k.toString(), r.code(), r.out(), r.err(), k.flag());
        assertFalse(Files.exists(out), () -> k + ": nothing may be written, found " + out);
    }

    static void assertOneLine(String what, int code, String stdout, String stderr, String flag) {
        assertEquals(2, code, () -> what + ": exit code; stderr: " + stderr);
        assertEquals("", stdout, () -> what + ": nothing on stdout");
        List<String> lines = stderr.strip().lines().toList();
        assertEquals(1, lines.size(), () -> what + ": one stderr line, got:\n" + stderr);
        assertTrue(lines.get(0).startsWith("kvdecode"), lines.get(0));
        assertFalse(lines.get(0).contains("Exception"), lines.get(0));
        assertTrue(lines.get(0).contains(flag), () -> what + ": the line must name " + flag + ": " + lines.get(0));
    }

    /** The third command, and the other ways --out can be wrong: refused before the run, nothing written. */
    @Test
    void outputPathsAreCheckedBeforeTheRun(@TempDir Path tmp) throws Exception {
        Path file = Files.writeString(tmp.resolve("existing"), "keep me");
        Path dirWithFolderNamedLikeOutput = Files.createDirectories(tmp.resolve("taken").resolve("bench.csv"));
        for (Path out : List.of(file, file.resolve("sub"), dirWithFolderNamedLikeOutput.getParent())) {
            BenchCommandTest.Run r = run("bench", "--model", CHAR.toString(), "--backend", "cpu", "--steps", "100",
                    "--modes", "cached", "--warmup", "0", "--no-charts", "--out", out.toString());
            assertOneLine("--out " + out, r.code(), r.out(), r.err(), "--out " + out);
        }
        assertEquals("keep me", Files.readString(file));
        try (Stream<Path> left = Files.list(tmp.resolve("taken"))) {
            assertEquals(List.of(dirWithFolderNamedLikeOutput), left.toList(), "no temporary files left");
        }
    }

    /** A size that does not fit ends before the output folder (or any parent of it) is created. */
    @Test
    void aFailedRunCreatesNoFolder(@TempDir Path tmp) {
        Path out = tmp.resolve("a").resolve("b");
        BenchCommandTest.Run r = run("bench", "--model", CHAR.toString(), "--backend", "cpu", "--steps", "3",
                "--batch", "100000000", "--out", out.toString());
        assertOneLine("--batch 100000000", r.code(), r.out(), r.err(), "--batch");
        assertFalse(Files.exists(tmp.resolve("a")));
    }

    static Stream<List<String>> jmhMistakes() {
        return Stream.of(
                List.of("-f", "-1"), List.of("-wi", "-1"), List.of("-i", "2147483648"),
                List.of("-t", MAX), List.of("-t", Integer.toString(CORES + 1)), List.of("-nosuchoption"),
                List.of("-o", "/dev/null/x.txt"), List.of("-rff", "."),
                List.of("-f", "0", "-wi", "0", "-i", "1", "NoSuchBenchmarkAnywhere"));
    }

    /** jmh pass-through: a user mistake exits 2 with one line (JMH itself exits 1), before anything runs. */
    @ParameterizedTest
    @MethodSource("jmhMistakes")
    void jmhMistakesExit2(List<String> argList) throws Exception {
        String[] args = argList.toArray(String[]::new);
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = BenchmarksMain.run(args, new PrintStream(err, true, StandardCharsets.UTF_8));
        // the CUDA notice (no driver here) may precede the error line of a run that got as far as JMH
        List<String> lines = err.toString(StandardCharsets.UTF_8).strip().lines()
                .filter(l -> !l.startsWith("benchmarks: CUDA benchmarks skipped")).toList();
        assertEquals(2, code, () -> String.join(" ", args) + ": " + lines);
        assertEquals(1, lines.size(), () -> String.join(" ", args) + ": " + lines);
        assertTrue(lines.get(0).startsWith("kvdecode jmh: "), lines.get(0));
    }
}
