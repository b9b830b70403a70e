package dev.kvdecode.bench;

import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The PNG charts of {@code kvdecode bench}. Kept apart from {@link Reports} so that a JRE without
 * java.desktop (the jlink'd runtime carried to a GPU machine) can write the table and CSVs with
 * {@code --no-charts}: loading this class is what needs java.awt.
 */
final class Charts {
    private Charts() {}

    /** Time vs steps, both modes, log-log axes. */
    static void writeTimeChart(Path file, List<Reports.Row> rows, String title) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (RunResult.Mode m : RunResult.Mode.values()) {
            XYSeries s = new XYSeries(m.label);
            for (Reports.Row r : rows) if (r.mode() == m) s.add(r.steps(), r.seconds());
            if (s.getItemCount() > 0) data.addSeries(s);
        }
        LogAxis x = new LogAxis("tokens generated");
        x.setSmallestValue(1);
        LogAxis y = new LogAxis("seconds");
        y.setSmallestValue(1e-4);
        writeChart(file, title, data, x, y);
    }

    /** Per-token time vs context length: recompute grows with the context, the cached step stays nearly flat. */
    static void writeBucketChart(Path file, List<Reports.Bucket> buckets, String title) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (RunResult.Mode m : RunResult.Mode.values()) {
            XYSeries s = new XYSeries(m.label);
            for (Reports.Bucket b : buckets) if (b.mode() == m) s.add((b.lo() + b.hi()) / 2.0, b.meanMs());
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
            Reports.publish(tmp, file);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

}
