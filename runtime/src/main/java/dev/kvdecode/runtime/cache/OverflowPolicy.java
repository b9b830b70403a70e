package dev.kvdecode.runtime.cache;

/** What the KV cache does when a new token arrives and all {@code capacity} slots are used. */
public enum OverflowPolicy {
    /** Move every row left by one in place, write the new entry last (the tutorial's semantics). */
    SHIFT,
    /** Write at length mod capacity, no copy; attention visits the same entries oldest first. */
    RING,
    /** End generation with a clear message. */
    STOP
}
