package dev.kvdecode.bench.jmh;

import dev.kvdecode.bindings.NativeLibraries;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Entry point of benchmarks.jar: JMH's own command line, plus the backend parameter of the
 * decode-step benchmark. With a CUDA driver present the CUDA variants run beside the CPU ones;
 * without one they are skipped with a one-line notice (never reported as results).
 */
public final class BenchmarksMain {
    private BenchmarksMain() {}

    public static void main(String[] args) throws Exception {
        List<String> argv = new ArrayList<>(Arrays.asList(args));
        boolean userChoseBackend = argv.stream().anyMatch(a -> a.startsWith("backend="));
        if (!userChoseBackend) {
            String backends = "cpu";
            try {
                NativeLibraries.loadCuda();
                backends = "cpu,cuda";
            } catch (RuntimeException | LinkageError e) {
                System.err.println("benchmarks: CUDA benchmarks skipped: " + e.getMessage());
            }
            argv.add("-p");
            argv.add("backend=" + backends);
        }
        org.openjdk.jmh.Main.main(argv.toArray(String[]::new));
    }
}
