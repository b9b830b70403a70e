import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import com.github.tjake.jlama.tensor.operations.TensorOperationsProvider;
import com.github.tjake.jlama.util.PhysicalCoreExecutor;
import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * Jlama 0.8.4 as a peer of scripts/peers/cpu_peers.py (issue 9): greedy decode of a GPT-2
 * checkpoint from given prompt token ids, timed the way the script times the other peers.
 *
 * <p>Usage: {@code JlamaPeer MODEL_DIR THREADS PROMPT_IDS_JSON NEW_TOKENS}. Prints one JSON line:
 * {@code prefill_ms} (prompt forward pass plus the first sampled token), {@code decode_ms} and
 * {@code decode_tokens} (the NEW_TOKENS single-token steps after it, so decode tokens/s excludes
 * the prefill) and the NEW_TOKENS + 1 generated {@code tokens}.
 *
 * <p>Why not {@code Generator.generate}: it encodes a prompt string with Jlama's own tokenizer,
 * prepends BOS, stops at EOS and times in whole milliseconds. This loop makes the same public calls
 * it makes per token ({@code batchForward} for the prompt, then {@code forward} and {@code sample}
 * at temperature 0), but feeds the exact prompt ids the other peers get and always runs
 * NEW_TOKENS steps. The JVM is cold, as for our own {@code kvdecode generate}: no warm-up run.
 */
public final class JlamaPeer {
    private JlamaPeer() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: JlamaPeer MODEL_DIR THREADS PROMPT_IDS_JSON NEW_TOKENS");
            System.exit(2);
        }
        File modelDir = new File(args[0]);
        int threads = Integer.parseInt(args[1]);
        int[] promptIds = parseIds(args[2]);
        int newTokens = Integer.parseInt(args[3]);

        // Jlama's PhysicalCoreExecutor defaults to availableProcessors()/2 threads (it assumes SMT);
        // the Optional thread count makes loadModel override it before the pool starts.
        // F32 working memory and no quantization: the fp32 row of the peers table.
        AbstractModel model = ModelSupport.loadModel(
                modelDir, null, DType.F32, DType.F32, Optional.empty(), Optional.of(threads));
        // One-time set-up outside the timed region, as loading is for the other peers: Jlama picks
        // its tensor operations and starts its thread pool on first use.
        String tensorOps = TensorOperationsProvider.get().name();
        int poolThreads = PhysicalCoreExecutor.instance.get().getCoreCount();
        int vocabSize = model.getConfig().vocabularySize;
        List<Integer> tokens = new ArrayList<>(newTokens + 1);
        long prefillNs;
        long decodeNs;
        try (KvBufferCache cache = new KvBufferCache(model);
                KvBufferCache.KvBuffer kv = cache.getKvBuffer(UUID.randomUUID());
                AbstractTensor logits = model.makeDenseTensor(vocabSize)) {
            long t0 = System.nanoTime();
            AbstractTensor hidden = model.batchForward(promptIds, 0, kv);
            int next = model.sample(hidden.slice(hidden.shape().first() - 1), 0f, 0f, logits);
            hidden.close();
            long t1 = System.nanoTime();
            tokens.add(next);
            for (int pos = promptIds.length; tokens.size() < newTokens + 1; pos++) {
                AbstractTensor out = model.forward(next, pos, kv, Optional.empty());
                next = model.sample(out, 0f, 0f, logits);
                out.close();
                kv.incrementContextPosition();
                tokens.add(next);
            }
            long t2 = System.nanoTime();
            prefillNs = t1 - t0;
            decodeNs = t2 - t1;
        } finally {
            model.close();
        }
        System.out.printf(
                "{\"prefill_ms\": %.3f, \"decode_ms\": %.3f, \"decode_tokens\": %d, \"threads\": %d, "
                        + "\"tensor_ops\": \"%s\", \"tokens\": %s}%n",
                prefillNs / 1e6, decodeNs / 1e6, newTokens, poolThreads, tensorOps, tokens);
        // Jlama's ForkJoinPool threads are not daemons in every version; do not wait on them.
        System.exit(0);
    }

    /** Parses a JSON array of ints such as {@code [464, 2068]}. */
    private static int[] parseIds(String json) {
        String body = json.strip();
        if (!body.startsWith("[") || !body.endsWith("]")) {
            throw new IllegalArgumentException("PROMPT_IDS_JSON must be a JSON array of ints: " + json);
        }
        return Arrays.stream(body.substring(1, body.length() - 1).split(","))
                .map(String::strip)
                .filter(s -> !s.isEmpty())
                .mapToInt(Integer::parseInt)
                .toArray();
    }
}
