package dev.kvdecode.runtime.model;

import java.util.Locale;

/**
 * The JVM's heap cannot hold a model's weights (or a backend's copy of them). The message is one
 * line naming what needed the memory, how much, what the JVM allows, and how to give it more.
 */
public class HeapTooSmallException extends RuntimeException {
    public HeapTooSmallException(String message) { super(message); }

    /**
     * Throws when {@code neededBytes} more cannot fit this JVM's heap: more than its maximum minus
     * what is in use now (live objects and not yet collected garbage alike, after a collection
     * request was honoured or not; the bound is meant to catch the impossible cases early, the
     * caller also turns an OutOfMemoryError into this exception).
     *
     * @param what e.g. {@code "model.safetensors: the fp32 weights"}
     */
    public static void check(String what, long neededBytes, long maxHeapBytes, long usedBytes) {
        if (maxHeapBytes == Long.MAX_VALUE) return;   // no limit set
        if (neededBytes > maxHeapBytes - usedBytes) throw of(what, neededBytes, maxHeapBytes, usedBytes);
    }

    /**
     * Checks against this JVM's heap ({@link Runtime#maxMemory()}, memory in use now); when that
     * fails, once more after a full collection, since "in use" counts garbage too.
     */
    public static void check(String what, long neededBytes) {
        Runtime rt = Runtime.getRuntime();
        long max = rt.maxMemory();
        if (max == Long.MAX_VALUE || neededBytes <= max - (rt.totalMemory() - rt.freeMemory())) return;
        System.gc();
        check(what, neededBytes, max, rt.totalMemory() - rt.freeMemory());
    }

    /** The exception for {@code what} needing {@code neededBytes} more, this JVM's heap as it is now. */
    public static HeapTooSmallException of(String what, long neededBytes) {
        Runtime rt = Runtime.getRuntime();
        return of(what, neededBytes, rt.maxMemory(), rt.totalMemory() - rt.freeMemory());
    }

    /**
     * The exception for {@code what} needing {@code neededBytes} more with a heap of at most
     * {@code maxHeapBytes}, {@code usedBytes} of it in use; suggests -Xmx for both with 25% and
     * 256 MiB to spare.
     */
    public static HeapTooSmallException of(String what, long neededBytes, long maxHeapBytes, long usedBytes) {
        long free = Math.max(0, maxHeapBytes - usedBytes);
        long suggest = (long) Math.ceil(((usedBytes + neededBytes) * 1.25 + (256L << 20)) / (double) (1L << 30));
        return new HeapTooSmallException(String.format(Locale.ROOT,
                "%s: %s of Java heap needed, %s free of the %s this JVM may use; give it more with KVDECODE_JAVA_OPTS=-Xmx%dg",
                what, gib(neededBytes), gib(free), gib(maxHeapBytes), Math.max(1, suggest)));
    }

    /**
     * As {@link #of(String, long, long, long)} with {@code advice} (what to make smaller, e.g. "use
     * a smaller --batch (at most 812 fits) or --context") before the -Xmx suggestion, which is
     * left out when it would exceed {@code physicalBytes}, the machine's memory.
     */
    public static HeapTooSmallException of(String what, long neededBytes, long maxHeapBytes, long usedBytes, String advice,
                                           long physicalBytes) {
        long free = Math.max(0, maxHeapBytes - usedBytes);
        double want = (Math.min(usedBytes + (double) neededBytes, 1e30)) * 1.25 + (256L << 20);
        long suggest = (long) Math.ceil(want / (1L << 30));
        String more = want <= physicalBytes
                ? String.format(Locale.ROOT, ", or give it more with KVDECODE_JAVA_OPTS=-Xmx%dg", Math.max(1, suggest))
                : String.format(Locale.ROOT, " (more than this machine's %s of memory)", gib(physicalBytes));
        return new HeapTooSmallException(String.format(Locale.ROOT,
                "%s: %s of Java heap needed, %s free of the %s this JVM may use; %s%s",
                what, gib(neededBytes), gib(free), gib(maxHeapBytes), advice, more));
    }

    private static String gib(long bytes) { return dev.kvdecode.runtime.engine.Sizes.gib(bytes); }
}
