package dev.kvdecode.runtime.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Output files that appear all at once or not at all. {@link #checkDirectory} runs before any
 * work (a folder that exists or can be created, not a file, writable; the files' names are not
 * folders); {@link #stage} gives a hidden temporary name beside each target; {@link #publish}
 * renames them over the targets at the end; {@link #close} without a publish deletes what was
 * staged and the folders this object created. A failure is a one-line {@link UsageException}.
 */
public final class OutputFiles implements AutoCloseable {
    private final String flag;
    private final Path dir;
    private final Map<Path, Path> staged = new LinkedHashMap<>();   // temporary -> target
    private final List<Path> createdDirs = new ArrayList<>();
    private boolean published;

    private OutputFiles(String flag, Path dir) {
        this.flag = flag;
        this.dir = dir;
    }

    /**
     * Checks, before the run, that {@code dir} (the value of {@code flag}) can receive
     * {@code fileNames}: it is a writable folder, or the nearest existing folder above it is one
     * (so it can be created); it is not an existing file; no target name is an existing folder.
     */
    public static OutputFiles checkDirectory(String flag, Path dir, List<String> fileNames) {
        Path abs = dir.toAbsolutePath().normalize();
        if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS) || Files.isSymbolicLink(abs)) {
            if (!Files.isDirectory(abs))
                throw new UsageException(flag + " " + dir + ": exists and is not a folder (give a folder for the output files)");
            if (!Files.isWritable(abs)) throw new UsageException(flag + " " + dir + ": folder is not writable");
            for (String name : fileNames) {
                Path f = abs.resolve(name);
                if (Files.exists(f) && !Files.isRegularFile(f))
                    throw new UsageException(flag + " " + dir + ": " + name + " exists and is not a regular file");
            }
        } else {
            Path p = abs.getParent();
            while (p != null && !Files.exists(p)) p = p.getParent();
            if (p == null) throw new UsageException(flag + " " + dir + ": no existing folder above it");
            if (!Files.isDirectory(p))
                throw new UsageException(flag + " " + dir + ": cannot create it, " + p + " is not a folder");
            if (!Files.isWritable(p)) throw new UsageException(flag + " " + dir + ": cannot create it, " + p + " is not writable");
        }
        return new OutputFiles(flag, abs);
    }

    /**
     * Checks one output file ({@code flag}'s value) before the run: not an existing folder or
     * other non-regular file, in a folder that exists or can be created and is writable.
     * {@link #stage} it with {@code file.getFileName()}.
     */
    public static OutputFiles checkFile(String flag, Path file) {
        Path abs = file.toAbsolutePath().normalize();
        if (abs.getFileName() == null) throw new UsageException(flag + " " + file + ": not a file name");
        if (Files.exists(abs) && !Files.isRegularFile(abs))
            throw new UsageException(flag + " " + file + ": exists and is not a regular file");
        Path dir = abs.getParent();
        if (Files.exists(dir)) {
            if (!Files.isDirectory(dir)) throw new UsageException(flag + " " + file + ": " + dir + " is not a folder");
            if (!Files.isWritable(dir)) throw new UsageException(flag + " " + file + ": folder " + dir + " is not writable");
        } else {
            checkDirectory(flag + " " + file + ": its folder", dir, List.of());
        }
        return new OutputFiles(flag, abs.getParent());
    }

    /** A temporary path in the folder (created now, with any missing parents) that {@link #publish} renames to {@code name}. */
    public Path stage(String name) {
        try {
            createDirectories();
            Path tmp = Files.createTempFile(dir, "." + name + ".", ".tmp");
            staged.put(tmp, dir.resolve(name));
            return tmp;
        } catch (IOException e) {
            throw new UsageException(flag + " " + dir + ": cannot write " + name + " (" + e.getMessage() + ")");
        }
    }

    /** Renames every staged file over its target (atomically each, where the file system can). */
    public void publish() {
        for (Map.Entry<Path, Path> e : staged.entrySet()) {
            try {
                try {
                    Files.setPosixFilePermissions(e.getKey(), java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
                } catch (UnsupportedOperationException ignored) {
                    // not a POSIX file system: the temporary file's permissions stand
                }
                Files.move(e.getKey(), e.getValue(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException ex) {
                throw new UsageException(flag + " " + dir + ": cannot write " + e.getValue().getFileName() + " (" + ex.getMessage() + ")");
            }
        }
        published = true;
    }

    /** Deletes what was staged but not published, and the folders created for it when they are empty. */
    @Override
    public void close() {
        for (Path tmp : staged.keySet()) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort: the name is hidden and ends in .tmp
            }
        }
        if (published) return;
        for (int i = createdDirs.size() - 1; i >= 0; i--) {
            try {
                Files.deleteIfExists(createdDirs.get(i));
            } catch (IOException ignored) {
                // not empty (someone else wrote there) or gone: leave it
            }
        }
    }

    private void createDirectories() throws IOException {
        if (Files.isDirectory(dir)) return;
        List<Path> missing = new ArrayList<>();
        for (Path p = dir; p != null && !Files.exists(p); p = p.getParent()) missing.add(0, p);
        for (Path p : missing) {
            Files.createDirectory(p);
            createdDirs.add(p);
        }
    }
}
