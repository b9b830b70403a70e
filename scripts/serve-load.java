// Load generator for kvdecode serve (docs/BENCHMARKS.md, "Serving"): N concurrent clients each
// send R streaming completions back to back; prints, per client count, the aggregate generated
// tokens per second (all clients' completion tokens over the wall time of the level) and the
// p50/p99 time to first token (request sent -> first text chunk). JDK only, no dependencies:
//
//   ./kvdecode serve --max-batch 32 --port 8080 &
//   java scripts/serve-load.java --url http://127.0.0.1:8080 --clients 1,4,16,32 --requests 4 --max-tokens 64
//
// Prompts differ per request; sampling is seeded (temperature 0.8), so runs are repeatable.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class ServeLoad {
    static final Pattern USAGE = Pattern.compile("\"completion_tokens\":(\\d+)");
    static final String[] NAMES = {"ROMEO", "JULIET", "KING RICHARD", "QUEEN", "First Citizen", "MENENIUS", "Nurse", "GLOUCESTER"};

    record Result(double ttftMs, int tokens) {}

    public static void main(String[] args) throws Exception {
        String url = "http://127.0.0.1:8080", model = null;
        List<Integer> levels = List.of(1, 4, 16, 32);
        int requests = 4, maxTokens = 64;
        for (int i = 0; i < args.length; i += 2) {
            switch (args[i]) {
                case "--url" -> url = args[i + 1];
                case "--model" -> model = args[i + 1];
                case "--clients" -> levels = java.util.Arrays.stream(args[i + 1].split(",")).map(Integer::valueOf).toList();
                case "--requests" -> requests = Integer.parseInt(args[i + 1]);
                case "--max-tokens" -> maxTokens = Integer.parseInt(args[i + 1]);
                default -> { System.err.println("serve-load: unknown option " + args[i]); System.exit(2); }
            }
        }
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        if (model == null) {
            String body = http.send(HttpRequest.newBuilder(URI.create(url + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString()).body();
            Matcher m = Pattern.compile("\"id\":\"([^\"]+)\"").matcher(body);
            if (!m.find()) { System.err.println("serve-load: no model at " + url + "/v1/models: " + body); System.exit(2); }
            model = m.group(1);
        }
        // warm-up: the server's JIT, one request per level's worth of slots
        run(http, url, model, Math.min(4, levels.stream().max(Integer::compare).orElse(1)), 1, maxTokens, 1000);
        System.out.printf("%-8s %10s %10s %12s %12s %10s%n", "clients", "requests", "tokens", "tokens/s", "p50 TTFT ms", "p99 TTFT ms");
        for (int n : levels) {
            long t0 = System.nanoTime();
            List<Result> rs = run(http, url, model, n, requests, maxTokens, n * 100);
            double wallS = (System.nanoTime() - t0) / 1e9;
            int tokens = rs.stream().mapToInt(Result::tokens).sum();
            List<Double> ttft = new ArrayList<>(rs.stream().map(Result::ttftMs).toList());
            Collections.sort(ttft);
            System.out.printf("%-8d %10d %10d %12.1f %12.1f %10.1f%n", n, rs.size(), tokens, tokens / wallS,
                    pct(ttft, 0.50), pct(ttft, 0.99));
        }
    }

    static double pct(List<Double> sorted, double p) {
        int i = (int) Math.ceil(p * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
    }

    static List<Result> run(HttpClient http, String url, String model, int clients, int requests, int maxTokens, int seed0)
            throws Exception {
        try (ExecutorService pool = Executors.newFixedThreadPool(clients)) {
            List<Future<List<Result>>> fs = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int client = c;
                fs.add(pool.submit(() -> {
                    List<Result> out = new ArrayList<>();
                    for (int r = 0; r < requests; r++) out.add(one(http, url, model, seed0 + client * requests + r, maxTokens));
                    return out;
                }));
            }
            List<Result> all = new ArrayList<>();
            for (Future<List<Result>> f : fs) all.addAll(f.get());
            return all;
        }
    }

    static Result one(HttpClient http, String url, String model, int seed, int maxTokens) throws Exception {
        String prompt = NAMES[seed % NAMES.length] + ":\\n";
        String body = "{\"model\":\"" + model + "\",\"prompt\":\"" + prompt + "\",\"max_tokens\":" + maxTokens
                + ",\"temperature\":0.8,\"seed\":" + seed + ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
        long t0 = System.nanoTime();
        HttpResponse<java.util.stream.Stream<String>> r = http.send(HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofLines());
        if (r.statusCode() != 200) throw new IllegalStateException("HTTP " + r.statusCode());
        double[] ttft = {-1};
        int[] tokens = {0};
        r.body().forEach(line -> {
            if (ttft[0] < 0 && line.startsWith("data: {") && line.contains("\"text\":\"") && !line.contains("\"text\":\"\""))
                ttft[0] = (System.nanoTime() - t0) / 1e6;
            Matcher m = USAGE.matcher(line);
            if (m.find()) tokens[0] = Integer.parseInt(m.group(1));
        });
        return new Result(ttft[0], tokens[0]);
    }
}
