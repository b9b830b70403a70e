package dev.kvdecode.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvdecode.runtime.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code kvdecode bench} end to end on tiny step counts: table, CSV, PNG, JSON and bad flags. */
class BenchCommandTest {
    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.PrintStream old = System.out;
        System.setOut(new java.io.PrintStream(bytes, true));
        try {
            int code = cl.execute(args);
            return new Run(code, bytes.toString(), err.toString());
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void writesTableCsvAndCharts(@TempDir Path out) throws Exception {
        Run r = run("bench", "--backend", "cpu", "--steps", "4,8", "--warmup", "2", "--context", "64", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("recompute") && r.out().contains("cached"), r.out());
        for (String f : new String[] {"bench.csv", "per-token.csv", "bench.png", "per-token.png"})
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        var csv = Files.readAllLines(out.resolve("bench.csv"));
        assertEquals(5, csv.size(), "header + 2 steps x 2 modes: " + csv);
        try (var files = Files.list(out)) {
            assertEquals(4, files.count(), "no temp files left behind");
        }
    }

    @Test
    void recomputeRunsOverTheLimitAreSkipped(@TempDir Path out) throws Exception {
        Run r = run("bench", "--backend", "cpu", "--steps", "4,8", "--warmup", "0", "--context", "32",
                "--max-recompute-steps", "4", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("recompute runs over 4 tokens skipped"), r.out());
        assertEquals(4, Files.readAllLines(out.resolve("bench.csv")).size(), "header + 4 (both modes) + 8 (cached only)");
    }

    @Test
    void jsonIsOneObjectAndRunsOnTheEmulator(@TempDir Path out) throws Exception {
        Run r = run("bench", "--backend", "cuda-emu", "--steps", "3", "--warmup", "1", "--context", "16",
                "--modes", "cached", "--out", out.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode o = new ObjectMapper().readTree(r.out());
        assertEquals("cuda-emu", o.get("backend").asText());
        assertEquals(1, o.get("results").size());
        assertTrue(o.get("copy_gb_per_s").asDouble() > 0, "device copy rate measured");
        // The launch table of one decode step (issue 17): char-1024 has 4 layers, 6 L + 4 launches.
        assertEquals(28, o.get("launches_per_step").asInt(), r.out());
        assertEquals(28, o.get("step_kernels").size());
        JsonNode first = o.get("step_kernels").get(0);
        assertTrue(first.get("name").asText().startsWith("embed_decode"), first.toString());
        assertEquals(3, first.get("grid").size());
        assertTrue(o.get("step_kernels").findValues("name").stream().anyMatch(n -> n.asText().startsWith("gemv_")), "GEMVs in the step");
    }

    @Test
    void profilePrintsTheStepsLaunchTable(@TempDir Path out) throws Exception {
        Run r = run("bench", "--backend", "cuda-emu", "--steps", "2", "--warmup", "0", "--context", "16",
                "--modes", "cached", "--out", out.toString(), "--no-charts", "--profile");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("launches per decode step: 28"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.contains("decode_attention_chunk_vec_g1_f32")), r.out());
    }

    @Test
    void badFlagsAreOneLineAndExit2(@TempDir Path out) {
        for (String[] args : new String[][] {
                {"bench", "--steps", "0", "--out", out.toString()},
                {"bench", "--modes", "both", "--out", out.toString()},
                {"bench", "--preset", "gpt5", "--out", out.toString()},
                {"bench", "--overflow", "stop", "--out", out.toString()},
                {"bench", "--max-recompute-steps", "-1", "--out", out.toString()}}) {
            Run r = run(args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().startsWith("kvdecode: --"), r.err());
        }
    }
}
