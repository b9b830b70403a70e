package dev.kvdecode.bench;

import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVPrinter;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

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

    /** Time vs steps, both modes, log-log axes. */
    static void writeTimeChart(Path file, List<Row> rows, String title) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (RunResult.Mode m : RunResult.Mode.values()) {
            XYSeries s = new XYSeries(m.label);
            for (Row r : rows) if (r.mode() == m) s.add(r.steps(), r.seconds());
            if (s.getItemCount() > 0) data.addSeries(s);
        }
        LogAxis x = new LogAxis("tokens generated");
        x.setSmallestValue(1);
        LogAxis y = new LogAxis("seconds");
        y.setSmallestValue(1e-4);
        writeChart(file, title, data, x, y);
    }

    /** Per-token time vs context length: recompute grows with the context, the cached step stays nearly flat. */
    static void writeBucketChart(Path file, List<Bucket> buckets, String title) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (RunResult.Mode m : RunResult.Mode.values()) {
            XYSeries s = new XYSeries(m.label);
            for (Bucket b : buckets) if (b.mode() == m) s.add((b.lo() + b.hi()) / 2.0, b.meanMs());
            if (s.getItemCount() > 0) data.addSeries(s);
        }
        NumberAxis x = new NumberAxis("context length (tokens attended)");
        LogAxis y = new LogAxis("ms per token");
        y.setSmallestValue(1e-4);
        writeChart(file, title, data, x, y);
    }

    private static void writeChart(Path file, String title, XYSeriesCollection data,
                                   org.jfree.chart.axis.ValueAxis x, org.jfree.chart.axis.ValueAxis y) throws IOException {
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
        XYPlot plot = new XYPlot(data, x, y, renderer);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(java.awt.Color.WHITE);
        Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), ".kvdecode-", ".png.tmp");
        try {
            ChartUtils.saveChartAsPNG(tmp.toFile(), chart, 900, 560);
            publish(tmp, file);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Renames the finished temp file over the target, readable like any file the user writes. */
    private static void publish(Path tmp, Path file) throws IOException {
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
