package dev.kvdecode.runtime.model.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvdecode.runtime.tokenizer.HfTokenizer;
import dev.kvdecode.runtime.tokenizer.RealTokenizers;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The real Llama 3 (byte-level BPE, pre-tokenizer llama-bpe), Qwen3 (byte-level, qwen2) and
 * Llama 2 (SentencePiece) vocabularies written into GGUF tokenizer metadata the way llama.cpp's
 * convert_hf_to_gguf.py lays them out (tokens by id, token types, merges or scores), then read by
 * the GGUF path: the ids equal HF tokenizers' on the ~100-text corpus of
 * hf-tokenizers/fixtures.json (Shakespeare, code, numbers, CJK, emoji, whitespace runs,
 * special-token look-alikes).
 *
 * <p>The npm Llama 2 folder has no tokenizer.model, so its scores are made from tokenizer.json:
 * a token's score is minus the rank of the first merge that makes it (SentencePiece BPE scores a
 * piece by when it was merged, and that order is what HF's merges list keeps). The GGUF path
 * derives its merges back from those scores, so this checks that derivation against HF's own
 * merges.
 */
class GgufRealTokenizerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest
    @CsvSource({"llama3, gpt2, llama-bpe", "qwen3, gpt2, qwen2", "llama2, llama, default"})
    void ggufVocabularyGivesHfIds(String name, String model, String pre, @TempDir Path tmp) throws Exception {
        Path gguf = convert(RealTokenizers.dir(name), model, pre, tmp.resolve(name + ".gguf"));
        HfTokenizer tok;
        try (GgufFile f = GgufFile.open(gguf)) {
            tok = GgufTokenizers.tokenizer(gguf, f);
        }
        JsonNode expected = RealTokenizers.expected(name);
        JsonNode cases = expected.get("cases");
        assertTrue(cases.size() >= 100, name + ": " + cases.size() + " cases");
        int mismatches = 0;
        StringBuilder first = new StringBuilder();
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            int[] want = GgufLlamaTest.ints(c.get("ids"));
            int[] got = tok.encode(text);
            if (!java.util.Arrays.equals(want, got)) {
                if (mismatches++ == 0) first.append(text, 0, Math.min(80, text.length())).append(": want ")
                        .append(java.util.Arrays.toString(want)).append(" got ").append(java.util.Arrays.toString(got));
            }
            assertEquals(c.get("decoded").asText(), tok.decode(want), name + ": decode of HF's ids");
        }
        assertEquals(0, mismatches, name + ": " + mismatches + " of " + cases.size() + " texts differ; first: " + first);
        JsonNode noSpecial = expected.get("no_special_first8");
        for (int i = 0; i < noSpecial.size(); i++)
            assertArrayEquals(GgufLlamaTest.ints(noSpecial.get(i)), tok.encode(cases.get(i).get("text").asText(), false), name + ": without specials");
    }

    /** tokenizer.json + tokenizer_config.json -> a GGUF file holding only the tokenizer metadata. */
    static Path convert(Path dir, String model, String pre, Path out) throws Exception {
        JsonNode root = JSON.readTree(dir.resolve("tokenizer.json").toFile());
        JsonNode config = JSON.readTree(dir.resolve("tokenizer_config.json").toFile());
        JsonNode m = root.get("model");
        Map<Integer, String> byId = new HashMap<>();
        Map<Integer, Integer> typeOf = new HashMap<>();
        int n = 0;
        for (var it = m.get("vocab").fields(); it.hasNext(); ) {
            var e = it.next();
            int id = e.getValue().intValue();
            byId.put(id, e.getKey());
            typeOf.put(id, model.equals("llama") && e.getKey().matches("<0x[0-9A-F]{2}>") ? GgufTokenizers.BYTE : GgufTokenizers.NORMAL);
            n = Math.max(n, id + 1);
        }
        String unk = m.path("unk_token").asText(null);
        for (JsonNode a : root.get("added_tokens")) {
            int id = a.get("id").intValue();
            String content = a.get("content").asText();
            byId.put(id, content);
            typeOf.put(id, content.equals(unk) ? GgufTokenizers.UNKNOWN : a.get("special").asBoolean() ? GgufTokenizers.CONTROL : GgufTokenizers.USER_DEFINED);
            n = Math.max(n, id + 1);
        }
        List<String> tokens = new ArrayList<>(n);
        int[] types = new int[n];
        for (int i = 0; i < n; i++) {
            tokens.add(byId.getOrDefault(i, "[PAD" + i + "]"));
            types[i] = typeOf.getOrDefault(i, GgufTokenizers.UNUSED);
        }
        List<String> merges = new ArrayList<>();
        for (JsonNode mg : m.get("merges")) merges.add(mg.isArray() ? mg.get(0).asText() + " " + mg.get(1).asText() : mg.asText());

        GgufWriter w = new GgufWriter().string("general.architecture", "llama")
                .string("tokenizer.ggml.model", model).string("tokenizer.ggml.pre", pre)
                .strings("tokenizer.ggml.tokens", tokens).i32s("tokenizer.ggml.token_type", types);
        if (model.equals("gpt2")) {
            w.strings("tokenizer.ggml.merges", merges);
        } else {
            Map<String, Integer> firstRank = new HashMap<>();
            for (int r = 0; r < merges.size(); r++) firstRank.putIfAbsent(merges.get(r).replace(" ", ""), r);
            float[] scores = new float[n];
            for (int i = 0; i < n; i++) {
                Integer r = firstRank.get(tokens.get(i));
                scores[i] = types[i] != GgufTokenizers.NORMAL ? 0f : r != null ? -r : -1e9f;
            }
            ByteBuffer b = ByteBuffer.allocate(12 + 4 * n).order(ByteOrder.LITTLE_ENDIAN)
                    .putInt(GgufFile.ValueType.FLOAT32.ordinal()).putLong(n);
            for (float s : scores) b.putFloat(s);
            w.raw("tokenizer.ggml.scores", GgufFile.ValueType.ARRAY.ordinal(), b.array());
            if (unk != null) w.u32("tokenizer.ggml.unknown_token_id", tokens.indexOf(unk));
        }
        boolean addBos = root.path("post_processor").toString().contains("\"SpecialToken\"")
                && root.path("post_processor").path("single").path(0).has("SpecialToken");
        w.raw("tokenizer.ggml.add_bos_token", GgufFile.ValueType.BOOL.ordinal(), new byte[] {(byte) (addBos ? 1 : 0)});
        String bos = specialName(config.get("bos_token")), eos = specialName(config.get("eos_token"));
        if (bos != null) w.u32("tokenizer.ggml.bos_token_id", tokens.indexOf(bos));
        if (eos != null) w.u32("tokenizer.ggml.eos_token_id", tokens.indexOf(eos));
        w.write(out);
        return out;
    }

    private static String specialName(JsonNode n) {
        if (n == null || n.isNull()) return null;
        return n.isTextual() ? n.asText() : n.path("content").asText(null);
    }
}
