package dev.kvdecode.runtime.tokenizer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Turns a stream of token ids into text without ever splitting a multi-byte UTF-8 character:
 * bytes of an incomplete character are held back until the tokens that complete it arrive.
 * Invalid bytes become U+FFFD, as Hugging Face's byte-level decoder does.
 */
public final class StreamDecoder {
    private final Tokenizer tokenizer;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    private ByteBuffer pending = ByteBuffer.allocate(64);

    public StreamDecoder(Tokenizer tokenizer) { this.tokenizer = tokenizer; }

    /** Adds one token; returns the text that is now complete (possibly empty). */
    public String push(int id) {
        byte[] bytes = tokenizer.tokenBytes(id);
        if (pending.remaining() < bytes.length) {
            ByteBuffer bigger = ByteBuffer.allocate(Math.max(pending.capacity() * 2, pending.position() + bytes.length));
            pending.flip();
            bigger.put(pending);
            pending = bigger;
        }
        pending.put(bytes);
        return drain(false);
    }

    /** Ends the sequence: any held-back incomplete character becomes U+FFFD. */
    public String flush() {
        String s = drain(true);
        utf8.reset();
        return s;
    }

    private String drain(boolean endOfInput) {
        pending.flip();
        CharBuffer out = CharBuffer.allocate(pending.remaining() + 2);
        utf8.decode(pending, out, endOfInput);
        if (endOfInput) utf8.flush(out);
        pending.compact(); // keeps the bytes of an incomplete trailing character
        out.flip();
        return out.toString();
    }
}
