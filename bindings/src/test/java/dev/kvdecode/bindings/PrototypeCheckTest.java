package dev.kvdecode.bindings;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs scripts/check-prototypes.sh (the bound prototypes against cuda.h and cublas_v2.h) and
 * shows it can fail: a wrong descriptor, a wrong prototype and an unversioned symbol each break
 * the generated C. Skipped, with the reason, where gcc or the headers are missing.
 */
class PrototypeCheckTest {
    private static final Path ROOT = findRoot();

    private static Path findRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.exists(p.resolve("scripts/check-prototypes.sh"))) p = p.getParent();
        return p;
    }

    record Result(int exit, String output) {}

    private static Result run(List<String> cmd, Path classes) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).directory(ROOT.toFile());
        if (classes != null) pb.environment().put("KVDECODE_BINDINGS_CLASSES", classes.toString());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(5, TimeUnit.MINUTES)) { p.destroyForcibly(); throw new AssertionError("timed out: " + cmd); }
        return new Result(p.exitValue(), out);
    }

    private static Path classesDir() throws Exception {
        // The compiled main classes of this module (Maven puts them on the test class path).
        return Path.of(NativeFunction.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    private static String includesOrSkip() throws Exception {
        Assumptions.assumeTrue(ROOT != null, "scripts/check-prototypes.sh not found above " + Path.of("").toAbsolutePath());
        Result r = run(List.of("bash", "scripts/check-prototypes.sh", "--print-includes"), null);
        Assumptions.assumeTrue(r.exit != 3, () -> "skipped: " + r.output.strip());
        assertEquals(0, r.exit, r.output);
        Result gcc = run(List.of("bash", "-c", "command -v gcc"), null);
        Assumptions.assumeTrue(gcc.exit == 0, "skipped: no gcc on PATH");
        return r.output.strip();
    }

    @Test
    void boundPrototypesMatchTheHeaders() throws Exception {
        includesOrSkip();
        Result r = run(List.of("bash", "scripts/check-prototypes.sh"), classesDir());
        assertEquals(0, r.exit, r.output);
        assertTrue(r.output.contains("check-prototypes: OK: " + PrototypeCheck.allFunctions().size() + " bound functions"), r.output);
    }

    private static Result compile(Path dir, String includes, List<NativeFunction> fns) throws Exception {
        Path c = dir.resolve("check.c");
        Files.writeString(c, PrototypeCheck.generate(fns));
        List<String> cmd = new ArrayList<>(List.of("gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"));
        cmd.addAll(List.of(includes.split(" ")));
        cmd.add(c.toString());
        return run(cmd, null);
    }

    @Test
    void aWrongDescriptorFailsToCompile(@TempDir Path dir) throws Exception {
        String inc = includesOrSkip();
        // size_t bytesize bound as a 4-byte int: the call would pass garbage in the high half.
        NativeFunction wrong = new NativeFunction("cuMemAlloc_v2", "CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        Result r = compile(dir, inc, List.of(wrong));
        assertNotEquals(0, r.exit);
        assertTrue(r.output.contains("cuMemAlloc_v2: parameter 1 (size_t)"), r.output);
        // and the correct one compiles, so the failure above is the descriptor's
        assertEquals(0, compile(dir, inc, List.of(CudaDriver.cuMemAlloc_v2.FN)).exit);
    }

    @Test
    void aWrongPrototypeFailsToCompile(@TempDir Path dir) throws Exception {
        String inc = includesOrSkip();
        NativeFunction wrong = new NativeFunction("cuMemAlloc_v2", "CUresult cuMemAlloc_v2(CUdeviceptr *dptr, unsigned int bytesize)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        Result r = compile(dir, inc, List.of(wrong));
        assertNotEquals(0, r.exit);
        assertTrue(r.output.contains("p_cuMemAlloc_v2"), r.output);
    }

    @Test
    void anUnversionedSymbolFailsToCompile(@TempDir Path dir) throws Exception {
        String inc = includesOrSkip();
        // cuda.h maps cuMemAlloc to cuMemAlloc_v2; the plain symbol is the legacy ABI.
        NativeFunction legacy = new NativeFunction("cuMemAlloc", "CUresult cuMemAlloc(CUdeviceptr *dptr, size_t bytesize)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        Result r = compile(dir, inc, List.of(legacy));
        assertNotEquals(0, r.exit);
        assertTrue(r.output.contains("cuMemAlloc is a macro in the header"), r.output);
    }

    @Test
    void descriptorArityIsCheckedInJava() {
        NativeFunction missingArg = new NativeFunction("cuMemFree_v2", "CUresult cuMemFree_v2(CUdeviceptr dptr)",
                FunctionDescriptor.of(JAVA_INT));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> PrototypeCheck.generate(List.of(missingArg)));
        assertTrue(e.getMessage().contains("cuMemFree_v2: descriptor has 0 arguments, prototype 1"), e.getMessage());
    }

    @Test
    void everyBoundFunctionHasANamedParameterListAndMatchingArity() {
        for (NativeFunction f : PrototypeCheck.allFunctions())
            assertEquals(List.of(), PrototypeCheck.arityProblems(f), f.name());
    }
}
