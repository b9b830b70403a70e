package dev.kvdecode.runtime.engine;

/** Why a sequence stopped generating. */
public enum StopReason {
    /** It produced the requested number of new tokens. */
    MAX_TOKENS,
    /** It sampled the end-of-text token (not included in its tokens). */
    EOS,
    /** The window was full under {@code --overflow stop}. */
    CONTEXT_FULL
}
