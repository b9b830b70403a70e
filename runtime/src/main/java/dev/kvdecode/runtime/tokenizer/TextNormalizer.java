package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A tokenizer.json "normalizer": rewrites each stretch of text between added tokens before it is
 * pre-tokenized (HF tokenizers' normalizers module). Supported: Sequence, NFC, NFD, NFKC, NFKD,
 * Lowercase, Prepend, Replace (String or Regex pattern) and Strip.
 */
final class TextNormalizer {
    private TextNormalizer() {}

    /** The normalizer a JSON node describes; null or JSON null: none (identity). */
    static UnaryOperator<String> of(Path file, JsonNode node, String field) {
        if (node == null || node.isNull() || node.isMissingNode()) return UnaryOperator.identity();
        String type = node.path("type").asText("");
        return switch (type) {
            case "Sequence" -> {
                List<UnaryOperator<String>> steps = new ArrayList<>();
                JsonNode list = node.path("normalizers");
                for (int i = 0; i < list.size(); i++) steps.add(of(file, list.get(i), field + ".normalizers[" + i + "]"));
                yield s -> {
                    for (UnaryOperator<String> step : steps) s = step.apply(s);
                    return s;
                };
            }
            case "NFC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFC);
            case "NFD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFD);
            case "NFKC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
            case "NFKD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
            case "Lowercase" -> s -> s.toLowerCase(Locale.ROOT);
            case "Prepend" -> {
                String prefix = node.path("prepend").asText("");
                yield s -> s.isEmpty() ? s : prefix + s; // HF prepends only to non-empty text
            }
            case "Replace" -> replace(file, node, field);
            case "Strip" -> {
                boolean left = node.path("strip_left").asBoolean(true), right = node.path("strip_right").asBoolean(true);
                yield s -> {
                    int from = 0, to = s.length();
                    while (left && from < to && Character.isWhitespace(s.codePointAt(from))) from += Character.charCount(s.codePointAt(from));
                    while (right && to > from && Character.isWhitespace(s.codePointBefore(to))) to -= Character.charCount(s.codePointBefore(to));
                    return s.substring(from, to);
                };
            }
            default -> throw new TokenizerException(file + ": " + field + ".type \"" + type + "\" is not supported"
                    + " (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip)");
        };
    }

    /** Replace: every match of pattern.String (literal) or pattern.Regex becomes content. */
    static UnaryOperator<String> replace(Path file, JsonNode node, String field) {
        Pattern p = pattern(file, node.path("pattern"), field + ".pattern");
        String content = Matcher.quoteReplacement(node.path("content").asText(""));
        String where = file + ": " + field + ".pattern";
        return s -> OnigurumaRegex.bounded(where, s, () -> OnigurumaRegex.matcher(p, s, where).replaceAll(content));
    }

    /** A tokenizer.json pattern: {"String": literal} or {"Regex": Oniguruma regex}. */
    static Pattern pattern(Path file, JsonNode pattern, String field) {
        if (pattern.hasNonNull("String")) return Pattern.compile(Pattern.quote(pattern.get("String").asText()));
        if (pattern.hasNonNull("Regex")) {
            try {
                return OnigurumaRegex.compile(pattern.get("Regex").asText());
            } catch (java.util.regex.PatternSyntaxException e) {
                throw new TokenizerException(file + ": " + field + ".Regex does not compile: " + Gpt2BpeTokenizer.printable(e.getDescription(), 100));
            }
        }
        throw new TokenizerException(file + ": " + field + " must be {\"String\": ...} or {\"Regex\": ...}");
    }
}
