package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A tokenizer.json's regexes (Split pre-tokenizer, Replace normalizer) are the file's and run on
 * every prompt: their work per text is bounded (OnigurumaRegex.READS_PER_CHAR reads per character),
 * and a runaway is a one-line TokenizerLimitException naming the file and field (issue 16).
 */
class RegexBudgetTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path FILE = Path.of("tokenizer.json");

    static PreTokenizer split(String regex) throws IOException {
        return PreTokenizer.of(FILE, JSON.readTree("{\"type\": \"Split\", \"behavior\": \"Isolated\", \"pattern\": {\"Regex\": "
                + JSON.writeValueAsString(regex) + "}}"), "pre_tokenizer");
    }

    /**
     * Catastrophic patterns on a's and a non-matching end. Since JDK 9 java.util.regex memoizes a
     * repeated greedy group, so (a+)+$ is quadratic rather than exponential (1.2 n^2 reads: 30 M at
     * n = 5,000, 12 G at 100,000); ((a+)+)+b is still exponential (151 M reads at n = 24, years at
     * n = 60); a*a*a*a*a*a*b is n^6.
     */
    @ParameterizedTest
    @ValueSource(strings = {"(a+)+$ 5000", "((a+)+)+b 60", "a*a*a*a*a*a*b 2000"})
    void catastrophicBacktrackingIsAOneLineError(String patternAndLength) throws IOException {
        String regex = patternAndLength.split(" ")[0];
        int n = Integer.parseInt(patternAndLength.split(" ")[1]);
        String text = "a".repeat(n) + "!";
        TokenizerLimitException e = assertThrows(TokenizerLimitException.class, () -> split(regex).split(List.of(text), true));
        assertEquals(String.format("tokenizer.json: pre_tokenizer.pattern: the regex gave up after %,d character reads on a text of %,d characters"
                + " (catastrophic backtracking)", 1_000L * (n + 2), n + 1), e.getMessage());
        // the same pattern on a text it matches at once is fine
        assertEquals("aaaab", String.join("", split(regex).split(List.of("aaaab"), true)));
    }

    /** java.util.regex recurses once per repetition of a group: a long text overflows the stack; one line, not a StackOverflowError. */
    @Test
    void deepRecursionIsAOneLineError() throws IOException {
        String text = "ab".repeat(500_000);
        TokenizerLimitException e = assertThrows(TokenizerLimitException.class, () -> split("(?:a|b)+").split(List.of(text), true));
        assertEquals("tokenizer.json: pre_tokenizer.pattern: the regex recursed past the thread's stack on a text of 1,000,000 characters"
                + " (a repeated group; java.util.regex recurses once per repetition)", e.getMessage());
    }

    /** A Replace normalizer's regex is bounded the same way. */
    @Test
    void normalizerRegexIsBounded() throws IOException {
        var replace = TextNormalizer.replace(FILE, JSON.readTree("{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"((a+)+)+c\"}, \"content\": \"x\"}"),
                "normalizer.normalizers[1]");
        assertEquals("x-x", replace.apply("aac-ac"));
        TokenizerLimitException e = assertThrows(TokenizerLimitException.class, () -> replace.apply("a".repeat(60)));
        assertTrue(e.getMessage().startsWith("tokenizer.json: normalizer.normalizers[1].pattern: the regex gave up after 61,000 character reads"),
                e.getMessage());
    }

    /** End to end: a Llama 3 tokenizer.json with a hostile Split pattern; encode fails in one line, and the tokenizer stays usable. */
    @Test
    void hostileSplitInARealFile(@TempDir Path tmp) throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(RealTokenizers.dir("llama3").resolve("tokenizer.json").toFile());
        ((ObjectNode) root.get("pre_tokenizer").get("pretokenizers").get(0).get("pattern")).put("Regex", "((\\w+)+)+#");
        Path file = tmp.resolve("tokenizer.json");
        JSON.writeValue(file.toFile(), root);
        HfTokenizer tok = HfTokenizer.load(file);
        TokenizerLimitException e = assertThrows(TokenizerLimitException.class, () -> tok.encode("a sentence with one long word: " + "a".repeat(60)));
        assertTrue(e.getMessage().startsWith(file + ": pre_tokenizer.pretokenizers[0].pattern: the regex gave up after "), e.getMessage());
        assertTrue(tok.encode("words").length > 0);
    }

    /** Texts that make the real patterns work hardest: long runs of each character class, and the HF fixture texts. */
    static Map<String, String> hardTexts() {
        Map<String, String> t = new LinkedHashMap<>();
        int n = 100_000;
        t.put("spaces then a letter", " ".repeat(n) + "x");
        t.put("spaces", " ".repeat(n));
        t.put("tabs then newline", "\t".repeat(n) + "\n");
        t.put("newlines", "\n".repeat(n));
        t.put("crlf", "\r\n".repeat(n / 2));
        t.put("space-newline", " \n".repeat(n / 2));
        t.put("letters", "a".repeat(n));
        t.put("digits", "7".repeat(n));
        t.put("punctuation", "!".repeat(n));
        t.put("space-punctuation", " !".repeat(n / 2));
        t.put("apostrophes", "'".repeat(n));
        t.put("'s runs", "'s".repeat(n / 2));
        t.put("CJK", "\u4e2d".repeat(n));
        t.put("astral", "\ud83d\ude00".repeat(n / 2));
        t.put("mixed words", "Hello, world! 123 4567 it's\tfine\r\n  ok ".repeat(n / 40));
        StringBuilder cases = new StringBuilder();
        for (String name : RealTokenizers.NAMES)
            for (JsonNode c : RealTokenizers.expected(name).get("cases")) cases.append(c.get("text").asText()).append('\n');
        t.put("HF fixture texts", cases.toString());
        return t;
    }

    /**
     * The real tokenizers' Split patterns read each character 1-4 times on these texts, so the
     * budget of OnigurumaRegex.READS_PER_CHAR (1,000) is at least 100 times what they need.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3", "qwen3"})
    void realPatternsStayFarBelowTheBudget(String name) throws IOException {
        JsonNode pre = JSON.readTree(RealTokenizers.dir(name).resolve("tokenizer.json").toFile()).get("pre_tokenizer");
        Pattern p = OnigurumaRegex.compile(pre.get("pretokenizers").get(0).get("pattern").get("Regex").asText());
        List<String> worst = new ArrayList<>();
        double max = 0;
        for (var e : hardTexts().entrySet()) {
            double perChar = OnigurumaRegex.readsToFindAll(p, e.getValue()) / (double) (e.getValue().length() + 1);
            worst.add(String.format("%s %.2f", e.getKey(), perChar));
            max = Math.max(max, perChar);
        }
        System.out.println(name + ": character reads per character: " + worst);
        assertTrue(max * 100 <= OnigurumaRegex.READS_PER_CHAR, name + ": " + worst);
    }
}
