package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * GPT-2 byte-level BPE (Radford et al. 2019, section 2.2; Sennrich et al. 2016 for BPE), giving
 * the same ids as Hugging Face {@code tokenizers} with the hub's gpt2 tokenizer.json:
 * <ol>
 *   <li>added tokens ("&lt;|endoftext|&gt;") are cut out of the text first and map to their ids;</li>
 *   <li>each remaining segment is split by {@link Gpt2PreTokenizer} into words;</li>
 *   <li>each word's UTF-8 bytes start as one byte token each, and the adjacent pair with the
 *       lowest merge rank is merged, leftmost first, until no pair has a rank.</li>
 * </ol>
 * Immutable and thread-safe; the word -> ids cache is a bounded concurrent map.
 */
public final class Gpt2BpeTokenizer implements Tokenizer {
    static final String END_OF_TEXT = "<|endoftext|>";
    /** Ids above this (2^22 - 1, 16 times the largest vocabularies in use, ~256k) are refused. */
    static final int MAX_TOKEN_ID = (1 << 22) - 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final byte[][] tokenBytes;     // by id; null for ids the vocabulary skips
    private final BpeModel model;
    private final String[] addedTokens;    // cut out of the text before pre-tokenization
    private final int[] addedIds;
    private final int eosToken;

    /** vocabSource and mergesSource name the files in messages (the same file for tokenizer.json). */
    private Gpt2BpeTokenizer(Path vocabSource, Path mergesSource, Map<String, Integer> vocab,
                             List<String[]> mergePairs, Map<String, Integer> added) {
        Path source = vocabSource;
        int maxId = -1;
        for (int id : vocab.values()) maxId = Math.max(maxId, id);
        for (int id : added.values()) maxId = Math.max(maxId, id);
        // The table is indexed by id: bound it before allocating (issue 16, docs/FUZZING.md:
        // an id of 2^31 - 1 overflowed the length, and 5e8 filled the heap).
        if (maxId > MAX_TOKEN_ID) throw new TokenizerException(source + ": token id " + maxId + " is above " + MAX_TOKEN_ID
                + ", more than any vocabulary kvdecode reads");
        tokenBytes = new byte[maxId + 1][];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            if (e.getValue() < 0) throw new TokenizerException(source + ": token '" + printable(e.getKey()) + "' has negative id " + e.getValue());
            tokenBytes[e.getValue()] = ByteLevel.tokenBytes(e.getKey());
        }
        for (Map.Entry<String, Integer> e : added.entrySet()) {
            if (e.getValue() < 0) throw new TokenizerException(source + ": added token '" + printable(e.getKey()) + "' has negative id " + e.getValue());
            tokenBytes[e.getValue()] = e.getKey().getBytes(StandardCharsets.UTF_8);
        }
        for (int b = 0; b < 256; b++) {
            String s = String.valueOf(ByteLevel.charOf(b));
            Integer id = vocab.get(s);
            if (id == null) {
                throw new TokenizerException(String.format(
                        "%s: not a byte-level BPE vocabulary: byte 0x%02X (token '%s') is missing", source, b, s));
            }
        }
        model = new BpeModel(mergesSource, vocab, mergePairs, null, false, false, false);
        addedTokens = added.keySet().toArray(String[]::new);
        addedIds = new int[addedTokens.length];
        for (int i = 0; i < addedTokens.length; i++) addedIds[i] = added.get(addedTokens[i]);
        Integer eos = added.containsKey(END_OF_TEXT) ? added.get(END_OF_TEXT) : vocab.get(END_OF_TEXT);
        eosToken = eos == null ? -1 : eos;
    }

    /**
     * From GPT-2's original files: vocab.json (token -> id) and merges.txt (one "a b" pair per
     * line by rank, after an optional "#version" line). "&lt;|endoftext|&gt;", if in the vocabulary, is
     * a special token, as transformers' GPT2Tokenizer makes it.
     */
    public static Gpt2BpeTokenizer fromVocabAndMerges(Path vocabJson, Path mergesTxt) {
        Map<String, Integer> vocab = readVocab(vocabJson, readJson(vocabJson));
        List<String[]> pairs = new ArrayList<>();
        List<String> lines = readLines(mergesTxt);
        for (int n = 0; n < lines.size(); n++) {
            String line = lines.get(n);
            if (n == 0 && line.startsWith("#version")) continue;
            if (line.isEmpty()) continue;
            String[] pair = line.split(" ", -1);
            if (pair.length != 2 || pair[0].isEmpty() || pair[1].isEmpty()) {
                throw new TokenizerException(mergesTxt + ": line " + (n + 1) + " is not a merge \"a b\": '" + printable(line) + "'");
            }
            pairs.add(pair);
        }
        Map<String, Integer> added = new HashMap<>();
        if (vocab.containsKey(END_OF_TEXT)) added.put(END_OF_TEXT, vocab.get(END_OF_TEXT));
        return new Gpt2BpeTokenizer(vocabJson, mergesTxt, vocab, pairs, added);
    }

    /**
     * From a token list (index = id, byte-level strings as in vocab.json), merges by rank ("a b")
     * and the ids of added tokens (cut out of the text before BPE, kept whole): the tokenizer a
     * GGUF file embeds ({@code tokenizer.ggml.tokens}, {@code .merges}, CONTROL/USER_DEFINED
     * {@code .token_type}). {@code source} names the file in messages.
     */
    public static Gpt2BpeTokenizer of(Path source, String[] tokens, String[] merges, java.util.Set<Integer> addedIds) {
        Map<String, Integer> vocab = new HashMap<>();
        Map<String, Integer> added = new HashMap<>();
        for (int id = 0; id < tokens.length; id++) {
            if (addedIds.contains(id)) added.putIfAbsent(tokens[id], id);
            else if (vocab.putIfAbsent(tokens[id], id) != null)
                throw bad(source, "token '" + printable(tokens[id]) + "' appears twice (ids " + vocab.get(tokens[id]) + " and " + id + ")");
        }
        List<String[]> pairs = new ArrayList<>(merges.length);
        for (int i = 0; i < merges.length; i++) {
            String[] pair = merges[i].split(" ", -1);
            if (pair.length != 2 || pair[0].isEmpty() || pair[1].isEmpty())
                throw bad(source, "merge " + i + " is not \"a b\": '" + printable(merges[i]) + "'");
            pairs.add(pair);
        }
        return new Gpt2BpeTokenizer(source, source, vocab, pairs, added);
    }

    /**
     * From a Hugging Face tokenizer.json (model.vocab, model.merges as "a b" strings or [a, b]
     * pairs, added_tokens). Settings that would change the ids and that this class does not
     * implement (a normalizer, add_prefix_space, lstrip/rstrip/single_word added tokens,
     * ignore_merges, affixes) are rejected rather than silently ignored.
     */
    public static Gpt2BpeTokenizer fromTokenizerJson(Path tokenizerJson) {
        JsonNode root = readJson(tokenizerJson);
        JsonNode model = root.path("model");
        if (!model.isObject()) throw bad(tokenizerJson, "no \"model\" object");
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) throw bad(tokenizerJson, "model.type is \"" + type + "\", expected \"BPE\"");
        requireAbsent(tokenizerJson, root.path("normalizer"), "normalizer");
        JsonNode pre = root.path("pre_tokenizer");
        if (!pre.path("type").asText("").equals("ByteLevel")) {
            throw bad(tokenizerJson, "pre_tokenizer must be ByteLevel (GPT-2), found " + printable(pre.toString(), 60));
        }
        if (pre.path("add_prefix_space").asBoolean(false)) throw bad(tokenizerJson, "pre_tokenizer.add_prefix_space=true is not supported (GPT-2 uses false)");
        if (!pre.path("use_regex").asBoolean(true)) throw bad(tokenizerJson, "pre_tokenizer.use_regex=false is not supported (GPT-2 uses true)");
        if (model.path("ignore_merges").asBoolean(false)) throw bad(tokenizerJson, "model.ignore_merges=true is not supported");
        if (model.hasNonNull("dropout") && model.path("dropout").asDouble() != 0) throw bad(tokenizerJson, "model.dropout is not supported");
        for (String affix : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (!model.path(affix).asText("").isEmpty()) throw bad(tokenizerJson, "model." + affix + " is not supported");
        }
        Map<String, Integer> vocab = readVocab(tokenizerJson, model.path("vocab"));
        List<String[]> pairs = readMerges(tokenizerJson, model.path("merges"));
        Map<String, Integer> added = new HashMap<>();
        JsonNode addedNode = root.path("added_tokens");
        for (int i = 0; i < addedNode.size(); i++) {
            JsonNode a = addedNode.get(i);
            String content = a.path("content").asText("");
            if (content.isEmpty() || !a.path("id").canConvertToInt()) {
                throw bad(tokenizerJson, "added_tokens[" + i + "] needs a non-empty \"content\" and an integer \"id\"");
            }
            for (String flag : new String[] {"lstrip", "rstrip", "single_word"}) {
                if (a.path(flag).asBoolean(false)) {
                    throw bad(tokenizerJson, "added_tokens[" + i + "] ('" + printable(content) + "') sets " + flag + "=true, which is not supported");
                }
            }
            added.put(content, a.path("id").asInt());
        }
        return new Gpt2BpeTokenizer(tokenizerJson, tokenizerJson, vocab, pairs, added);
    }

    @Override
    public int[] encode(String text) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        int from = 0;
        // Cut out added tokens: leftmost occurrence first, the longest one on a tie (HF matches
        // added tokens with a leftmost-longest automaton before pre-tokenizing).
        int[] nextAt = new int[addedTokens.length];
        Arrays.fill(nextAt, -2); // -2: not searched yet; -1: no more occurrences
        while (true) {
            int best = -1, bestAt = -1;
            for (int t = 0; t < addedTokens.length; t++) {
                if (nextAt[t] == -2 || (nextAt[t] >= 0 && nextAt[t] < from)) nextAt[t] = text.indexOf(addedTokens[t], from);
                int at = nextAt[t];
                if (at >= 0 && (bestAt < 0 || at < bestAt || (at == bestAt && addedTokens[t].length() > addedTokens[best].length()))) {
                    best = t;
                    bestAt = at;
                }
            }
            int segmentEnd = best < 0 ? text.length() : bestAt;
            encodeSegment(text, from, segmentEnd, out);
            if (best < 0) break;
            out.add(addedIds[best]);
            from = bestAt + addedTokens[best].length();
        }
        return out.toArray();
    }

    private void encodeSegment(String text, int from, int to, IntList out) {
        if (from >= to) return;
        Gpt2PreTokenizer.split(text, from, to, (start, end) -> model.encodeWord(byteLevelChars(text.substring(start, end)), out));
    }

    /** A word's UTF-8 bytes as {@link ByteLevel} characters: the form the vocabulary stores. */
    static String byteLevelChars(String word) {
        byte[] bytes = utf8(word);
        char[] cs = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) cs[i] = ByteLevel.charOf(bytes[i] & 0xFF);
        return new String(cs);
    }

    /** Java strings may hold unpaired surrogates; they become U+FFFD, as Rust's lossy UTF-16 decoding does. */
    static byte[] utf8(String word) {
        boolean surrogates = false;
        for (int i = 0; i < word.length() && !surrogates; i++) surrogates = Character.isSurrogate(word.charAt(i));
        if (!surrogates) return word.getBytes(StandardCharsets.UTF_8);
        try {
            ByteBuffer bb = StandardCharsets.UTF_8.newEncoder()
                    .onMalformedInput(CodingErrorAction.REPLACE).replaceWith(new byte[] {(byte) 0xEF, (byte) 0xBF, (byte) 0xBD})
                    .encode(java.nio.CharBuffer.wrap(word));
            byte[] out = new byte[bb.remaining()];
            bb.get(out);
            return out;
        } catch (CharacterCodingException e) {
            throw new IllegalStateException("UTF-8 encoder with REPLACE cannot fail", e);
        }
    }

    @Override
    public byte[] tokenBytes(int id) {
        byte[] b = id >= 0 && id < tokenBytes.length ? tokenBytes[id] : null;
        if (b == null) throw new TokenizerException("token id " + id + " is not in the vocabulary (ids 0.." + (tokenBytes.length - 1) + ")");
        return b.clone();
    }

    @Override public int vocabSize() { return tokenBytes.length; }

    @Override public int eosToken() { return eosToken; }

    // ---- loading helpers -------------------------------------------------------------------

    static JsonNode readJson(Path file) {
        try (var reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            return JSON.readTree(reader);
        } catch (JsonProcessingException e) {
            var loc = e.getLocation();
            String where = loc == null ? "" : " at line " + loc.getLineNr() + ", column " + loc.getColumnNr();
            throw new TokenizerException(file + ": not valid JSON" + where + ": " + printable(e.getOriginalMessage(), 120));
        } catch (IOException | UncheckedIOException e) {
            throw cannotRead(file, e);
        }
    }

    static List<String> readLines(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException | UncheckedIOException e) {
            throw cannotRead(file, e);
        }
    }

    static TokenizerException cannotRead(Path file, Exception e) {
        Throwable cause = e instanceof UncheckedIOException u ? u.getCause() : e;
        String why = cause instanceof NoSuchFileException ? "no such file"
                : cause instanceof java.nio.charset.MalformedInputException ? "not valid UTF-8"
                : cause instanceof java.nio.file.AccessDeniedException ? "permission denied"
                : cause.getClass().getSimpleName() + (cause.getMessage() == null ? "" : " " + printable(cause.getMessage(), 120));
        return new TokenizerException(file + ": cannot read: " + why, e);
    }

    /** model.merges of a tokenizer.json: "a b" strings (older files) or ["a", "b"] pairs. */
    static List<String[]> readMerges(Path tokenizerJson, JsonNode mergesNode) {
        if (!mergesNode.isArray()) throw bad(tokenizerJson, "model.merges is not an array");
        List<String[]> pairs = new ArrayList<>(mergesNode.size());
        for (int i = 0; i < mergesNode.size(); i++) {
            JsonNode m = mergesNode.get(i);
            String[] pair = null;
            if (m.isTextual()) {
                String[] parts = m.asText().split(" ", -1);
                if (parts.length == 2) pair = parts;
            } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
                pair = new String[] {m.get(0).asText(), m.get(1).asText()};
            }
            if (pair == null || pair[0].isEmpty() || pair[1].isEmpty()) {
                throw bad(tokenizerJson, "model.merges[" + i + "] is not \"a b\" or [\"a\", \"b\"]: " + printable(m.toString(), 60));
            }
            pairs.add(pair);
        }
        return pairs;
    }

    static Map<String, Integer> readVocab(Path file, JsonNode node) {
        if (!node.isObject()) throw bad(file, "the vocabulary is not a JSON object of token -> id");
        Map<String, Integer> vocab = new HashMap<>(node.size() * 2);
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().canConvertToInt() || !e.getValue().isIntegralNumber()) {
                throw bad(file, "token '" + printable(e.getKey()) + "' has id " + printable(e.getValue().toString(), 40) + ", expected an integer");
            }
            vocab.put(e.getKey(), e.getValue().asInt());
        }
        if (vocab.isEmpty()) throw bad(file, "the vocabulary is empty");
        return vocab;
    }

    private static void requireAbsent(Path file, JsonNode node, String name) {
        if (!node.isMissingNode() && !node.isNull()) throw bad(file, name + " is not supported (GPT-2 has none), found " + printable(node.toString(), 60));
    }

    static TokenizerException bad(Path file, String what) { return new TokenizerException(file + ": " + what); }

    /** Keeps messages on one line. */
    static String printable(String s) { return printable(s, 80); }

    static String printable(String s, int maxChars) {
        if (s == null) return "";
        StringBuilder sb = new StringBuilder();
        s.codePoints().limit(maxChars).forEach(cp -> {
            if (Character.isISOControl(cp) || cp == 0x2028 || cp == 0x2029) sb.append(String.format("\\u%04X", cp));
            else sb.appendCodePoint(cp);
        });
        if (s.codePointCount(0, s.length()) > maxChars) sb.append("...");
        return sb.toString();
    }

    static final class IntList {
        private int[] a;
        private int size;

        IntList(int capacity) { a = new int[Math.max(4, capacity)]; }

        void add(int v) {
            if (size == a.length) a = Arrays.copyOf(a, size * 2);
            a[size++] = v;
        }

        void addAll(int[] vs) {
            if (size + vs.length > a.length) a = Arrays.copyOf(a, Math.max(a.length * 2, size + vs.length));
            System.arraycopy(vs, 0, a, size, vs.length);
            size += vs.length;
        }

        int[] toArray() { return Arrays.copyOf(a, size); }
    }
}
