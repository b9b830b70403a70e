// How long a running stream stalls while a long prompt is admitted beside it (docs/BENCHMARKS.md,
// "Serving"): client A streams a greedy completion; after its 20th chunk client B sends a long
// prompt (max_tokens 1). Prints, per server, the median over trials of A's longest gap between two
// chunks while B was in flight, A's mean time per token before B, and B's latency. Give two servers, one
// with --prefill-chunk 0 and one with chunks, to compare them side by side in one run (the trials
// alternate between them). JDK only:
//
//   java -jar server/target/kvdecode-server.jar serve --port 8081 --prefill-chunk 0 &
//   java -jar server/target/kvdecode-server.jar serve --port 8082 --prefill-chunk 16 &
//   java scripts/serve-stall.java --urls http://127.0.0.1:8081,http://127.0.0.1:8082 --trials 7 --long 240
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

public class ServeStall {
    static final String TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n";

    public static void main(String[] args) throws Exception {
        List<String> urls = List.of("http://127.0.0.1:8080");
        int trials = 5, longChars = 240, maxTokens = 120;
        for (int i = 0; i < args.length; i += 2) {
            switch (args[i]) {
                case "--urls" -> urls = List.of(args[i + 1].split(","));
                case "--trials" -> trials = Integer.parseInt(args[i + 1]);
                case "--long" -> longChars = Integer.parseInt(args[i + 1]);
                case "--max-tokens" -> maxTokens = Integer.parseInt(args[i + 1]);
                default -> { System.err.println("serve-stall: unknown option " + args[i]); System.exit(2); }
            }
        }
        String longPrompt = TEXT.repeat(longChars / TEXT.length() + 1).substring(0, longChars);
        HttpClient http = HttpClient.newHttpClient();
        double[][] stall = new double[urls.size()][trials], gap = new double[urls.size()][trials], lat = new double[urls.size()][trials];
        for (int t = 0; t < trials; t++)
            for (int u = 0; u < urls.size(); u++) {
                double[] r = trial(http, urls.get(u), longPrompt, maxTokens);
                stall[u][t] = r[0];
                gap[u][t] = r[1];
                lat[u][t] = r[2];
            }
        System.out.printf("%-28s %22s %22s %18s%n", "server", "A's longest gap (ms)", "A's ms/token before B", "B latency (ms)");
        for (int u = 0; u < urls.size(); u++)
            System.out.printf("%-28s %22.1f %22.1f %18.1f%n", urls.get(u), median(stall[u]), median(gap[u]), median(lat[u]));
    }

    /** {A's longest gap while B was in flight, A's mean time per token before B, B's latency}, in ms. */
    static double[] trial(HttpClient http, String url, String longPrompt, int maxTokens) throws Exception {
        HttpRequest a = post(url, "{\"model\":\"shakespeare-char\",\"prompt\":\"ROMEO:\",\"max_tokens\":" + maxTokens + ",\"temperature\":0,\"stream\":true}");
        HttpResponse<java.io.InputStream> resp = http.send(a, HttpResponse.BodyHandlers.ofInputStream());
        List<Long> chunks = new ArrayList<>();
        long bStart = 0;
        CompletableFuture<Long> bEnd = null;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(resp.body()))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (!line.startsWith("data: ") || line.equals("data: [DONE]")) continue;
                chunks.add(System.nanoTime());
                if (chunks.size() == 20) {
                    bStart = System.nanoTime();
                    bEnd = http.sendAsync(post(url, "{\"model\":\"shakespeare-char\",\"prompt\":" + json(longPrompt) + ",\"max_tokens\":1,\"temperature\":0}"),
                            HttpResponse.BodyHandlers.ofString()).thenApply(x -> System.nanoTime());
                }
            }
        }
        long end = bEnd.get();
        double longest = 0;
        for (int i = 1; i < chunks.size(); i++) {
            double g = (chunks.get(i) - chunks.get(i - 1)) / 1e6;
            if (chunks.get(i) > bStart && chunks.get(i - 1) <= end) longest = Math.max(longest, g);
        }
        // chunks 1..20 arrived before B was sent (chunks come in bursts, so a mean, not a median of gaps)
        double perToken = (chunks.get(19) - chunks.get(0)) / 1e6 / 19;
        return new double[] {longest, perToken, (end - bStart) / 1e6};
    }

    static HttpRequest post(String url, String body) {
        return HttpRequest.newBuilder(URI.create(url + "/v1/completions")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    static String json(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length == 0 ? Double.NaN : s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
