package dev.kvdecode.runtime.tokenizer;

import dev.kvdecode.runtime.model.TokenizerKind;

import java.nio.file.Path;

/**
 * PLACEHOLDER from branch `model`, only so that ModelLoader.load(Path) compiles before the
 * tokenizer branch is merged. DROP THIS FILE ON MERGE: branch `tok` has the real class with the
 * same signature.
 */
public final class Tokenizers {
    private Tokenizers() {}

    public static Tokenizer load(Path modelDir, TokenizerKind kind) {
        throw new TokenizerException(modelDir + ": tokenizers are not available in this build (placeholder)");
    }
}
