package dev.kvdecode.runtime.tokenizer;

/** Text to token ids and back. Implementations are immutable and thread-safe. */
public interface Tokenizer {
    /** Token ids of a text. Throws {@link TokenizerException} for text the vocabulary cannot express. */
    int[] encode(String text);

    /**
     * Token ids of a text, without the special tokens a post-processor adds (BOS) when
     * addSpecialTokens is false: how a rendered chat template, which holds its own BOS, is
     * encoded (as HF's apply_chat_template does). Tokenizers without a post-processor ignore it.
     */
    default int[] encode(String text, boolean addSpecialTokens) { return encode(text); }

    /** The raw bytes a token stands for (UTF-8 fragments for byte-level BPE). */
    byte[] tokenBytes(int id);

    int vocabSize();

    /** The end-of-text token id, or -1 if the vocabulary has none. */
    int eosToken();

    /** Decodes a whole sequence (invalid UTF-8 becomes U+FFFD, as HF does). */
    default String decode(int[] ids) {
        StreamDecoder d = streamDecoder();
        StringBuilder sb = new StringBuilder();
        for (int id : ids) sb.append(d.push(id));
        sb.append(d.flush());
        return sb.toString();
    }

    /** A fresh streaming decoder for one sequence. */
    default StreamDecoder streamDecoder() { return new StreamDecoder(this); }
}
