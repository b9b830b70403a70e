package dev.kvdecode.bindings;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Finds and loads the native libraries behind {@link CudaDriver} and {@link Cublas}: the real
 * CUDA driver and cuBLAS ({@link Mode#CUDA}), or the device emulator, one library exporting both
 * APIs with the real symbol names ({@link Mode#EMU}).
 *
 * <p>Search order for {@link Mode#CUDA} (first hit wins, GPU-CONTRACT.md):
 * <ol>
 *   <li>an explicit file: {@code KVDECODE_CUDA_LIB} / {@code KVDECODE_CUBLAS_LIB};</li>
 *   <li>{@code $CUDA_HOME/lib64}, then {@code /usr/local/cuda/lib64} (libcuda.so.1, libcublas.so.13, .12),
 *       then {@code /usr/local/nvidia/lib64} (the driver as container runtimes mount it);</li>
 *   <li>the dynamic loader's own search by name (LD_LIBRARY_PATH, ld.so.cache): libcuda.so.1,
 *       libcublas.so.13, libcublas.so.12;</li>
 *   <li>Python site-packages: {@code nvidia/cu13/lib} and {@code nvidia/cublas/lib} (the pip wheels).</li>
 * </ol>
 * The toolkit's {@code lib64/stubs/libcuda.so} is never used: it is a link-time stub whose every
 * call fails with CUDA_ERROR_STUB_LIBRARY. When nothing loads, the exception lists every place
 * searched and why each failed.
 *
 * <p>Libraries are loaded once per process into {@link Arena#global()}: a loaded library cannot
 * be unloaded safely while any handle bound to it may still be called, and this lookup is the
 * only static state the bindings keep (STYLE.md, "Ownership").
 */
public final class NativeLibraries {
    private NativeLibraries() {}

    /** Which implementation of the CUDA API to load. */
    public enum Mode { CUDA, EMU }

    /**
     * The loaded libraries.
     *
     * @param driverLabel  where the driver API came from (a path or loader name), for messages
     * @param cublasLabel  where cuBLAS came from (the same as the driver's for the emulator)
     */
    public record Loaded(Mode mode, SymbolLookup driver, String driverLabel,
                         SymbolLookup cublas, String cublasLabel) {
        /** Binds the driver API in this library. */
        public CudaDriver bindDriver() { return new CudaDriver(driver, driverLabel); }

        /** Binds cuBLAS in this library. */
        public Cublas bindCublas() { return new Cublas(cublas, cublasLabel); }
    }

    public static final String ENV_CUDA_LIB = "KVDECODE_CUDA_LIB";
    public static final String ENV_CUBLAS_LIB = "KVDECODE_CUBLAS_LIB";
    public static final String ENV_EMU_LIB = "KVDECODE_EMU_LIB";
    /** The emulator's resource path in the kernels jar (GPU-CONTRACT.md). */
    public static final String EMU_RESOURCE = "native/linux-x86_64/libkvdecode_cudaemu.so";

    private static final Map<Mode, Loaded> CUDA_CACHE = new EnumMap<>(Mode.class);
    private static final Map<Path, Loaded> EMU_CACHE = new HashMap<>();

    /** Loads the real CUDA driver and cuBLAS (once per process). */
    public static synchronized Loaded loadCuda() {
        return CUDA_CACHE.computeIfAbsent(Mode.CUDA, m -> loadCuda(System::getenv));
    }

    /** Loads the emulator library at {@code lib} (once per path), unless KVDECODE_EMU_LIB names another. */
    public static synchronized Loaded loadEmulator(Path lib) {
        String override = System.getenv(ENV_EMU_LIB);
        Path path = (override != null && !override.isBlank()) ? Path.of(override) : lib;
        return EMU_CACHE.computeIfAbsent(path.toAbsolutePath(), p -> {
            if (!Files.isRegularFile(p))
                throw new NativeLibraryException("no CUDA emulator library at " + p
                        + (override != null ? " (from $" + ENV_EMU_LIB + ")" : ""));
            SymbolLookup lookup;
            try {
                lookup = SymbolLookup.libraryLookup(p, Arena.global());
            } catch (IllegalArgumentException e) {
                throw new NativeLibraryException("cannot load the CUDA emulator " + p + ": " + oneLine(e));
            }
            return new Loaded(Mode.EMU, lookup, p.toString(), lookup, p.toString());
        });
    }

    /**
     * Loads the emulator from a class-path resource (the kernels jar ships it as
     * {@link #EMU_RESOURCE}), copying it to a temporary file first because dlopen needs a file.
     * {@code KVDECODE_EMU_LIB} still wins.
     *
     * @param resources the class loader that sees the kernels jar
     */
    public static synchronized Loaded loadEmulator(ClassLoader resources) {
        String override = System.getenv(ENV_EMU_LIB);
        if (override != null && !override.isBlank()) return loadEmulator(Path.of(override));
        for (Map.Entry<Path, Loaded> e : EMU_CACHE.entrySet())
            if (e.getKey().getFileName().toString().startsWith("kvdecode-cudaemu-")) return e.getValue();
        try (InputStream in = resources.getResourceAsStream(EMU_RESOURCE)) {
            if (in == null)
                throw new NativeLibraryException("no CUDA emulator library: resource " + EMU_RESOURCE
                        + " is not on the class path and $" + ENV_EMU_LIB + " is unset (build the kernels module)");
            Path tmp = Files.createTempFile("kvdecode-cudaemu-", ".so");
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return loadEmulator(tmp);
        } catch (IOException e) {
            throw new NativeLibraryException("cannot extract the CUDA emulator library: " + oneLine(e));
        }
    }

    /** The search for {@link Mode#CUDA}, with the environment passed in (tests use a fake one). */
    static Loaded loadCuda(Function<String, String> env) {
        List<String> driverTried = new ArrayList<>();
        Hit driver = search(candidates(env, ENV_CUDA_LIB, List.of("libcuda.so.1"), List.of()), driverTried);
        if (driver == null)
            throw new NativeLibraryException("no CUDA driver found (searched: " + String.join(", ", driverTried) + ")");
        List<String> cublasTried = new ArrayList<>();
        Hit cublas = search(candidates(env, ENV_CUBLAS_LIB, List.of("libcublas.so.13", "libcublas.so.12"),
                List.of("nvidia/cu13/lib", "nvidia/cublas/lib")), cublasTried);
        if (cublas == null)
            throw new NativeLibraryException("no cuBLAS found (searched: " + String.join(", ", cublasTried) + ")");
        return new Loaded(Mode.CUDA, driver.lookup, driver.label, cublas.lookup, cublas.label);
    }

    /** A place to try: a file path, or a bare name for the loader. */
    record Candidate(String label, Path file, String loaderName) {}

    private record Hit(SymbolLookup lookup, String label) {}

    static List<Candidate> candidates(Function<String, String> env, String envVar, List<String> names,
                                      List<String> sitePackagesDirs) {
        List<Candidate> out = new ArrayList<>();
        String explicit = env.apply(envVar);
        if (explicit != null && !explicit.isBlank()) {
            // An explicit choice is the only choice: silently falling back would hide a typo.
            out.add(new Candidate("$" + envVar + "=" + explicit, Path.of(explicit), null));
            return out;
        }
        out.add(new Candidate("$" + envVar + " (unset)", null, null));
        List<Path> dirs = new ArrayList<>();
        String cudaHome = env.apply("CUDA_HOME");
        if (cudaHome != null && !cudaHome.isBlank()) dirs.add(Path.of(cudaHome, "lib64"));
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        // Where NVIDIA's container runtime mounts the driver (not always on the loader's path).
        dirs.add(Path.of("/usr/local/nvidia/lib64"));
        for (Path d : dirs) for (String n : names) out.add(new Candidate(d.resolve(n).toString(), d.resolve(n), null));
        for (String n : names) out.add(new Candidate(n + " via the loader", null, n));
        for (Path sp : sitePackages(env))
            for (String sub : sitePackagesDirs)
                for (String n : names) {
                    Path p = sp.resolve(sub).resolve(n);
                    out.add(new Candidate(p.toString(), p, null));
                }
        return out;
    }

    private static Hit search(List<Candidate> candidates, List<String> tried) {
        for (Candidate c : candidates) {
            if (c.file == null && c.loaderName == null) { tried.add(c.label); continue; }
            if (c.file != null && !Files.exists(c.file)) { tried.add(c.label + " (absent)"); continue; }
            try {
                SymbolLookup lookup = c.file != null
                        ? SymbolLookup.libraryLookup(c.file, Arena.global())
                        : SymbolLookup.libraryLookup(c.loaderName, Arena.global());
                return new Hit(lookup, c.file != null ? c.file.toString() : c.loaderName);
            } catch (IllegalArgumentException e) {
                tried.add(c.label + (c.file != null ? " (" + oneLine(e) + ")" : " (not found)"));
            }
        }
        return null;
    }

    /**
     * Python site-packages folders that may hold the nvidia-* wheels, found without running
     * Python: $VIRTUAL_ENV, $CONDA_PREFIX, the prefix of each python3 on $PATH (a venv's bin/..),
     * ~/.local, /usr/local, /usr (lib/python3.N/{site,dist}-packages), and each $PYTHONPATH entry.
     */
    static List<Path> sitePackages(Function<String, String> env) {
        List<Path> roots = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.apply(var);
            if (v != null && !v.isBlank()) roots.add(Path.of(v, "lib"));
        }
        String path = env.apply("PATH");
        if (path != null)
            for (String dir : path.split(":")) {
                if (dir.isBlank()) continue;
                Path bin = Path.of(dir);
                // Not resolving the link: a venv's python3 points at the base interpreter.
                if (Files.exists(bin.resolve("python3")) && bin.getParent() != null) {
                    Path lib = bin.getParent().resolve("lib");
                    if (!roots.contains(lib)) roots.add(lib);
                }
            }
        String home = env.apply("HOME");
        if (home != null && !home.isBlank()) roots.add(Path.of(home, ".local", "lib"));
        roots.add(Path.of("/usr/local/lib"));
        roots.add(Path.of("/usr/lib"));
        List<Path> out = new ArrayList<>();
        String pythonPath = env.apply("PYTHONPATH");
        if (pythonPath != null)
            for (String p : pythonPath.split(":")) if (!p.isBlank()) out.add(Path.of(p));
        for (Path root : roots.stream().distinct().toList()) {
            if (!Files.isDirectory(root)) continue;
            try (var s = Files.list(root)) {
                s.filter(p -> p.getFileName().toString().startsWith("python3"))
                        .sorted()
                        .forEach(py -> {
                            for (String sd : List.of("site-packages", "dist-packages")) {
                                Path d = py.resolve(sd);
                                if (Files.isDirectory(d)) out.add(d);
                            }
                        });
            } catch (IOException ignored) {
                // an unreadable folder is simply not searched
            }
        }
        return out.stream().distinct().toList();
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replace('\n', ' ');
    }
}
