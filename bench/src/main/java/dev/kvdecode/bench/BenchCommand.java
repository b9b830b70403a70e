package dev.kvdecode.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cli.OutputFiles;
import dev.kvdecode.runtime.cli.UsageException;
import dev.kvdecode.runtime.engine.Sizes;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.cli.BackendOptions;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.model.RandomWeights;
import dev.kvdecode.runtime.cpu.CpuBackend;
import dev.kvdecode.runtime.cuda.CudaBackend;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code kvdecode bench}: the tutorial's experiment. Generates N tokens one at a time from a single
 * start token, with the KV cache and without it (recomputing the whole window every step), and
 * reports time, tokens/s, the speed-up, the per-token cost by context length, and the roofline.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Time cached vs recomputed decoding (the KV-cache tutorial's experiment) and write a table, CSV and PNG charts.")
public final class BenchCommand implements Callable<Integer> {

    @Mixin BackendOptions backendOptions = new BackendOptions();

    @Option(names = "--preset", description = "random weights of a named shape: char-1024 (default), gpt2, gpt2-medium, smollm2-135m, llama-3.2-1b (cpu)")
    String preset;

    @Option(names = "--model", description = "a model directory (real weights) instead of a preset")
    Path modelDir;

    @Option(names = "--batch", defaultValue = "1", description = "sequences decoded together (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--steps", split = ",", description = "token counts to generate (default: 100,500,1000,5000,10000)")
    int[] steps = {100, 500, 1000, 5000, 10000};

    @Option(names = "--modes", split = ",", description = "cached, recompute and/or loop (the session's own generate loop: "
            + "device-resident on CUDA; default: cached,recompute)")
    String[] modes = {"cached", "recompute"};

    @Option(names = "--overflow", defaultValue = "shift", description = "shift or ring when the window is full (default: ${DEFAULT-VALUE})")
    String overflow;

    @Option(names = "--context", description = "window / cache capacity in tokens (default: the model's n_positions)")
    Integer context;

    @Option(names = "--reps", defaultValue = "1", description = "timed repetitions per (steps, mode); the median is reported (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--warmup", description = "untimed tokens generated per mode before timing (default: 256 on the CPU, "
            + "where C2 compiles the kernels during the first ~200 tokens on the same cores; 50 elsewhere)")
    Integer warmupOption;
    int warmupTokens;

    @Option(names = "--max-recompute-steps",
            description = "skip recompute runs longer than this (recompute is quadratic; default: 1000 on the CPU "
                    + "and the emulator, where 10,000 recomputed tokens take hours; no limit on a GPU)")
    Integer maxRecomputeSteps;

    /** The effective limit, set once the backend is known. */
    private int recomputeLimit = Integer.MAX_VALUE;

    @Option(names = "--charts", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "write bench.png and per-token.png (--no-charts: CSV only, e.g. on a JRE without java.desktop; default: ${DEFAULT-VALUE})")
    boolean charts = true;

    @Option(names = "--out", defaultValue = "bench-out", description = "folder for bench.csv, per-token.csv, bench.png, per-token.png (default: ${DEFAULT-VALUE})")
    Path outDir;

    @Option(names = "--json", description = "print one JSON object with every result instead of the table")
    boolean json;

    @Option(names = "--profile", description = "CUDA backends: print the launches of one cached decode step (kernel, grid, block, "
            + "dynamic shared memory, bytes its shapes imply), as the launchers record them")
    boolean profile;

    @Option(names = "--seed", defaultValue = "1234", description = "seed of the random weights (default: ${DEFAULT-VALUE})")
    long seed;

    @Override
    public Integer call() throws IOException {
        System.setProperty("java.awt.headless", "true");
        validate();
        // The output folder is checked before any work; the files appear together at the end.
        try (OutputFiles outputs = OutputFiles.checkDirectory("--out", outDir, charts
                ? List.of("bench.csv", "per-token.csv", "bench.png", "per-token.png") : List.of("bench.csv", "per-token.csv"))) {
            return run(outputs);
        }
    }

    private Integer run(OutputFiles outputs) throws IOException {
        List<RunResult.Mode> modeList = parseModes();
        OverflowPolicy policy = switch (overflow) {
            case "shift" -> OverflowPolicy.SHIFT;
            case "ring" -> OverflowPolicy.RING;
            default -> throw new UsageException("--overflow: expected shift or ring, got '" + overflow + "'");
        };
        Model model = loadModel();
        ModelConfig cfg = model.config();
        int ctx = context != null ? context : cfg.nPositions();
        if (ctx > cfg.nPositions())
            throw new UsageException("--context: " + ctx + " exceeds the model's n_positions " + cfg.nPositions());
        int[] sortedSteps = Arrays.stream(steps).sorted().distinct().toArray();
        // Every run keeps its per-step timings (a long and an int per token) until the report.
        long timingBytes = 0;
        for (int n : sortedSteps) timingBytes = Sizes.add(timingBytes, Sizes.add(Sizes.mul(n, 12), 2 * 24));
        Sizes.checkHeap("--steps " + Arrays.stream(steps).mapToObj(Integer::toString).collect(java.util.stream.Collectors.joining(","))
                + " --reps " + reps + ": the per-step timings", Sizes.mul(timingBytes, reps, modes.length), "use fewer --steps or --reps");

        PrintStream out = System.out;
        try (Backend backend = backendOptions.openHoldingNotices()) {
            warmupTokens = warmupOption != null ? warmupOption : backend.name().equals("cpu") ? 256 : 50;
            recomputeLimit = maxRecomputeSteps != null ? maxRecomputeSteps
                    : backend.name().equals("cuda") ? Integer.MAX_VALUE : 1000;
            Roofline roofline = backend instanceof CpuBackend cpu && model.stored() != null
                    && cpu.weightFormat() == dev.kvdecode.runtime.cpu.CpuWeightFormat.FP32
                    // a GGUF kept quantized: the bytes its matrices take, per weight
                    ? new Roofline(cfg, batch, (double) model.stored().bytes() / new Roofline(cfg, batch, 4).matmulParams(), 4,
                            cpu.kvBf16() ? 2 : 4)
                    : backend instanceof CpuBackend cpu
                    ? new Roofline(cfg, batch, cpu.weightFormat().bytesPerWeight(), 4, cpu.kvBf16() ? 2 : 4)
                    : new Roofline(cfg, batch, dtypeBytes());
            // The ceiling a memory-bound step is compared with: host copy rate on the CPU, a
            // device-to-device copy on CUDA (smaller on the emulator, where it is a host memcpy).
            // One session opened and closed first: a --batch or --context that does not fit this
            // heap or device ends here, in one line, before anything is printed.
            try (InferenceSession probe = backend.open(model, new SessionOptions(batch, ctx, policy,
                    modeList.stream().anyMatch(RunResult.Mode::usesCache)))) {
                // nothing: the constructor's checks and allocations are the point
            }
            backendOptions.printNotices(new java.io.PrintWriter(System.err, true));
            double copyGBps = backend instanceof CudaBackend cuda
                    ? MemoryBandwidth.deviceCopyGBps(cuda.gpu(), backend.name().equals("cuda") ? 1L << 30 : 64L << 20)
                    : MemoryBandwidth.hostCopyGBps();
            if (!json) {
                out.printf(Locale.ROOT, "kvdecode bench: model %s (L=%d C=%d NH=%d V=%d maxT=%d), backend %s, dtype %s, batch %d, context %d, overflow %s%n",
                        model.name(), cfg.nLayer(), cfg.nEmbd(), cfg.nHead(), cfg.vocabSize(), cfg.nPositions(),
                        backend.name(), backendOptions.dtype()
                                + (backend instanceof CpuBackend c && c.kvBf16() ? " (KV cache bf16)" : ""), batch, ctx, overflow);
                out.printf(Locale.ROOT, "weights %.1f MB per step; measured %s copy rate %.1f GB/s (read+write)%n",
                        roofline.weightBytes() / 1e6, backend instanceof CudaBackend ? "device" : "host", copyGBps);
            }
            long totalTokens = 0;
            for (RunResult.Mode m : modeList)
                for (int n : sortedSteps) if (runs(m, n)) totalTokens += (long) n * reps;
            List<RunResult> results = new ArrayList<>();
            try (ProgressBar bar = progressBar(totalTokens)) {
                for (RunResult.Mode m : modeList) {
                    warmUp(backend, model, m, ctx, policy);
                    for (int n : sortedSteps) {
                        if (!runs(m, n)) continue;
                        for (int r = 0; r < reps; r++)
                            results.add(Experiment.run(backend, model, new SessionOptions(batch, ctx, policy, m.usesCache()),
                                    m, n, r, bar));
                    }
                }
            }
            if (!json && modeList.contains(RunResult.Mode.RECOMPUTE)
                    && Arrays.stream(sortedSteps).anyMatch(n -> n > recomputeLimit))
                out.printf(Locale.ROOT, "recompute runs over %d tokens skipped on %s (--max-recompute-steps)%n",
                        recomputeLimit, backend.name());
            List<Reports.Row> rows = summarize(results, modeList, sortedSteps, roofline, copyGBps);
            List<Reports.Bucket> buckets = buckets(results, ctx);
            try {
                Reports.writeSummaryCsv(outputs.stage("bench.csv"), rows);
                Reports.writeBucketCsv(outputs.stage("per-token.csv"), buckets);
                String title = String.format(Locale.ROOT, "%s on %s: cached vs recompute (context %d)", model.name(), backend.name(), ctx);
                if (charts) {
                    Charts.writeTimeChart(outputs.stage("bench.png"), rows, title);
                    Charts.writeBucketChart(outputs.stage("per-token.png"), buckets, "time per token vs context length");
                }
            } catch (IOException e) {
                throw new UsageException("--out " + outDir + ": cannot write the results (" + e.getMessage() + ")");
            }
            outputs.publish();
            List<dev.kvdecode.kernels.cuda.CudaKernels.Launch> launches = backend instanceof CudaBackend cuda && (json || profile)
                    ? stepLaunches(cuda, model, ctx, policy) : null;
            if (json) printJson(out, model, backend, ctx, copyGBps, rows, buckets, launches);
            else {
                if (launches != null) printLaunches(out, launches);
                Reports.printTable(out, rows);
                out.println("wrote " + outDir.resolve("bench.csv") + ", per-token.csv" + (charts ? ", bench.png, per-token.png" : ""));
            }
        }
        return 0;
    }

    /**
     * Limits that keep a typo from running for days: 10 million tokens is a thousand times the
     * tutorial's longest run (its per-step timings alone take 120 MB), 1,000 repetitions
     * of a run are far more than a median needs.
     */
    static final int MAX_STEPS = 10_000_000, MAX_REPS = 1_000;

    private boolean runs(RunResult.Mode m, int n) {
        return m.usesCache() || n <= recomputeLimit;
    }

    private void validate() {
        if (batch < 1) throw new UsageException("--batch: must be >= 1, got " + batch);
        if (reps < 1) throw new UsageException("--reps: must be >= 1, got " + reps);
        if (warmupOption != null && warmupOption < 0) throw new UsageException("--warmup: must be >= 0, got " + warmupOption);
        if (reps > MAX_REPS) throw new UsageException("--reps: at most " + MAX_REPS + ", got " + reps);
        if (steps.length == 0) throw new UsageException("--steps: give at least one token count");
        for (int s : steps)
            if (s < 1 || s > MAX_STEPS) throw new UsageException("--steps: token counts must be in 1.." + MAX_STEPS + ", got " + s);
        if (maxRecomputeSteps != null && maxRecomputeSteps < 0)
            throw new UsageException("--max-recompute-steps: must be >= 0, got " + maxRecomputeSteps);
        if (context != null && context < 1) throw new UsageException("--context: must be >= 1, got " + context);
        if (preset != null && modelDir != null) throw new UsageException("--preset and --model are exclusive");
        if (!List.of("fp32", "fp16", "bf16", "int8").contains(backendOptions.dtype()))
            throw new UsageException("--dtype: expected fp32, fp16, bf16 or int8 (CPU only), got '" + backendOptions.dtype() + "'");
    }

    private List<RunResult.Mode> parseModes() {
        List<RunResult.Mode> list = new ArrayList<>();
        for (String s : modes) {
            RunResult.Mode m = switch (s) {
                case "cached" -> RunResult.Mode.CACHED;
                case "recompute" -> RunResult.Mode.RECOMPUTE;
                case "loop" -> RunResult.Mode.LOOP;
                default -> throw new UsageException("--modes: expected cached, recompute or loop, got '" + s + "'");
            };
            if (!list.contains(m)) list.add(m);
        }
        return list;
    }

    private int dtypeBytes() { return backendOptions.dtype().equals("fp32") ? 4 : 2; }

    private Model loadModel() {
        if (modelDir != null && dev.kvdecode.runtime.model.gguf.GgufModels.isGguf(modelDir))
            return ModelLoader.load(modelDir);   // a GGUF: its quantized matrices kept as stored (issue 20)
        if (modelDir != null) {
            // the weights only: bench feeds token ids, so a model without a usable tokenizer runs too
            var w = ModelLoader.loadWeights(modelDir);
            var name = modelDir.toAbsolutePath().normalize().getFileName();
            return new Model(name == null ? modelDir.toString() : name.toString(), w.config(), w, null);
        }
        String name = preset == null ? "char-1024" : preset;
        RandomWeights.Preset p = RandomWeights.Preset.fromCli(name);
        if (p == null) throw new UsageException("--preset: expected char-1024, gpt2, gpt2-medium, smollm2-135m or llama-3.2-1b, got '" + name + "'");
        ModelConfig cfg = p.config();
        return new Model(name + " (random weights)", cfg, RandomWeights.create(cfg, seed), null);
    }

    private void warmUp(Backend backend, Model model, RunResult.Mode m, int ctx, OverflowPolicy policy) {
        if (warmupTokens == 0) return;
        Experiment.run(backend, model, new SessionOptions(batch, ctx, policy, m.usesCache()),
                m, Math.min(warmupTokens, ctx), -1, null);
    }

    private ProgressBar progressBar(long total) {
        boolean show = !json && System.console() != null && System.getenv("CI") == null;
        if (!show) return null;
        return new ProgressBarBuilder().setTaskName("bench").setInitialMax(total).setUnit(" tok", 1)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(250).continuousUpdate().build();
    }

    private List<Reports.Row> summarize(List<RunResult> results, List<RunResult.Mode> modeList, int[] sortedSteps,
                                        Roofline roofline, double copyGBps) {
        List<Reports.Row> rows = new ArrayList<>();
        for (int n : sortedSteps) {
            double recomputeSeconds = Double.NaN;
            for (RunResult.Mode m : List.of(RunResult.Mode.RECOMPUTE, RunResult.Mode.CACHED, RunResult.Mode.LOOP)) {
                if (!modeList.contains(m)) continue;
                List<RunResult> reps = results.stream().filter(r -> r.mode() == m && r.steps() == n)
                        .sorted((a, b) -> Long.compare(a.totalNanos(), b.totalNanos())).toList();
                if (reps.isEmpty()) continue;
                RunResult med = reps.get(reps.size() / 2);
                double bytes = 0, flops = 0, ctxSum = 0;
                for (int len : med.contextLens()) {
                    ctxSum += len;
                    bytes += m.usesCache() ? roofline.cachedStepBytes(len) : roofline.recomputeStepBytes(len);
                    flops += m.usesCache() ? roofline.cachedStepFlops(len) : roofline.recomputeStepFlops(len);
                }
                double secs = med.seconds();
                double gbps = bytes / secs / 1e9;
                if (m == RunResult.Mode.RECOMPUTE) recomputeSeconds = secs;
                double speedup = m.usesCache() ? recomputeSeconds / secs : Double.NaN;
                rows.add(new Reports.Row(n, m, secs, med.tokensPerSecond(batch), speedup, ctxSum / med.steps(),
                        gbps, gbps / copyGBps, flops / secs / 1e9));
            }
        }
        return rows;
    }

    /** Per-token cost by context length, from the longest run of each mode. */
    private static List<Reports.Bucket> buckets(List<RunResult> results, int ctx) {
        List<Reports.Bucket> out = new ArrayList<>();
        int width = Math.max(1, ctx / 16);
        for (RunResult.Mode m : RunResult.Mode.values()) {
            RunResult longest = results.stream().filter(r -> r.mode() == m)
                    .max((a, b) -> Integer.compare(a.steps(), b.steps())).orElse(null);
            if (longest == null) continue;
            int nb = (ctx + width - 1) / width;
            double[] sum = new double[nb];
            int[] count = new int[nb];
            for (int i = 0; i < longest.steps(); i++) {
                int b = Math.min(nb - 1, (longest.contextLens()[i] - 1) / width);
                sum[b] += longest.stepNanos()[i] / 1e6;
                count[b]++;
            }
            for (int b = 0; b < nb; b++)
                if (count[b] > 0)
                    out.add(new Reports.Bucket(m, b * width + 1, Math.min(ctx, (b + 1) * width), count[b], sum[b] / count[b]));
        }
        return out;
    }

    /** The launches of one cached decode step of this run's shape (a fresh session, a 1-token prompt per sequence). */
    private List<dev.kvdecode.kernels.cuda.CudaKernels.Launch> stepLaunches(CudaBackend cuda, Model model, int ctx, OverflowPolicy policy) {
        try (var s = cuda.open(model, new SessionOptions(batch, ctx, policy, true))) {
            int[][] prompts = new int[batch][];
            for (int b = 0; b < batch; b++) prompts[b] = new int[] {0};
            s.prefill(prompts);
            return s.recordStep(new int[batch]);
        }
    }

    private static void printLaunches(PrintStream out, List<dev.kvdecode.kernels.cuda.CudaKernels.Launch> launches) {
        out.printf(Locale.ROOT, "launches per decode step: %d%n", launches.size());
        out.printf(Locale.ROOT, "%4s  %-36s %-14s %-6s %8s %12s%n", "#", "kernel", "grid", "block", "smem B", "bytes");
        int i = 0;
        for (var l : launches)
            out.printf(Locale.ROOT, "%4d  %-36s %-14s %-6d %8d %12s%n", i++, l.kernel(),
                    l.grid().x() + "x" + l.grid().y() + "x" + l.grid().z(), l.block().x(), l.sharedMemBytes(),
                    l.bytes() > 0 ? Long.toString(l.bytes()) : "-");
    }

    private void printJson(PrintStream out, Model model, Backend backend, int ctx, double copyGBps,
                           List<Reports.Row> rows, List<Reports.Bucket> buckets,
                           List<dev.kvdecode.kernels.cuda.CudaKernels.Launch> launches) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.put("model", model.name());
        root.put("backend", backend.name());
        root.put("dtype", backendOptions.dtype());
        root.put("batch", batch);
        root.put("context", ctx);
        root.put("overflow", overflow);
        root.put("copy_gb_per_s", copyGBps);
        ArrayNode rs = root.putArray("results");
        for (Reports.Row r : rows) {
            ObjectNode o = rs.addObject();
            o.put("steps", r.steps());
            o.put("mode", r.mode().label);
            o.put("seconds", r.seconds());
            o.put("tokens_per_s", r.tokensPerSecond());
            if (!Double.isNaN(r.speedup())) o.put("speedup_vs_recompute", r.speedup());
            o.put("achieved_gb_per_s", r.gbPerSecond());
            o.put("fraction_of_copy_bandwidth", r.fractionOfBandwidth());
            o.put("gflop_per_s", r.gflopPerSecond());
        }
        if (launches != null) {
            root.put("launches_per_step", launches.size());
            ArrayNode ks = root.putArray("step_kernels");
            for (var l : launches) {
                ObjectNode o = ks.addObject();
                o.put("name", l.kernel());
                o.putArray("grid").add(l.grid().x()).add(l.grid().y()).add(l.grid().z());
                o.putArray("block").add(l.block().x()).add(l.block().y()).add(l.block().z());
                o.put("dynamic_smem_bytes", l.sharedMemBytes());
                o.put("bytes", l.bytes());
            }
        }
        ArrayNode bs = root.putArray("per_token");
        for (Reports.Bucket b : buckets) {
            ObjectNode o = bs.addObject();
            o.put("mode", b.mode().label);
            o.put("context_lo", b.lo());
            o.put("context_hi", b.hi());
            o.put("mean_ms_per_token", b.meanMs());
        }
        out.println(mapper.writeValueAsString(root));
    }
}
