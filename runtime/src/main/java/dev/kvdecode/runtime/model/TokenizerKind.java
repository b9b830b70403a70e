package dev.kvdecode.runtime.model;

/** How a model directory's text is tokenized (see docs/MODEL_FORMAT.md). */
public enum TokenizerKind {
    /** GPT-2 byte-level BPE: vocab.json + merges.txt, or tokenizer.json. */
    GPT2_BPE,
    /** One token per character: chars.json, a JSON array of one-character strings, index = id. */
    CHAR,
    /** tokenizer.json as Hugging Face tokenizers reads it (model, normalizer, pre-tokenizer, post-processor): the Llama family. */
    TOKENIZER_JSON
}
