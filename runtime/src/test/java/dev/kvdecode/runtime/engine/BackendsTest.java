package dev.kvdecode.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvdecode.runtime.cli.UsageException;
import dev.kvdecode.runtime.cuda.CudaOptions;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** --backend choice: names, the one-line notices and the error without a GPU. */
class BackendsTest {
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private final PrintStream notices = new PrintStream(err, true, StandardCharsets.UTF_8);

    private String notices() { return err.toString(StandardCharsets.UTF_8); }

    @Test
    void unknownNameIsAUsageError() {
        UsageException e = assertThrows(UsageException.class, () -> Backends.create("gpu", CudaOptions.defaults(), notices));
        assertEquals("--backend: unknown backend 'gpu' (expected auto, cpu, cuda or cuda-emu)", e.getMessage());
    }

    @Test
    void cpuIsQuiet() {
        try (Backend b = Backends.create("cpu", CudaOptions.defaults(), notices)) {
            assertEquals("cpu", b.name());
        }
        assertEquals("", notices());
    }

    @Test
    void cudaWithoutADeviceIsOneClearLine() {
        // On a machine with a GPU this opens it; without one it must name what it searched.
        try (Backend b = Backends.create("cuda", CudaOptions.defaults(), notices)) {
            assertEquals("cuda", b.name());
        } catch (UsageException e) {
            assertTrue(e.getMessage().startsWith("--backend cuda: "), e.getMessage());
            assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
            assertTrue(e.getMessage().contains("searched:") || e.getMessage().contains("CUDA_ERROR")
                    || e.getMessage().contains("kernels are missing"), e.getMessage());
        }
    }

    @Test
    void autoFallsBackToTheCpuWithANotice() {
        try (Backend b = Backends.create("auto", CudaOptions.defaults(), notices)) {
            if (b.name().equals("cpu")) {
                String n = notices();
                assertTrue(n.startsWith("kvdecode: ") && n.endsWith("; using the CPU backend" + System.lineSeparator()) && !n.contains("searched"), n);
                assertEquals(1, n.lines().count(), n);
            } else {
                assertEquals("cuda", b.name(), "auto never picks the emulator");
            }
        }
    }

    @Test
    void cudaEmuSaysItIsSlow() {
        try (Backend b = Backends.create("cuda-emu", CudaOptions.defaults(), notices)) {
            assertEquals("cuda-emu", b.name());
        }
        assertTrue(notices().contains("slow"), notices());
        assertEquals(1, notices().lines().count());
    }
}
