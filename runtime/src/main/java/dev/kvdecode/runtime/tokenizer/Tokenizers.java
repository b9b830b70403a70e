package dev.kvdecode.runtime.tokenizer;

import dev.kvdecode.runtime.model.TokenizerKind;

import java.nio.file.Files;
import java.nio.file.Path;

/** Loads a model directory's tokenizer by kind (see docs/MODEL_FORMAT.md). */
public final class Tokenizers {
    private Tokenizers() {}

    /**
     * GPT2_BPE: tokenizer.json if present ({@link HfTokenizer#fromModelDir}), else vocab.json +
     * merges.txt. CHAR: chars.json. TOKENIZER_JSON (the Llama family): tokenizer.json, with
     * tokenizer_config.json's bos/eos where present.
     * A missing file is a {@link TokenizerException} naming the directory and the files looked for.
     */
    public static Tokenizer load(Path modelDir, TokenizerKind kind) {
        if (!Files.isDirectory(modelDir)) throw new TokenizerException(modelDir + ": not a directory");
        return switch (kind) {
            case GPT2_BPE -> {
                Path tokenizerJson = modelDir.resolve("tokenizer.json");
                if (Files.isRegularFile(tokenizerJson)) yield HfTokenizer.fromModelDir(modelDir);
                Path vocab = modelDir.resolve("vocab.json"), merges = modelDir.resolve("merges.txt");
                boolean hasVocab = Files.isRegularFile(vocab), hasMerges = Files.isRegularFile(merges);
                if (hasVocab && hasMerges) yield Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges);
                String found = hasVocab ? " (found vocab.json but no merges.txt)" : hasMerges ? " (found merges.txt but no vocab.json)" : "";
                throw new TokenizerException(modelDir + ": no GPT-2 tokenizer: looked for tokenizer.json, or vocab.json + merges.txt" + found);
            }
            case CHAR -> {
                Path chars = modelDir.resolve("chars.json");
                if (Files.isRegularFile(chars)) yield CharTokenizer.fromFile(chars);
                throw new TokenizerException(modelDir + ": no char vocabulary: looked for chars.json");
            }
            // the Llama family: byte-level or SentencePiece-style BPE, as the file says
            case TOKENIZER_JSON -> {
                if (Files.isRegularFile(modelDir.resolve("tokenizer.json"))) yield HfTokenizer.fromModelDir(modelDir);
                throw new TokenizerException(modelDir + ": no tokenizer: looked for tokenizer.json");
            }
        };
    }
}
