package dev.kvdecode.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Runs the device emulator's own C++ tests (scripts/test-emu.sh, issue 8) in the Maven build: barrier,
 * shuffle (partial warps) and shared-memory semantics, the scheduling fuzz, launch validation,
 * streams, capture and replay, cuBLAS GEMMs against naive references, and the planted defects, each
 * of which must be caught with a message naming the kernel or call. The script's output is printed,
 * so the per-test lines and timings show in the surefire report.
 */
class EmulatorSelfTest {

    private static Path repoRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("scripts/test-emu.sh"))) return p;
        }
        throw new IllegalStateException("scripts/test-emu.sh not found above " + Path.of("").toAbsolutePath());
    }

    @Test
    void emulatorSelfTestsAndPlantedDefectsPass() throws IOException, InterruptedException {
        // The self-tests choose their own seeds; run them once, not in every per-seed surefire run.
        String seed = System.getenv("KVDECODE_EMU_SEED");
        assumeTrue(seed == null || seed.equals("1"), "emulator self-tests run in the KVDECODE_EMU_SEED=1 execution only");
        Path root = repoRoot();
        Process p = new ProcessBuilder("bash", root.resolve("scripts/test-emu.sh").toString())
                .directory(root.toFile())
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "scripts/test-emu.sh did not finish");
        System.out.println(out);
        assertEquals(0, p.exitValue(), "scripts/test-emu.sh failed:\n" + out);
        // Both suites ran and reported (a script that silently ran nothing must not pass).
        assertTrue(out.contains("emu_selftest: ") && out.contains("emu_planted_defects: "), out);
        assertTrue(out.contains(", 0 failures"), out);
    }
}
