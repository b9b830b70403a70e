package dev.kvdecode.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Library discovery order and the "searched: ..." message, with a fake environment. */
class NativeLibrariesTest {
    @Test
    void anExplicitDriverPathIsTheOnlyCandidateAndItsFailureIsNamed() {
        Map<String, String> env = Map.of("KVDECODE_CUDA_LIB", "/nonexistent/libcuda.so.1");
        NativeLibraryException e = assertThrows(NativeLibraryException.class, () -> NativeLibraries.loadCuda(env::get));
        assertEquals("no CUDA driver found (searched: $KVDECODE_CUDA_LIB=/nonexistent/libcuda.so.1 (absent))", e.getMessage());
    }

    @Test
    void driverSearchOrderIsOverrideCudaHomeToolkitLoader() {
        Map<String, String> env = Map.of("CUDA_HOME", "/opt/cuda-x");
        List<String> labels = NativeLibraries.candidates(env::get, "KVDECODE_CUDA_LIB", List.of("libcuda.so.1"), List.of())
                .stream().map(NativeLibraries.Candidate::label).toList();
        assertEquals(List.of("$KVDECODE_CUDA_LIB (unset)", "/opt/cuda-x/lib64/libcuda.so.1",
                "/usr/local/cuda/lib64/libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1", "libcuda.so.1 via the loader"), labels);
    }

    @Test
    void cublasSearchTriesVersion13Before12AndThePythonWheels(@TempDir Path venv) throws Exception {
        Path sp = Files.createDirectories(venv.resolve("lib/python3.11/site-packages"));
        Map<String, String> env = Map.of("VIRTUAL_ENV", venv.toString());
        List<String> labels = NativeLibraries.candidates(env::get, "KVDECODE_CUBLAS_LIB",
                List.of("libcublas.so.13", "libcublas.so.12"), List.of("nvidia/cu13/lib", "nvidia/cublas/lib"))
                .stream().map(NativeLibraries.Candidate::label).toList();
        assertTrue(labels.indexOf("libcublas.so.13 via the loader") < labels.indexOf("libcublas.so.12 via the loader"), labels.toString());
        assertTrue(labels.contains(sp.resolve("nvidia/cu13/lib/libcublas.so.13").toString()), labels.toString());
        assertTrue(labels.contains(sp.resolve("nvidia/cublas/lib/libcublas.so.12").toString()), labels.toString());
        assertTrue(labels.indexOf("/usr/local/cuda/lib64/libcublas.so.13") < labels.indexOf("libcublas.so.13 via the loader"));
    }

    @Test
    void aMissingEmulatorIsOneClearLine(@TempDir Path dir) {
        NativeLibraryException e = assertThrows(NativeLibraryException.class,
                () -> NativeLibraries.loadEmulator(dir.resolve("nope.so")));
        assertTrue(e.getMessage().startsWith("no CUDA emulator library at "), e.getMessage());
    }
}
