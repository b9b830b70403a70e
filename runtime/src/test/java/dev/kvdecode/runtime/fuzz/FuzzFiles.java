package dev.kvdecode.runtime.fuzz;

import dev.kvdecode.runtime.cli.UsageException;
import dev.kvdecode.runtime.model.HeapTooSmallException;
import dev.kvdecode.runtime.model.ModelFormatException;
import dev.kvdecode.runtime.tokenizer.TokenizerException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * What every fuzz target shares (docs/FUZZING.md): a scratch model directory the fuzzed bytes are
 * written into (the parsers read files, and the safetensors reader maps its file, so the bytes go
 * through the same path as a user's), the rule that only the project's one-line error types may
 * escape, and a container that packs several files into one fuzzer input.
 */
final class FuzzFiles implements AutoCloseable {
    private final String target;
    private final Path dir;
    private long inputs;

    /** {@code target} names the fuzz test class in the count printed at {@link #close}. */
    FuzzFiles(String target) {
        this.target = target;
        try {
            dir = Files.createTempDirectory("kvdecode-fuzz-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Empties the scratch directory and writes {@code files} (name -> bytes) into it; returns it. */
    Path write(Map<String, byte[]> files) {
        try {
            clear();
            inputs++;
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                if (f.getValue() != null) Files.write(dir.resolve(f.getKey()), f.getValue());
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void clear() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) Files.delete(p);
        }
    }

    /** Deletes the scratch directory and prints how many inputs ran (the fuzzing runs' execution count). */
    @Override
    public void close() {
        System.out.println("fuzz " + target + ": " + inputs + " inputs run");
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Runs {@code parse}; returns its result, or null when it rejected the input with one of the
     * project's user-facing errors, whose message must be one non-blank line. Anything else (a
     * NullPointerException, an IndexOutOfBoundsException from a read outside a mapped segment, an
     * OutOfMemoryError, an AssertionError) propagates and is a finding.
     */
    static <T> T parseOrReject(Supplier<T> parse) {
        try {
            return parse.get();
        } catch (ModelFormatException | TokenizerException | UsageException | HeapTooSmallException e) {
            requireOneLine(e);
            return null;
        }
    }

    /** The project's error types promise a one-line message fit for a user (STYLE.md, "Errors"). */
    static void requireOneLine(RuntimeException e) {
        String m = e.getMessage();
        if (m == null || m.isBlank() || m.indexOf('\n') >= 0 || m.indexOf('\r') >= 0)
            throw new AssertionError(e.getClass().getSimpleName() + " without a one-line message: " + m, e);
    }

    /**
     * Splits one fuzzer input into named files: each file but the last is a little-endian u32
     * length followed by that many bytes; the last file is the rest. A length past the end
     * truncates that file and leaves the following ones absent (null). scripts/fuzz/make-seeds.py
     * writes seeds in this layout.
     */
    static Map<String, byte[]> unpack(byte[] input, String... names) {
        Map<String, byte[]> files = new LinkedHashMap<>();
        int at = 0;
        for (int i = 0; i < names.length; i++) {
            byte[] content = null;
            if (i == names.length - 1) {
                content = java.util.Arrays.copyOfRange(input, Math.min(at, input.length), input.length);
            } else if (at + 4 <= input.length) {
                long len = (input[at] & 0xFFL) | (input[at + 1] & 0xFFL) << 8 | (input[at + 2] & 0xFFL) << 16
                        | (input[at + 3] & 0xFFL) << 24;
                int from = at + 4;
                int to = (int) Math.min(input.length, from + len);
                content = java.util.Arrays.copyOfRange(input, from, to);
                at = to;
            } else {
                at = input.length;
            }
            files.put(names[i], content);
        }
        return files;
    }
}
