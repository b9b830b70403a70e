package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.GpuContext;
import dev.kvdecode.bindings.NativeLibraries;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every kernel listed in native/emu/kernels.inc is in the fatbin nvcc built (where it did) and is
 * resolvable by name on the emulator; on a real GPU (@Tag gpu) the driver loads the fatbin and
 * resolves every name, which only real hardware can prove.
 */
class CudaKernelInventoryTest {

    static List<String> listedKernels() throws IOException {
        Path root = Path.of("").toAbsolutePath();
        while (root != null && !Files.isRegularFile(root.resolve("native/emu/kernels.inc"))) root = root.getParent();
        assertNotNull(root, "native/emu/kernels.inc not found above " + Path.of("").toAbsolutePath());
        List<String> names = new ArrayList<>();
        Matcher m = Pattern.compile("(?m)^\\s*KVD_KERNEL\\((\\w+)\\)").matcher(Files.readString(root.resolve("native/emu/kernels.inc")));
        while (m.find()) names.add(m.group(1));
        assertFalse(names.isEmpty(), "kernels.inc lists no kernels");
        return names;
    }

    @Test
    void fatbinHoldsEveryListedKernel() throws IOException {
        byte[] fatbin = CudaKernels.readFatbin();
        Assumptions.assumeTrue(fatbin != null, "no fatbin in this build (nvcc absent): nothing to inspect");
        // the SASS ELF images keep each kernel's name in their symbol tables
        String text = new String(fatbin, StandardCharsets.ISO_8859_1);
        for (String name : listedKernels())
            assertTrue(text.contains(name + "\0"), "kernel " + name + " is missing from kvdecode.fatbin");
    }

    @Test
    void emulatorResolvesEveryListedKernel() throws IOException {
        try (Dev dev = Dev.open()) {
            for (String name : listedKernels()) assertNotNull(dev.kernels.function(name).handle(), name);
        }
    }

    @Test
    @Tag("gpu")
    void realDriverLoadsTheFatbinAndResolvesEveryKernel() throws IOException {
        NativeLibraries.Loaded libs;
        try {
            libs = NativeLibraries.loadCuda();
        } catch (RuntimeException e) {
            Assumptions.abort("no CUDA driver on this machine: " + e.getMessage());
            return;
        }
        GpuContext gpu;
        try {
            gpu = GpuContext.open(libs, 0);
        } catch (RuntimeException e) {
            Assumptions.abort("no usable GPU: " + e.getMessage());
            return;
        }
        try (gpu; CudaKernels k = CudaKernels.load(gpu)) {
            for (String name : listedKernels()) assertNotNull(k.function(name).handle(), name);
        }
    }
}
