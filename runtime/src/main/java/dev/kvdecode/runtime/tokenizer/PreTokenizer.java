package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A tokenizer.json "pre_tokenizer": splits normalized text into the words BPE runs on, and maps
 * them into the vocabulary's alphabet (HF tokenizers' pre_tokenizers module). Supported:
 * Sequence, Split (any behavior but Contiguous; the regex is read from the file, see
 * {@link OnigurumaRegex}), ByteLevel (with or without GPT-2's regex) and Metaspace.
 */
interface PreTokenizer {
    /**
     * Splits pieces further, in order.
     * @param atTextStart whether pieces.get(0) begins at the start of the whole input (Metaspace
     *                    prepend_scheme "first" looks at this)
     */
    List<String> split(List<String> pieces, boolean atTextStart);

    PreTokenizer NONE = (pieces, atTextStart) -> pieces;

    static PreTokenizer of(Path file, JsonNode node, String field) {
        if (node == null || node.isNull() || node.isMissingNode()) return NONE;
        String type = node.path("type").asText("");
        return switch (type) {
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                JsonNode list = node.path("pretokenizers");
                for (int i = 0; i < list.size(); i++) steps.add(of(file, list.get(i), field + ".pretokenizers[" + i + "]"));
                yield (pieces, atTextStart) -> {
                    for (PreTokenizer step : steps) pieces = step.split(pieces, atTextStart);
                    return pieces;
                };
            }
            case "Split" -> split(file, node, field);
            case "ByteLevel" -> byteLevel(node);
            case "Metaspace" -> metaspace(file, node, field);
            default -> throw new TokenizerException(file + ": " + field + ".type \"" + type + "\" is not supported"
                    + " (supported: Sequence, Split, ByteLevel, Metaspace)");
        };
    }

    /** Split: cut each piece at the matches of a pattern; behavior says where the matches go. */
    private static PreTokenizer split(Path file, JsonNode node, String field) {
        Pattern p = TextNormalizer.pattern(file, node.path("pattern"), field + ".pattern");
        boolean invert = node.path("invert").asBoolean(false);
        String behavior = node.path("behavior").asText("");
        if (!List.of("Isolated", "Removed", "MergedWithPrevious", "MergedWithNext").contains(behavior)) {
            throw new TokenizerException(file + ": " + field + ".behavior \"" + behavior + "\" is not supported"
                    + " (supported: Isolated, Removed, MergedWithPrevious, MergedWithNext)");
        }
        String where = file + ": " + field + ".pattern";
        return (pieces, atTextStart) -> {
            List<String> out = new ArrayList<>(pieces.size() * 4);
            for (String s : pieces) splitOne(s, p, where, invert, behavior, out);
            return out;
        };
    }

    /** HF's NormalizedString::split: (start, end, isMatch) spans, then the behavior joins them. */
    private static void splitOne(String s, Pattern p, String where, boolean invert, String behavior, List<String> out) {
        List<int[]> spans = new ArrayList<>(); // {start, end, isDelimiter}
        Matcher m = OnigurumaRegex.matcher(p, s, where); // the file's regex: bounded work
        int last = OnigurumaRegex.bounded(where, s, () -> {
            int end = 0;
            while (m.find()) {
                if (m.end() == m.start()) continue; // empty matches split nothing
                if (m.start() > end) spans.add(new int[] {end, m.start(), invert ? 1 : 0});
                spans.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
                end = m.end();
            }
            return end;
        });
        if (last < s.length()) spans.add(new int[] {last, s.length(), invert ? 1 : 0});
        switch (behavior) {
            case "Isolated" -> { for (int[] sp : spans) out.add(s.substring(sp[0], sp[1])); }
            case "Removed" -> { for (int[] sp : spans) if (sp[2] == 0) out.add(s.substring(sp[0], sp[1])); }
            case "MergedWithPrevious" -> {
                int start = -1, end = -1;
                for (int[] sp : spans) {
                    if (sp[2] == 1 && start >= 0) { end = sp[1]; continue; }
                    if (start >= 0) out.add(s.substring(start, end));
                    start = sp[0];
                    end = sp[1];
                }
                if (start >= 0) out.add(s.substring(start, end));
            }
            case "MergedWithNext" -> {
                int start = -1;
                for (int[] sp : spans) {
                    if (start < 0) start = sp[0];
                    if (sp[2] == 1) continue; // a delimiter joins what follows it
                    out.add(s.substring(start, sp[1]));
                    start = -1;
                }
                if (start >= 0) out.add(s.substring(start));
            }
            default -> throw new IllegalStateException(behavior);
        }
    }

    /**
     * ByteLevel: optionally a space before each piece that has none, optionally GPT-2's split
     * ({@link Gpt2PreTokenizer}), then each piece's UTF-8 bytes as {@link ByteLevel} characters.
     */
    private static PreTokenizer byteLevel(JsonNode node) {
        boolean addPrefixSpace = node.path("add_prefix_space").asBoolean(true);
        boolean useRegex = node.path("use_regex").asBoolean(true);
        return (pieces, atTextStart) -> {
            List<String> out = new ArrayList<>(pieces.size() * (useRegex ? 4 : 1));
            for (String s : pieces) {
                if (addPrefixSpace && !s.startsWith(" ")) s = " " + s;
                if (useRegex) {
                    String text = s;
                    Gpt2PreTokenizer.split(text, 0, text.length(), (a, b) -> out.add(Gpt2BpeTokenizer.byteLevelChars(text.substring(a, b))));
                } else {
                    out.add(Gpt2BpeTokenizer.byteLevelChars(s));
                }
            }
            return out;
        };
    }

    /**
     * Metaspace (SentencePiece): spaces become the replacement character (U+2581), a replacement
     * is prepended (prepend_scheme always, or first: only at the start of the input; older files
     * say add_prefix_space), and with split=true each piece is cut before every replacement.
     */
    private static PreTokenizer metaspace(Path file, JsonNode node, String field) {
        String replacement = node.path("replacement").asText("\u2581");
        String scheme = node.has("prepend_scheme") ? node.get("prepend_scheme").asText()
                : node.path("add_prefix_space").asBoolean(true) ? "always" : "never";
        if (!List.of("always", "first", "never").contains(scheme)) {
            throw new TokenizerException(file + ": " + field + ".prepend_scheme \"" + scheme + "\" is not supported (always, first, never)");
        }
        boolean split = node.path("split").asBoolean(true);
        return (pieces, atTextStart) -> {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < pieces.size(); i++) {
                String s = pieces.get(i).replace(" ", replacement);
                boolean prepend = scheme.equals("always") || (scheme.equals("first") && atTextStart && i == 0);
                if (prepend && !s.startsWith(replacement)) s = replacement + s;
                if (!split) { out.add(s); continue; }
                int start = 0;
                for (int at = s.indexOf(replacement, 1); at >= 0; at = s.indexOf(replacement, at + 1)) {
                    if (at > start) { out.add(s.substring(start, at)); start = at; }
                }
                if (start < s.length()) out.add(s.substring(start));
            }
            return out;
        };
    }
}
