package dev.kvdecode.runtime.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.GenerationOptions;
import dev.kvdecode.runtime.engine.GenerationResult;
import dev.kvdecode.runtime.engine.Generator;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.engine.StopReason;
import dev.kvdecode.runtime.engine.StopTokens;
import dev.kvdecode.runtime.engine.Warmup;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.sample.SamplingParams;
import dev.kvdecode.runtime.tokenizer.ChatMessage;
import dev.kvdecode.runtime.tokenizer.ChatTemplate;
import dev.kvdecode.runtime.tokenizer.StreamDecoder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code kvdecode generate}: text from a prompt, streamed to stdout as it is generated. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate text from a prompt with a KV cache (or, with --kv-cache off, by recomputing the window every step).")
final class GenerateCommand implements Callable<Integer> {
    @Mixin ModelOptions model = new ModelOptions();
    @Mixin BackendOptions backendOptions = new BackendOptions();
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--prompt", description = "prompt text; repeat for a batch of different prompts (default: \"ROMEO:\")")
    List<String> prompts = new ArrayList<>();

    @Option(names = "--max-new-tokens", defaultValue = "200", description = "tokens to generate per sequence (default: ${DEFAULT-VALUE})")
    int maxNewTokens;

    @Option(names = "--greedy", description = "always pick the most likely token")
    boolean greedy;

    @Option(names = "--temperature", defaultValue = "0.8", description = "softmax temperature, >= 0; 0 = greedy (default: ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "sample among the k most likely tokens; 0 = off (default: ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "nucleus sampling mass in (0, 1] (default: ${DEFAULT-VALUE})")
    float topP;

    @Option(names = "--seed", description = "random seed (default: from the clock; printed with --json)")
    Long seed;

    @Option(names = "--kv-cache", defaultValue = "on", description = "on or off (off recomputes the whole window every step; default: ${DEFAULT-VALUE})")
    String kvCache;

    @Option(names = "--overflow", defaultValue = "slide",
            description = "when the window is full: slide (re-encode the last half of the window from position 0), "
                    + "shift, ring (the tutorial's semantics: cached K/V keep their positions, new ones clamp to the last) "
                    + "or stop (default: ${DEFAULT-VALUE})")
    String overflow;

    @Option(names = "--context", description = "window (KV cache capacity) in tokens, <= the model's n_positions (default: n_positions)")
    Integer context;

    @Option(names = "--batch", description = "decode this many sequences together (a single --prompt is repeated; default: the number of prompts)")
    Integer batch;

    @Option(names = "--ignore-eos", description = "keep generating past the end-of-text tokens")
    boolean ignoreEos;

    @Option(names = "--chat", description = "render each --prompt as a user turn with the model's chat template "
            + "(tokenizer_config.json chat_template) and stop at its eos_token as well as the model's eos ids")
    boolean chat;

    @Option(names = "--system", paramLabel = "TEXT", description = "with --chat: a system turn before the user's")
    String system;

    @Option(names = "--json", description = "print exactly one JSON object instead of streaming text")
    boolean json;

    @Override
    public Integer call() throws Exception {
        // Validate every flag before loading anything, so a typo costs nothing.
        if (maxNewTokens < 1) throw new UsageException("--max-new-tokens: must be >= 1, got " + maxNewTokens);
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new UsageException("--temperature: must be >= 0, got " + temperature);
        if (topK < 0) throw new UsageException("--top-k: must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new UsageException("--top-p: must be in (0, 1], got " + topP);
        boolean cached = switch (kvCache) {
            case "on" -> true;
            case "off" -> false;
            default -> throw new UsageException("--kv-cache: expected on or off, got '" + kvCache + "'");
        };
        boolean slide = overflow.equals("slide");
        OverflowPolicy policy = switch (overflow) {
            case "shift" -> OverflowPolicy.SHIFT;
            case "ring" -> OverflowPolicy.RING;
            case "stop", "slide" -> OverflowPolicy.STOP; // slide: the session stops, the generator re-encodes
            default -> throw new UsageException("--overflow: expected slide, shift, ring or stop, got '" + overflow + "'");
        };
        if (system != null && !chat) throw new UsageException("--system: needs --chat");
        if (chat && prompts.isEmpty()) throw new UsageException("--chat: needs a --prompt (the user's message)");
        if (prompts.isEmpty()) prompts.add("ROMEO:");
        for (String p : prompts) if (p.isEmpty()) throw new UsageException("--prompt: must not be empty");
        int b = batch != null ? batch : prompts.size();
        if (b < 1) throw new UsageException("--batch: must be >= 1, got " + b);
        if (prompts.size() > 1 && b != prompts.size())
            throw new UsageException("--batch " + b + " disagrees with the " + prompts.size() + " --prompt values given");
        long seedValue = seed != null ? seed : System.nanoTime();
        SamplingParams sampling = greedy || temperature == 0f ? SamplingParams.greedyDecoding()
                : SamplingParams.of(temperature, topK, topP, seedValue);

        // The backend first, so that it can warm its code up while the model loads (Backend.warmUp).
        Backend backend = backendOptions.openHoldingNotices();
        try {
            return run(backend, b, cached, slide, policy, sampling, seedValue);
        } finally {
            backend.close();
        }
    }

    private Integer run(Backend backend, int b, boolean cached, boolean slide, OverflowPolicy policy,
                        SamplingParams sampling, long seedValue) throws Exception {
        Model m;
        try (Warmup w = backend.warmUp()) {
            m = model.load();
            backend.prepare(m);
        }
        int ctx = context != null ? context : m.config().nPositions();
        if (ctx < 1 || ctx > m.config().nPositions())
            throw new UsageException("--context: must be in 1.." + m.config().nPositions() + " (the model's n_positions), got " + ctx);
        ChatTemplate template = null;
        if (chat) {
            template = ChatTemplate.load(model.resolve()).orElseThrow(() -> new UsageException(
                    "--chat: " + model.resolve() + " has no chat template (chat_template in tokenizer_config.json, or chat_template.jinja)"));
        }
        // Generation stops at any of the model's eos ids, and in a chat at the template's eos_token too.
        int[] eos = StopTokens.of(m, template);
        // Every prompt is encoded once (a repeated prompt's ids are shared by the batch) and checked
        // before the session is opened, so a bad prompt costs nothing.
        List<int[]> encoded = new ArrayList<>();
        for (String p : prompts) {
            int[] e;
            if (template != null) {
                List<ChatMessage> turns = new ArrayList<>();
                if (system != null) turns.add(new ChatMessage("system", system));
                turns.add(new ChatMessage("user", p));
                // The template writes the BOS where the model wants one: no second one (as HF's apply_chat_template).
                e = m.tokenizer().encode(template.render(turns, true), false);
            } else {
                e = m.tokenizer().encode(p);
            }
            if (e.length == 0) throw new UsageException("--prompt: encodes to no tokens");
            if (slide && e.length > ctx) // slide keeps the most recent window of a long prompt
                e = java.util.Arrays.copyOfRange(e, e.length - ctx, e.length);
            if (!slide && policy == OverflowPolicy.STOP && e.length > ctx)
                throw new UsageException("--prompt: " + e.length + " tokens do not fit the context of " + ctx
                        + " with --overflow stop (use --overflow shift or ring, or a shorter prompt)");
            encoded.add(e);
        }

        PrintWriter out = spec.commandLine().getOut();
        boolean stream = !json && b == 1;
        StreamDecoder decoder = m.tokenizer().streamDecoder();
        GenerationResult result;
        String backendUsed;
        int[][] ids;
        // The session checks its memory (KV cache, buffers: heap or device) before it allocates
        // anything; the per-sequence arrays below only follow once that check has passed.
        try (InferenceSession session = backend.open(m, new SessionOptions(b, ctx, policy, cached))) {
            backendUsed = backend.name();
            backendOptions.printNotices(spec.commandLine().getErr());
            ids = new int[b][];
            for (int i = 0; i < b; i++) ids[i] = encoded.get(prompts.size() == 1 ? 0 : i);
            // The prompt is echoed only once the backend is up, so a backend error prints nothing on stdout.
            // A chat prints only the reply, not the rendered template.
            if (stream && !chat) { out.print(prompts.get(0)); out.flush(); }
            GenerationOptions go = new GenerationOptions(maxNewTokens, sampling, eos, ignoreEos,
                    slide ? Math.max(1, ctx / 2) : 0);
            Generator.TokenListener listener = (seq, token) -> {
                if (stream) {
                    String s = decoder.push(token);
                    if (!s.isEmpty()) { out.print(s); out.flush(); }
                }
            };
            // slide re-encodes on the host between windows; the other policies run the backend's own
            // loop (on CUDA: the device-resident loop with the captured graph).
            result = slide ? Generator.generate(session, ids, go, listener) : session.generate(ids, go, listener);
        }
        if (stream) {
            out.println(decoder.flush());
            out.flush();
        }
        boolean contextFull = false;
        for (StopReason r : result.stopReasons()) contextFull |= r == StopReason.CONTEXT_FULL;
        if (contextFull && !json)
            spec.commandLine().getErr().println("kvdecode: stopped: context full (" + ctx + " tokens, --overflow stop)");

        if (json) {
            out.println(toJson(m, backendUsed, cached, ids, result, seedValue));
        } else if (!stream) {
            for (int i = 0; i < b; i++) {
                out.println("=== sequence " + i + " ===");
                out.println((chat ? "" : prompts.size() == 1 ? prompts.get(0) : prompts.get(i)) + m.tokenizer().decode(result.tokens()[i]));
            }
        }
        out.flush();
        return 0;
    }

    private String toJson(Model m, String backend, boolean cached, int[][] ids, GenerationResult r, long seedValue) throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode o = mapper.createObjectNode();
        o.put("model", m.name());
        o.put("backend", backend);
        o.put("kv_cache", cached ? "on" : "off");
        o.put("overflow", overflow);
        o.put("seed", seedValue);
        boolean single = ids.length == 1;
        if (single) {
            ArrayNode p = o.putArray("prompt_tokens");
            for (int id : ids[0]) p.add(id);
            ArrayNode t = o.putArray("tokens");
            for (int id : r.tokens()[0]) t.add(id);
            o.put("text", m.tokenizer().decode(r.tokens()[0]));
            o.put("stop_reason", r.stopReasons()[0].name().toLowerCase(java.util.Locale.ROOT));
        } else {
            ArrayNode p = o.putArray("prompt_tokens");
            ArrayNode t = o.putArray("tokens");
            ArrayNode x = o.putArray("text");
            for (int i = 0; i < ids.length; i++) {
                ArrayNode pi = p.addArray();
                for (int id : ids[i]) pi.add(id);
                ArrayNode ti = t.addArray();
                for (int id : r.tokens()[i]) ti.add(id);
                x.add(m.tokenizer().decode(r.tokens()[i]));
            }
        }
        o.put("prefill_ms", r.prefillMs());
        o.put("decode_ms", r.decodeMs());
        o.put("tokens_per_s", r.tokensPerSecond());
        return mapper.writeValueAsString(o);
    }
}
