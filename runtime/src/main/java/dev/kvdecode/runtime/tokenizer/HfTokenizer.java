package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * A Hugging Face tokenizer.json with a BPE model, run as HF tokenizers runs it, so that
 * {@link #encode(String)} equals {@code Tokenizer.from_file(f).encode(text).ids}:
 * <ol>
 *   <li>added tokens are cut out of the raw text ({@link AddedTokens}; those marked normalized
 *       are cut out of each normalized stretch instead);</li>
 *   <li>each stretch between them is normalized ({@link TextNormalizer}) and pre-tokenized
 *       ({@link PreTokenizer}) into words;</li>
 *   <li>each word goes through the BPE model ({@link BpeModel}: merges, byte fallback, unk);</li>
 *   <li>the post-processor adds its special tokens (TemplateProcessing's BOS, Roberta/Bert's
 *       cls and sep) unless asked not to.</li>
 * </ol>
 * This covers byte-level BPE (GPT-2, Llama 3, Qwen2/3, SmolLM2: split regex read from the file,
 * then ByteLevel) and SentencePiece-style BPE (Llama 2, TinyLlama, Mistral: a U+2581 normalizer
 * or Metaspace pre-tokenizer, byte_fallback). Decoding maps each token through the file's
 * decoder chain to bytes (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace) and
 * {@link StreamDecoder} assembles UTF-8; a run of byte-fallback tokens that is not valid UTF-8
 * gets one U+FFFD per maximal subpart, where HF's ByteFallback decoder puts one per byte.
 * Anything else in the file is a {@link TokenizerException} naming the field. Immutable and
 * thread-safe.
 */
public final class HfTokenizer implements Tokenizer {
    private final BpeModel model;
    private final UnaryOperator<String> normalizer;
    private final PreTokenizer preTokenizer;
    private final AddedTokens rawAdded, normalizedAdded;
    private final int[] prefixIds, suffixIds;     // from the post-processor
    private final byte[][] tokenBytes;            // by id: what the decoder chain makes of the token
    private final int stripLeadingSpaces;         // the decoder's Strip(start) / Metaspace
    private final Map<String, Integer> addedIds;
    private final int bosToken, eosToken;

    private HfTokenizer(Path file, JsonNode root, String bosName, String eosName) {
        JsonNode m = root.path("model");
        if (!m.isObject()) throw Gpt2BpeTokenizer.bad(file, "no \"model\" object");
        String type = m.path("type").asText("BPE");
        if (!type.equals("BPE")) throw Gpt2BpeTokenizer.bad(file, "model.type \"" + type + "\" is not supported (only BPE)");
        if (m.hasNonNull("dropout") && m.path("dropout").asDouble() != 0) throw Gpt2BpeTokenizer.bad(file, "model.dropout is not supported");
        for (String affix : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (!m.path(affix).asText("").isEmpty()) throw Gpt2BpeTokenizer.bad(file, "model." + affix + " is not supported");
        }
        Map<String, Integer> vocab = Gpt2BpeTokenizer.readVocab(file, m.path("vocab"));
        List<String[]> merges = Gpt2BpeTokenizer.readMerges(file, m.path("merges"));
        String unk = m.hasNonNull("unk_token") ? m.get("unk_token").asText() : null;
        model = new BpeModel(file, vocab, merges, unk, m.path("byte_fallback").asBoolean(false),
                m.path("fuse_unk").asBoolean(false), m.path("ignore_merges").asBoolean(false));
        normalizer = TextNormalizer.of(file, root.get("normalizer"), "normalizer");
        preTokenizer = PreTokenizer.of(file, root.get("pre_tokenizer"), "pre_tokenizer");

        // Added tokens.
        addedIds = new HashMap<>();
        List<AddedTokens.Token> raw = new ArrayList<>(), normalized = new ArrayList<>();
        JsonNode added = root.path("added_tokens");
        int maxId = -1;
        for (int id : vocab.values()) maxId = Math.max(maxId, id);
        for (int i = 0; i < added.size(); i++) {
            JsonNode a = added.get(i);
            String content = a.path("content").asText("");
            if (content.isEmpty() || !a.path("id").canConvertToInt() || a.path("id").asInt() < 0) {
                throw Gpt2BpeTokenizer.bad(file, "added_tokens[" + i + "] needs a non-empty \"content\" and a non-negative integer \"id\"");
            }
            var t = new AddedTokens.Token(content, a.get("id").asInt(), a.path("lstrip").asBoolean(false),
                    a.path("rstrip").asBoolean(false), a.path("single_word").asBoolean(false));
            // HF: "normalized" tokens (default: the non-special ones) are matched, in their
            // normalized form, in normalized text; the others in the raw text.
            boolean special = a.path("special").asBoolean(false);
            if (a.path("normalized").asBoolean(!special)) {
                String n = normalizer.apply(content);
                if (!n.isEmpty()) normalized.add(new AddedTokens.Token(n, t.id(), t.lstrip(), t.rstrip(), t.singleWord()));
            } else {
                raw.add(t);
            }
            addedIds.put(content, t.id());
            maxId = Math.max(maxId, t.id());
        }
        // The decode table is indexed by id: bound it before allocating (issue 16, docs/FUZZING.md;
        // the fuzzer's crash-vocab-id-int-max reached this path once tokenizer.json came here).
        if (maxId > Gpt2BpeTokenizer.MAX_TOKEN_ID) throw Gpt2BpeTokenizer.bad(file, "token id " + maxId + " is above "
                + Gpt2BpeTokenizer.MAX_TOKEN_ID + ", more than any vocabulary kvdecode reads");
        for (Map.Entry<String, Integer> e : vocab.entrySet())
            if (e.getValue() < 0) throw Gpt2BpeTokenizer.bad(file, "model.vocab: token has negative id " + e.getValue());
        rawAdded = new AddedTokens(raw);
        normalizedAdded = new AddedTokens(normalized);

        // Post-processor.
        List<Integer> prefix = new ArrayList<>(), suffix = new ArrayList<>();
        postProcessor(file, root.get("post_processor"), "post_processor", prefix, suffix);
        prefixIds = prefix.stream().mapToInt(Integer::intValue).toArray();
        suffixIds = suffix.stream().mapToInt(Integer::intValue).toArray();

        // Decoder: every token's bytes, once.
        List<JsonNode> steps = new ArrayList<>();
        flattenDecoders(root.get("decoder"), steps);
        int strip = 0;
        for (int i = 0; i < steps.size(); i++) {
            JsonNode d = steps.get(i);
            String dt = d.path("type").asText("");
            String field = "decoder" + (steps.size() > 1 ? ".decoders[" + i + "]" : "");
            switch (dt) {
                case "ByteLevel", "ByteFallback", "Fuse", "Replace" -> { }
                case "Strip" -> {
                    if (!d.path("content").asText(" ").equals(" ") || d.path("stop").asInt(0) != 0) {
                        throw Gpt2BpeTokenizer.bad(file, field + ": only Strip of leading spaces (content \" \", stop 0) is supported");
                    }
                    strip = d.path("start").asInt(0);
                }
                case "Metaspace" -> {
                    String scheme = d.has("prepend_scheme") ? d.get("prepend_scheme").asText()
                            : d.path("add_prefix_space").asBoolean(true) ? "always" : "never";
                    if (!scheme.equals("never")) strip = 1;
                }
                default -> throw Gpt2BpeTokenizer.bad(file, field + ".type \"" + dt + "\" is not supported"
                        + " (supported: ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, Sequence)");
            }
        }
        stripLeadingSpaces = strip;
        List<UnaryOperator<String>> replaces = new ArrayList<>();
        for (int i = 0; i < steps.size(); i++) {
            if (steps.get(i).path("type").asText().equals("Replace")) replaces.add(TextNormalizer.replace(file, steps.get(i), "decoder"));
            else replaces.add(null);
        }
        tokenBytes = new byte[maxId + 1][];
        // Filled per id, the vocabulary first and then the added tokens: a map keyed by text would
        // lose a vocab id whose text an added token also has under another id (issue 16's fuzz
        // target: "<unk>" 0 in the vocab and added as 1 left id 0, the model's unk, without bytes).
        for (Map.Entry<String, Integer> e : vocab.entrySet()) tokenBytes[e.getValue()] = decodeToken(e.getKey(), steps, replaces);
        for (Map.Entry<String, Integer> e : addedIds.entrySet()) tokenBytes[e.getValue()] = decodeToken(e.getKey(), steps, replaces);
        // Encoding emits these ids: each must be a token (issue 16's fuzz target: crash-post-processor-id-past-vocab).
        for (int id : prefix.isEmpty() && suffix.isEmpty() ? new int[0] : java.util.stream.IntStream.concat(
                java.util.Arrays.stream(prefixIds), java.util.Arrays.stream(suffixIds)).toArray()) {
            if (id < 0 || id > maxId || tokenBytes[id] == null) throw Gpt2BpeTokenizer.bad(file, "post_processor: special token id " + id
                    + " is not in the vocabulary (ids 0.." + maxId + ")");
        }

        bosToken = idOf(bosName);
        eosToken = idOf(eosName);
    }

    private int idOf(String token) {
        if (token == null) return -1;
        Integer id = addedIds.get(token);
        if (id != null) return id;
        return model.id(token);
    }

    private static final Pattern BYTE_TOKEN = Pattern.compile("<0x[0-9A-Fa-f]{2}>");

    /** One token through the decoder chain: the steps that act per token, in order. */
    private static byte[] decodeToken(String token, List<JsonNode> steps, List<UnaryOperator<String>> replaces) {
        String t = token;
        for (int i = 0; i < steps.size(); i++) {
            JsonNode d = steps.get(i);
            switch (d.path("type").asText()) {
                case "Replace" -> t = replaces.get(i).apply(t);
                case "ByteFallback" -> {
                    if (BYTE_TOKEN.matcher(t).matches()) return new byte[] {(byte) Integer.parseInt(t.substring(3, 5), 16)};
                }
                case "ByteLevel" -> { return ByteLevel.tokenBytes(t); }
                case "Metaspace" -> t = t.replace(d.path("replacement").asText("\u2581"), " ");
                default -> { } // Fuse, Strip: act on the whole sequence
            }
        }
        return t.getBytes(StandardCharsets.UTF_8);
    }

    private static void flattenDecoders(JsonNode d, List<JsonNode> out) {
        if (d == null || d.isNull() || d.isMissingNode()) return;
        if (d.path("type").asText().equals("Sequence")) {
            for (JsonNode c : d.path("decoders")) flattenDecoders(c, out);
        } else {
            out.add(d);
        }
    }

    /** The special tokens a post-processor puts before and after a single sequence. */
    private static void postProcessor(Path file, JsonNode p, String field, List<Integer> prefix, List<Integer> suffix) {
        if (p == null || p.isNull() || p.isMissingNode()) return;
        String type = p.path("type").asText("");
        switch (type) {
            case "ByteLevel" -> { } // offsets only
            case "Sequence" -> {
                JsonNode list = p.path("processors");
                for (int i = 0; i < list.size(); i++) {
                    List<Integer> pre = new ArrayList<>(), post = new ArrayList<>();
                    postProcessor(file, list.get(i), field + ".processors[" + i + "]", pre, post);
                    prefix.addAll(0, pre);   // each processor wraps what the previous ones made
                    suffix.addAll(post);
                }
            }
            case "TemplateProcessing" -> {
                boolean afterSequence = false;
                for (JsonNode item : p.path("single")) {
                    if (item.has("Sequence")) {
                        if (!item.get("Sequence").path("id").asText().equals("A")) throw Gpt2BpeTokenizer.bad(file, field + ".single: only sequence A is supported");
                        afterSequence = true;
                    } else if (item.has("SpecialToken")) {
                        String name = item.get("SpecialToken").path("id").asText();
                        JsonNode ids = p.path("special_tokens").path(name).path("ids");
                        if (!ids.isArray() || ids.isEmpty()) throw Gpt2BpeTokenizer.bad(file, field + ".special_tokens has no ids for '" + Gpt2BpeTokenizer.printable(name) + "'");
                        for (JsonNode id : ids) (afterSequence ? suffix : prefix).add(id.asInt());
                    } else {
                        throw Gpt2BpeTokenizer.bad(file, field + ".single: unknown item " + Gpt2BpeTokenizer.printable(item.toString(), 60));
                    }
                }
            }
            case "RobertaProcessing", "BertProcessing" -> {
                JsonNode cls = p.path("cls"), sep = p.path("sep");
                if (!cls.path(1).canConvertToInt() || !sep.path(1).canConvertToInt()) throw Gpt2BpeTokenizer.bad(file, field + ": cls and sep must be [token, id]");
                prefix.add(cls.get(1).asInt());
                suffix.add(sep.get(1).asInt());
            }
            default -> throw Gpt2BpeTokenizer.bad(file, field + ".type \"" + type + "\" is not supported"
                    + " (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)");
        }
    }

    /** A tokenizer.json; no bos/eos known (eosToken() is -1 unless "&lt;|endoftext|&gt;" is a token). */
    public static HfTokenizer load(Path tokenizerJson) {
        HfTokenizer t = new HfTokenizer(tokenizerJson, Gpt2BpeTokenizer.readJson(tokenizerJson), null, Gpt2BpeTokenizer.END_OF_TEXT);
        return t;
    }

    /**
     * A model folder's tokenizer.json, with bos_token and eos_token from its tokenizer_config.json
     * when there is one (a string or {"content": ...}); without it, "&lt;|endoftext|&gt;" is the eos if
     * it is a token (GPT-2).
     */
    public static HfTokenizer fromModelDir(Path modelDir) {
        Path json = modelDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(json)) throw new TokenizerException(modelDir + ": no tokenizer.json");
        Path configFile = modelDir.resolve("tokenizer_config.json");
        String bos = null, eos = Gpt2BpeTokenizer.END_OF_TEXT;
        if (Files.isRegularFile(configFile)) {
            JsonNode config = Gpt2BpeTokenizer.readJson(configFile);
            bos = specialTokenName(config.get("bos_token"));
            String e = specialTokenName(config.get("eos_token"));
            if (e != null) eos = e;
        }
        return new HfTokenizer(json, Gpt2BpeTokenizer.readJson(json), bos, eos);
    }

    /**
     * A tokenizer given as the JSON tree a tokenizer.json would hold, with bos/eos named by their
     * text: how a GGUF file's embedded vocabulary is run (GgufTokenizers builds the tree), so
     * that both formats share one implementation. {@code source} names the file in messages.
     */
    public static HfTokenizer fromJson(Path source, JsonNode root, String bosToken, String eosToken) {
        return new HfTokenizer(source, root, bosToken, eosToken);
    }

    /** tokenizer_config.json writes special tokens as "text" or {"content": "text", ...}. */
    static String specialTokenName(JsonNode node) {
        if (node == null || node.isNull()) return null;
        if (node.isTextual()) return node.asText();
        if (node.isObject() && node.path("content").isTextual()) return node.get("content").asText();
        return null;
    }

    /** As HF's {@code encode(text)}: with the post-processor's special tokens (BOS where the file adds it). */
    @Override
    public int[] encode(String text) { return encode(text, true); }

    /**
     * Token ids of a text; addSpecialTokens=false leaves out the post-processor's tokens, as HF's
     * {@code encode(text, add_special_tokens=False)} and apply_chat_template do (a rendered chat
     * already holds its BOS as text, and added tokens in the text are matched either way).
     */
    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        Gpt2BpeTokenizer.IntList out = new Gpt2BpeTokenizer.IntList(Math.max(16, text.length() / 3));
        if (addSpecialTokens) for (int id : prefixIds) out.add(id);
        rawAdded.split(text, new AddedTokens.Sink() {
            @Override public void text(int from, int to) { encodeStretch(text.substring(from, to), from == 0, out); }
            @Override public void token(int id) { out.add(id); }
        });
        if (addSpecialTokens) for (int id : suffixIds) out.add(id);
        return out.toArray();
    }

    private void encodeStretch(String stretch, boolean atTextStart, Gpt2BpeTokenizer.IntList out) {
        if (stretch.isEmpty()) return;
        String normalized = normalizer.apply(stretch);
        if (normalizedAdded.isEmpty()) {
            encodeNormalized(normalized, atTextStart, out);
            return;
        }
        normalizedAdded.split(normalized, new AddedTokens.Sink() {
            @Override public void text(int from, int to) { encodeNormalized(normalized.substring(from, to), atTextStart && from == 0, out); }
            @Override public void token(int id) { out.add(id); }
        });
    }

    private void encodeNormalized(String text, boolean atTextStart, Gpt2BpeTokenizer.IntList out) {
        if (text.isEmpty()) return;
        for (String word : preTokenizer.split(List.of(text), atTextStart)) model.encodeWord(word, out);
    }

    @Override
    public byte[] tokenBytes(int id) {
        byte[] b = id >= 0 && id < tokenBytes.length ? tokenBytes[id] : null;
        if (b == null) throw new TokenizerException("token id " + id + " is not in the vocabulary (ids 0.." + (tokenBytes.length - 1) + ")");
        return b.clone();
    }

    @Override
    public StreamDecoder streamDecoder() { return new StreamDecoder(this, stripLeadingSpaces); }

    @Override public int vocabSize() { return tokenBytes.length; }

    /** tokenizer_config.json's eos_token id (or "&lt;|endoftext|&gt;"'s), -1 if none. */
    @Override public int eosToken() { return eosToken; }

    /** tokenizer_config.json's bos_token id, -1 if none. */
    public int bosToken() { return bosToken; }

    /** The id of an added token or vocabulary token, written as in the file. */
    public OptionalInt tokenId(String token) {
        int id = idOf(token);
        return id < 0 ? OptionalInt.empty() : OptionalInt.of(id);
    }
}
