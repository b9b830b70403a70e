package dev.kvdecode.runtime.model.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvdecode.runtime.model.ModelFormatException;
import dev.kvdecode.runtime.tokenizer.ChatTemplate;
import dev.kvdecode.runtime.tokenizer.HfTokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The tokenizer a Llama-family GGUF file embeds ({@code tokenizer.ggml.*}), run by
 * {@link HfTokenizer}: the metadata is turned into the tokenizer.json tree that describes the
 * same tokenizer, so there is one BPE implementation for both formats.
 * <ul>
 *   <li>{@code model "gpt2"}: byte-level BPE, tokens and merges as stored; the split rule comes
 *       from {@code tokenizer.ggml.pre} (llama.cpp's names for the pre-tokenizers it knows), each
 *       mapped to the regex of the model's own tokenizer.json (llama-bpe: Llama 3's, with
 *       ignore_merges as llama.cpp sets it; qwen2: Qwen2's, with Qwen's NFC normalizer; smollm:
 *       single digits, then GPT-2's; gpt-2: GPT-2's). An unknown pre type is an error: a wrong
 *       split gives wrong ids silently.</li>
 *   <li>{@code model "llama"}: SentencePiece BPE with byte fallback ({@code <0xNN>} tokens). The
 *       file has scores, not merges: the merges are derived from the vocabulary as transformers'
 *       generate_merges does (every split of a token into two tokens, ranked by the token's
 *       score, then the longer left part, then the longer right part). Spaces become U+2581, and
 *       with add_space_prefix (default true) one is prepended to each stretch of text between
 *       special tokens, as llama.cpp does and Llama 2's legacy tokenizer.json does.</li>
 *   <li>Token types CONTROL, USER_DEFINED and UNKNOWN mark added tokens: matched whole in the raw
 *       text, never split. bos/eos ids name the special tokens; add_bos_token (default: true for
 *       "llama", false for "gpt2") and add_eos_token choose what encode adds.</li>
 * </ul>
 */
public final class GgufTokenizers {
    private GgufTokenizers() {}

    /** llama.cpp's llama_token_type values. */
    static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

    static final String LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final String QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** tokenizer.ggml.pre values read, for messages. */
    static final String PRE_TYPES = "llama-bpe, llama3, llama-v3, qwen2, deepseek-r1-qwen, smollm, gpt-2";

    private static final JsonNodeFactory J = JsonNodeFactory.instance;

    /** The embedded tokenizer of a llama/qwen2/qwen3 file. */
    public static HfTokenizer tokenizer(Path file, GgufFile f) {
        String model = f.string("tokenizer.ggml.model");
        String[] tokens = f.strings("tokenizer.ggml.tokens");
        if (tokens.length == 0) throw bad(f, "tokenizer.ggml.tokens is empty");
        long[] types = new long[tokens.length];
        Arrays.fill(types, NORMAL);
        if (f.get("tokenizer.ggml.token_type") != null) {
            types = f.integers("tokenizer.ggml.token_type");
            if (types.length != tokens.length)
                throw bad(f, "tokenizer.ggml.token_type has " + types.length + " entries for " + tokens.length + " tokens");
        }
        ObjectNode root = J.objectNode();
        ObjectNode bpe = root.putObject("model");
        bpe.put("type", "BPE");
        ObjectNode vocab = bpe.putObject("vocab");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < tokens.length; i++) {
            if (vocab.has(tokens[i]))
                throw bad(f, "tokenizer.ggml.tokens has '" + GgufFile.printable(tokens[i]) + "' twice (ids "
                        + vocab.get(tokens[i]).intValue() + " and " + i + ")");
            vocab.put(tokens[i], i);
            int type = (int) types[i];
            if ((type == CONTROL || type == USER_DEFINED || type == UNKNOWN) && !tokens[i].isEmpty()) {
                ObjectNode a = added.addObject();
                a.put("id", i);
                a.put("content", tokens[i]);
                a.put("special", type != USER_DEFINED);
                a.put("normalized", false);
            }
        }
        boolean addBos, addEos = bool(f, "tokenizer.ggml.add_eos_token", false);
        switch (model) {
            case "gpt2" -> {
                addBos = bool(f, "tokenizer.ggml.add_bos_token", false);
                ArrayNode merges = bpe.putArray("merges");
                String[] m = f.strings("tokenizer.ggml.merges");
                for (int i = 0; i < m.length; i++) {
                    String[] pair = m[i].split(" ", -1);
                    if (pair.length != 2 || pair[0].isEmpty() || pair[1].isEmpty())
                        throw bad(f, "tokenizer.ggml.merges[" + i + "] is not \"a b\": '" + GgufFile.printable(m[i]) + "'");
                    merges.add(m[i]);
                }
                String pre = f.string("tokenizer.ggml.pre", "default");
                switch (pre) {
                    case "llama-bpe", "llama3", "llama-v3" -> {
                        root.set("pre_tokenizer", sequence(split(LLAMA3_SPLIT), byteLevel(false)));
                        bpe.put("ignore_merges", true);
                    }
                    case "qwen2", "deepseek-r1-qwen" -> {
                        root.putObject("normalizer").put("type", "NFC");
                        root.set("pre_tokenizer", sequence(split(QWEN2_SPLIT), byteLevel(false)));
                    }
                    case "smollm" -> root.set("pre_tokenizer", sequence(split("\\p{N}"), byteLevel(true)));
                    case "gpt-2" -> root.set("pre_tokenizer", byteLevel(true));
                    default -> throw bad(f, "tokenizer.ggml.pre \"" + GgufFile.printable(pre) + "\" is not supported (supported: " + PRE_TYPES + ")");
                }
                root.putObject("decoder").put("type", "ByteLevel");
            }
            case "llama" -> {
                addBos = bool(f, "tokenizer.ggml.add_bos_token", true);
                boolean prefix = bool(f, "tokenizer.ggml.add_space_prefix", true);
                double[] scores = floats(f, "tokenizer.ggml.scores");
                if (scores.length != tokens.length)
                    throw bad(f, "tokenizer.ggml.scores has " + scores.length + " entries for " + tokens.length + " tokens");
                ArrayNode merges = bpe.putArray("merges");
                for (String[] pair : spmMerges(tokens, scores)) merges.add(J.arrayNode().add(pair[0]).add(pair[1]));
                bpe.put("byte_fallback", true);
                bpe.put("fuse_unk", true);
                int unk = -1;
                if (f.get("tokenizer.ggml.unknown_token_id") != null)
                    unk = (int) f.integer("tokenizer.ggml.unknown_token_id", 0, tokens.length - 1);
                else for (int i = 0; i < types.length && unk < 0; i++) if (types[i] == UNKNOWN) unk = i;
                if (unk >= 0) bpe.put("unk_token", tokens[unk]);
                ArrayNode norm = root.putObject("normalizer").put("type", "Sequence").putArray("normalizers");
                if (prefix) norm.addObject().put("type", "Prepend").put("prepend", "\u2581");
                norm.add(replace(" ", "\u2581"));
                ArrayNode dec = root.putObject("decoder").put("type", "Sequence").putArray("decoders");
                dec.add(replace("\u2581", " "));
                dec.addObject().put("type", "ByteFallback");
                dec.addObject().put("type", "Fuse");
                if (prefix) dec.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
            }
            default -> throw bad(f, "tokenizer.ggml.model \"" + GgufFile.printable(model)
                    + "\" is not supported (supported: gpt2, byte-level BPE; llama, SentencePiece BPE)");
        }
        String bos = special(f, tokens, "bos_token_id"), eos = special(f, tokens, "eos_token_id");
        if (addBos && bos == null) throw bad(f, "tokenizer.ggml.add_bos_token is true but there is no tokenizer.ggml.bos_token_id");
        if (addEos && eos == null) throw bad(f, "tokenizer.ggml.add_eos_token is true but there is no tokenizer.ggml.eos_token_id");
        if (addBos || addEos) {
            ObjectNode post = root.putObject("post_processor");
            post.put("type", "TemplateProcessing");
            ArrayNode single = post.putArray("single");
            ObjectNode specials = post.putObject("special_tokens");
            if (addBos) specialItem(single, specials, bos, f.integer("tokenizer.ggml.bos_token_id", 0, tokens.length - 1));
            single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            if (addEos) specialItem(single, specials, eos, f.integer("tokenizer.ggml.eos_token_id", 0, tokens.length - 1));
        }
        return HfTokenizer.fromJson(file, root, bos, eos);
    }

    /**
     * SentencePiece merges recovered from the vocabulary, as transformers' generate_merges does
     * with the file's scores: for each token (in id order), each split into two tokens (ordered by
     * their ids), then all of them sorted, stably, by the token's score, the left part's length
     * and the right part's length, each descending (lengths in code points, as Python counts).
     */
    static List<String[]> spmMerges(String[] tokens, double[] scores) {
        Map<String, Integer> ids = new HashMap<>(tokens.length * 2);
        for (int i = 0; i < tokens.length; i++) ids.put(tokens[i], i);
        record Merge(String left, String right, double score, int leftLen, int rightLen) {}
        List<Merge> merges = new ArrayList<>();
        List<Merge> local = new ArrayList<>();
        for (int t = 0; t < tokens.length; t++) {
            String tok = tokens[t];
            local.clear();
            for (int at = tok.offsetByCodePoints(0, Math.min(1, tok.codePointCount(0, tok.length()))); at > 0 && at < tok.length();
                 at = tok.offsetByCodePoints(at, 1)) {
                String l = tok.substring(0, at), r = tok.substring(at);
                if (ids.containsKey(l) && ids.containsKey(r))
                    local.add(new Merge(l, r, scores[t], l.codePointCount(0, l.length()), r.codePointCount(0, r.length())));
            }
            local.sort(Comparator.comparingInt((Merge m) -> ids.get(m.left())).thenComparingInt(m -> ids.get(m.right())));
            merges.addAll(local);
        }
        merges.sort(Comparator.comparingDouble(Merge::score).thenComparingInt(Merge::leftLen).thenComparingInt(Merge::rightLen).reversed());
        List<String[]> out = new ArrayList<>(merges.size());
        for (Merge m : merges) out.add(new String[] {m.left(), m.right()});
        return out;
    }

    /** The file's tokenizer.chat_template, with its bos/eos tokens' text; empty when it has none. */
    public static Optional<ChatTemplate> chatTemplate(Path file) {
        try (GgufFile f = GgufFile.open(file)) {
            if (f.get("tokenizer.chat_template") == null) return Optional.empty();
            String template = f.string("tokenizer.chat_template");
            String[] tokens = f.get("tokenizer.ggml.tokens") == null ? new String[0] : f.strings("tokenizer.ggml.tokens");
            return Optional.of(ChatTemplate.of(file, template, special(f, tokens, "bos_token_id"), special(f, tokens, "eos_token_id")));
        }
    }

    private static void specialItem(ArrayNode single, ObjectNode specials, String token, long id) {
        single.addObject().putObject("SpecialToken").put("id", token).put("type_id", 0);
        ObjectNode s = specials.putObject(token);
        s.put("id", token);
        s.putArray("ids").add(id);
        s.putArray("tokens").add(token);
    }

    /** The text of tokenizer.ggml.{key}'s token, or null when the key is absent. */
    private static String special(GgufFile f, String[] tokens, String key) {
        if (f.get("tokenizer.ggml." + key) == null || tokens.length == 0) return null;
        return tokens[(int) f.integer("tokenizer.ggml." + key, 0, tokens.length - 1)];
    }

    private static ObjectNode split(String regex) {
        ObjectNode s = J.objectNode().put("type", "Split");
        s.putObject("pattern").put("Regex", regex);
        return s.put("behavior", "Isolated").put("invert", false);
    }

    private static ObjectNode byteLevel(boolean useRegex) {
        return J.objectNode().put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", useRegex);
    }

    private static ObjectNode sequence(JsonNode... steps) {
        ObjectNode s = J.objectNode().put("type", "Sequence");
        ArrayNode a = s.putArray("pretokenizers");
        for (JsonNode step : steps) a.add(step);
        return s;
    }

    private static ObjectNode replace(String from, String to) {
        ObjectNode r = J.objectNode().put("type", "Replace");
        r.putObject("pattern").put("String", from);
        return r.put("content", to);
    }

    private static boolean bool(GgufFile f, String key, boolean dflt) {
        GgufFile.Value v = f.get(key);
        if (v == null) return dflt;
        if (v.type() != GgufFile.ValueType.BOOL) throw bad(f, "metadata " + key + " is " + v.type() + ", expected BOOL");
        return (Boolean) v.value();
    }

    private static double[] floats(GgufFile f, String key) {
        GgufFile.Value v = f.get(key);
        if (v == null) throw bad(f, "missing metadata key " + key);
        if (v.type() != GgufFile.ValueType.ARRAY || !(v.value() instanceof double[] d))
            throw bad(f, "metadata " + key + " is " + v.type() + (v.elementType() != null ? " of " + v.elementType() : "") + ", expected ARRAY of FLOAT32");
        return d.clone();
    }

    private static ModelFormatException bad(GgufFile f, String what) { return new ModelFormatException(f.fileName() + ": " + what); }
}
