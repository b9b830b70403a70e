package dev.kvdecode.bench;

import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVPrinter;

import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;

/** The bench's outputs: the console table, CSV files and PNG charts (written atomically). */
final class Reports {
    private Reports() {}

    /** One row of the summary: the median repetition of (steps, mode). */
    record Row(int steps, RunResult.Mode mode, double seconds, double tokensPerSecond, double speedup,
               double meanContext, double gbPerSecond, double fractionOfBandwidth, double gflopPerSecond) {}

    /** Mean time per token over a range of context lengths [lo, hi]. */
    record Bucket(RunResult.Mode mode, int lo, int hi, int count, double meanMs) {}

    static void printTable(PrintStream out, List<Row> rows) {
        out.printf(Locale.ROOT, "%8s  %-9s  %10s  %12s  %8s  %9s  %9s  %9s%n",
                "steps", "mode", "seconds", "tokens/s", "speedup", "GB/s", "of copy", "GFLOP/s");
        for (Row r : rows) {
            out.printf(Locale.ROOT, "%8d  %-9s  %10.3f  %12.1f  %8s  %9.2f  %8.1f%%  %9.2f%n",
                    r.steps(), r.mode().label, r.seconds(), r.tokensPerSecond(),
                    Double.isNaN(r.speedup()) ? "-" : String.format(Locale.ROOT, "%.2fx", r.speedup()),
                    r.gbPerSecond(), 100 * r.fractionOfBandwidth(), r.gflopPerSecond());
        }
    }

    static void writeSummaryCsv(Path file, List<Row> rows) throws IOException {
        writeAtomically(file, w -> {
            try (CSVPrinter csv = new CSVPrinter(w, CSVFormat.DEFAULT.builder().setHeader(
                    "steps", "mode", "seconds", "tokens_per_s", "speedup_vs_recompute", "mean_context",
                    "achieved_gb_per_s", "fraction_of_copy_bandwidth", "gflop_per_s").get())) {
                for (Row r : rows)
                    csv.printRecord(r.steps(), r.mode().label, r.seconds(), r.tokensPerSecond(),
                            Double.isNaN(r.speedup()) ? "" : r.speedup(), r.meanContext(), r.gbPerSecond(),
                            r.fractionOfBandwidth(), r.gflopPerSecond());
            }
        });
    }

    static void writeBucketCsv(Path file, List<Bucket> buckets) throws IOException {
        writeAtomically(file, w -> {
            try (CSVPrinter csv = new CSVPrinter(w, CSVFormat.DEFAULT.builder().setHeader(
                    "mode", "context_lo", "context_hi", "tokens", "mean_ms_per_token").get())) {
                for (Bucket b : buckets) csv.printRecord(b.mode().label, b.lo(), b.hi(), b.count(), b.meanMs());
            }
        });
    }

    /** Renames the finished temp file over the target, readable like any file the user writes. */
    static void publish(Path tmp, Path file) throws IOException {
        try {
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        } catch (UnsupportedOperationException ignored) {
            // not a POSIX file system: the temp file's default permissions stand
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    interface WriterBody { void write(Writer w) throws IOException; }

    /** No partial output files: write beside the target, then rename over it. */
    static void writeAtomically(Path file, WriterBody body) throws IOException {
        Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), ".kvdecode-", ".tmp");
        try {
            try (Writer w = Files.newBufferedWriter(tmp)) { body.write(w); }
            publish(tmp, file);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
