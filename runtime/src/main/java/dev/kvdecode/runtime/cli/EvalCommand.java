package dev.kvdecode.runtime.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.engine.Sizes;
import dev.kvdecode.runtime.model.Model;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code kvdecode eval}: mean cross-entropy per token of a text, by cache-free teacher forcing.
 *
 * <p>The token sequence x_0..x_{N-1} is cut into windows of P + 1 tokens that overlap by one
 * (window i covers x_{iP} .. x_{iP+P}); the model reads the first P tokens of a window at
 * positions 0..P-1 in one causal pass and every prediction of x_{iP+1} .. x_{iP+P} is scored.
 * The last, partial window is scored too when it has at least two tokens. So every token but
 * the first is predicted exactly once, and the figure matches scripts/train_char_gpt.py's.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Mean cross-entropy per token of a text file (teacher forcing over windows of the model's context).")
final class EvalCommand implements Callable<Integer> {
    @Mixin ModelOptions model = new ModelOptions();
    @Mixin BackendOptions backendOptions = new BackendOptions();
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--text-file", required = true, paramLabel = "FILE", description = "UTF-8 text to score")
    Path textFile;

    @Option(names = "--context", description = "window length P (default: the model's n_positions)")
    Integer context;

    @Option(names = "--max-tokens", description = "score only the first N tokens of the text")
    Integer maxTokens;

    @Option(names = "--json", description = "print one JSON object")
    boolean json;

    @Override
    public Integer call() throws IOException {
        String text = readText(textFile);
        Model m = model.load();
        int p = context != null ? context : m.config().nPositions();
        if (p < 1 || p > m.config().nPositions())
            throw new UsageException("--context: must be in 1.." + m.config().nPositions() + ", got " + p);
        if (maxTokens != null && maxTokens < 2) throw new UsageException("--max-tokens: must be >= 2, got " + maxTokens);
        int[] ids = m.tokenizer().encode(text);
        if (maxTokens != null && ids.length > maxTokens) ids = java.util.Arrays.copyOf(ids, maxTokens);
        if (ids.length < 2) throw new UsageException("--text-file " + textFile + ": needs at least 2 tokens, has " + ids.length);

        long t0 = System.nanoTime();
        double nll = 0;
        long scored = 0;
        int windows = 0;
        int v = m.config().vocabSize();
        try (Backend backend = backendOptions.openHoldingNotices();
             InferenceSession session = backend.open(m, new SessionOptions(1, p, OverflowPolicy.STOP, false))) {
            backendOptions.printNotices(spec.commandLine().getErr());
            for (int start = 0; start + 1 < ids.length; start += p) {
                int n = Math.min(p, ids.length - 1 - start);
                int[] window = java.util.Arrays.copyOfRange(ids, start, start + n);
                float[] logits = session.forwardAll(window); // (n, V)
                for (int i = 0; i < n; i++) nll += crossEntropy(logits, i * v, v, ids[start + i + 1]);
                scored += n;
                windows++;
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        double mean = nll / scored;
        var out = spec.commandLine().getOut();
        if (json) {
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode o = mapper.createObjectNode();
            o.put("model", m.name());
            o.put("text_file", textFile.toString());
            o.put("tokens_scored", scored);
            o.put("windows", windows);
            o.put("context", p);
            o.put("dtype", backendOptions.dtype());
            o.put("mean_cross_entropy_nats", mean);
            o.put("perplexity", Math.exp(mean));
            o.put("seconds", seconds);
            out.println(mapper.writeValueAsString(o));
        } else {
            out.printf(Locale.ROOT, "%s: %d tokens scored in %d windows of %d: mean cross-entropy %.4f nats/token (perplexity %.3f), %.1f s%n",
                    textFile, scored, windows, p, mean, Math.exp(mean), seconds);
        }
        out.flush();
        return 0;
    }

    /** -log softmax(logits)[target], with the max shift and a double-precision log-sum-exp. */
    static double crossEntropy(float[] logits, int off, int v, int target) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < v; j++) max = Math.max(max, logits[off + j]);
        double sum = 0;
        for (int j = 0; j < v; j++) sum += Math.exp(logits[off + j] - max);
        return Math.log(sum) - (logits[off + target] - max);
    }

    private static String readText(Path file) {
        if (!Files.isRegularFile(file)) throw new UsageException("--text-file " + file + ": no such file");
        try {
            // the bytes, the decoded chars (up to 2 bytes each) and the token ids (up to 4 bytes per byte)
            long sizeBytes = Files.size(file);
            Sizes.arrayLength("--text-file " + file + ": its bytes", sizeBytes);
            Sizes.checkHeap("--text-file " + file + " (" + Sizes.gib(sizeBytes) + ")", Sizes.mul(sizeBytes, 7),
                    "use a smaller file");
            return StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file))).toString();
        } catch (CharacterCodingException e) {
            throw new UsageException("--text-file " + file + ": not valid UTF-8");
        } catch (IOException e) {
            throw new UsageException("--text-file " + file + ": cannot read (" + e.getMessage() + ")");
        }
    }
}
