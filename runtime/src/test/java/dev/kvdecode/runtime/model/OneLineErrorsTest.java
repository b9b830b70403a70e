package dev.kvdecode.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.kvdecode.runtime.tokenizer.TokenizerException;
import org.junit.jupiter.api.Test;

/**
 * The one-line promise of the user-facing error types holds whatever file content a message
 * quotes (issue 16: the char model fuzz target found a config.json value with a line break in it,
 * CharModelFuzzTestInputs/model/crash-newline-in-config-value).
 */
class OneLineErrorsTest {

    @Test
    void controlCharactersAndLineSeparatorsAreEscaped() {
        assertEquals("config.json: tokenizer \"ch\\u000D\\u000A\\u2028x\\u0000\" is not supported",
                new ModelFormatException("config.json: tokenizer \"ch\r\n\u2028x\u0000\" is not supported").getMessage());
        assertEquals("vocab.json: token 'a\\u000Ab'", new TokenizerException("vocab.json: token 'a\nb'").getMessage());
        assertEquals("t\\u0009ab", new TokenizerException("t\tab", new RuntimeException()).getMessage());
    }

    @Test
    void printableTextIsUnchanged() {
        String s = "model.safetensors: tensor h.0.attn caf\u00e9 \ud83d\ude00 [1, 2]";
        assertSame(s, ModelFormatException.oneLine(s));
        assertEquals(s, new ModelFormatException(s).getMessage());
        assertEquals(null, ModelFormatException.oneLine(null));
    }
}
