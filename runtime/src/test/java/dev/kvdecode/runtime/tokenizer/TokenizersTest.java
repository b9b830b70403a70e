package dev.kvdecode.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvdecode.runtime.model.TokenizerKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Which files load picks, and the one-line messages for missing or corrupt files. */
class TokenizersTest {
    private static final Path DIR = Fixtures.gpt2Dir();

    private static void copy(Path to, String... names) throws IOException {
        for (String n : names) Files.copy(DIR.resolve(n), to.resolve(n));
    }

    private static String messageOf(Runnable r) {
        TokenizerException e = assertThrows(TokenizerException.class, r::run);
        assertFalse(e.getMessage().contains("\n"), () -> "multi-line message: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void loadsEachGpt2Layout(@TempDir Path tmp) throws IOException {
        JsonNode c = Fixtures.json("fixtures.json").get("cases").get(20);
        int[] want = Fixtures.ints(c.get("ids"));
        Path files = Files.createDirectory(tmp.resolve("files"));
        copy(files, "vocab.json", "merges.txt");
        assertArrayEquals(want, Tokenizers.load(files, TokenizerKind.GPT2_BPE).encode(c.get("text").asText()));
        Path json = Files.createDirectory(tmp.resolve("json"));
        copy(json, "tokenizer.json");
        assertArrayEquals(want, Tokenizers.load(json, TokenizerKind.GPT2_BPE).encode(c.get("text").asText()));
    }

    @Test
    void prefersTokenizerJson(@TempDir Path tmp) throws IOException {
        copy(tmp, "tokenizer.json");
        Files.writeString(tmp.resolve("vocab.json"), "not json");
        Files.writeString(tmp.resolve("merges.txt"), "");
        assertEquals(50257, Tokenizers.load(tmp, TokenizerKind.GPT2_BPE).vocabSize());
    }

    @Test
    void missingFilesNameTheDirectoryAndTheFiles(@TempDir Path tmp) throws IOException {
        assertEquals(tmp + ": no GPT-2 tokenizer: looked for tokenizer.json, or vocab.json + merges.txt",
                messageOf(() -> Tokenizers.load(tmp, TokenizerKind.GPT2_BPE)));
        assertEquals(tmp + ": no char vocabulary: looked for chars.json",
                messageOf(() -> Tokenizers.load(tmp, TokenizerKind.CHAR)));
        copy(tmp, "vocab.json");
        assertEquals(tmp + ": no GPT-2 tokenizer: looked for tokenizer.json, or vocab.json + merges.txt (found vocab.json but no merges.txt)",
                messageOf(() -> Tokenizers.load(tmp, TokenizerKind.GPT2_BPE)));
        Path nowhere = tmp.resolve("missing");
        assertEquals(nowhere + ": not a directory", messageOf(() -> Tokenizers.load(nowhere, TokenizerKind.CHAR)));
    }

    @Test
    void loadsChars(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("chars.json"), "[\"a\",\"b\"]", StandardCharsets.UTF_8);
        assertArrayEquals(new int[] {1, 0}, Tokenizers.load(tmp, TokenizerKind.CHAR).encode("ba"));
    }

    @Test
    void corruptGpt2FilesAreOneLineErrors(@TempDir Path tmp) throws IOException {
        Path vocab = tmp.resolve("vocab.json"), merges = tmp.resolve("merges.txt");
        Files.writeString(vocab, "{\"a\": 0,");
        Files.writeString(merges, "#version: 0.2\n");
        assertTrue(messageOf(() -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges))
                .startsWith(vocab + ": not valid JSON at line 1, column 9: "));

        Files.writeString(vocab, "[1, 2]");
        assertEquals(vocab + ": the vocabulary is not a JSON object of token -> id",
                messageOf(() -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)));

        Files.writeString(vocab, "{\"a\": \"x\"}");
        assertEquals(vocab + ": token 'a' has id \"x\", expected an integer",
                messageOf(() -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)));

        Files.writeString(vocab, "{\"a\": 0, \"b\": 1}");
        assertEquals(vocab + ": not a byte-level BPE vocabulary: byte 0x00 (token '\u0100') is missing",
                messageOf(() -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)));

        Files.copy(DIR.resolve("vocab.json"), vocab, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.writeString(merges, "#version: 0.2\nĠ t\nĠt h e x\n");
        assertEquals(merges + ": line 3 is not a merge \"a b\": 'Ġt h e x'",
                messageOf(() -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)));

        Files.writeString(merges, "#version: 0.2\nĠ t\nzzzq zzzq\n");
        assertEquals(merges + ": merge 'zzzq zzzq' (rank 1): token 'zzzq' is not in the vocabulary",
                messageOf(() -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)));

        Files.write(merges, new byte[] {(byte) 0xC3, (byte) 0x28, '\n'});
        assertEquals(merges + ": cannot read: not valid UTF-8", messageOf(() -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)));

        Files.delete(merges);
        assertEquals(merges + ": cannot read: no such file", messageOf(() -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)));
    }

    @Test
    void unsupportedOrCorruptTokenizerJsonIsAOneLineError(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("tokenizer.json");
        String good = Files.readString(DIR.resolve("tokenizer.json"));
        Files.writeString(f, good.substring(0, 5000));
        assertTrue(messageOf(() -> Gpt2BpeTokenizer.fromTokenizerJson(f)).startsWith(f + ": not valid JSON at line 1, column "));
        Files.writeString(f, "{\"version\": \"1.0\"}");
        assertEquals(f + ": no \"model\" object", messageOf(() -> Gpt2BpeTokenizer.fromTokenizerJson(f)));
        Files.writeString(f, good.replace("\"type\":\"BPE\"", "\"type\":\"WordPiece\""));
        assertEquals(f + ": model.type is \"WordPiece\", expected \"BPE\"", messageOf(() -> Gpt2BpeTokenizer.fromTokenizerJson(f)));
        Files.writeString(f, good.replace("\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}",
                "\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}"));
        assertEquals(f + ": pre_tokenizer.add_prefix_space=true is not supported (GPT-2 uses false)",
                messageOf(() -> Gpt2BpeTokenizer.fromTokenizerJson(f)));
        Files.writeString(f, good.replace("\"lstrip\":false", "\"lstrip\":true"));
        assertEquals(f + ": added_tokens[0] ('<|endoftext|>') sets lstrip=true, which is not supported",
                messageOf(() -> Gpt2BpeTokenizer.fromTokenizerJson(f)));
        Files.writeString(f, good.replace("\"normalizer\":null", "\"normalizer\":{\"type\":\"NFC\"}"));
        assertEquals(f + ": normalizer is not supported (GPT-2 has none), found {\"type\":\"NFC\"}",
                messageOf(() -> Gpt2BpeTokenizer.fromTokenizerJson(f)));
    }
}
