package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.model.HeapTooSmallException;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.function.LongPredicate;

/**
 * Checks for sizes that derive from user input (batch, context, steps, threads, request fields),
 * made before anything is allocated: products in saturating long arithmetic (an overflow reads as
 * "far too big", never as a negative size), Java's array length limit, the heap's free memory and
 * the device's. Each failure is one line naming what was asked, what it needs, what is free and
 * what to change (docs/ARCHITECTURE.md, "Sizes from user input", lists every site).
 */
public final class Sizes {
    private Sizes() {}

    /** The longest Java array the JVM allocates reliably (HotSpot: Integer.MAX_VALUE - 8 elements). */
    public static final long MAX_ARRAY_LENGTH = Integer.MAX_VALUE - 8;

    /** Bytes of an array's header plus alignment, and of one reference (an upper bound for both). */
    static final long ARRAY_HEADER_BYTES = 24, REFERENCE_BYTES = 8;

    /** The product of non-negative factors, saturating at Long.MAX_VALUE. */
    public static long mul(long... factors) {
        long p = 1;
        for (long f : factors) {
            if (f < 0) throw new IllegalArgumentException("negative size factor " + f);
            if (f == 0) return 0;
            p = p > Long.MAX_VALUE / f ? Long.MAX_VALUE : p * f;
        }
        return p;
    }

    /** a + b for non-negative sizes, saturating at Long.MAX_VALUE. */
    public static long add(long a, long b) {
        long s = a + b;
        return s < 0 ? Long.MAX_VALUE : s;
    }

    /**
     * {@code elements} as an array length, or a {@link SizeLimitException} naming {@code what}
     * (e.g. "--steps 3000000000: the per-step timings") when no Java array can hold that many.
     */
    public static int arrayLength(String what, long elements) {
        if (elements < 0 || elements > MAX_ARRAY_LENGTH)
            throw new SizeLimitException(String.format(Locale.ROOT, "%s: %s elements, more than a Java array holds (%d)",
                    what, count(elements), MAX_ARRAY_LENGTH));
        return (int) elements;
    }

    /**
     * The memory a set of buffers will take, summed as they are planned (before any is
     * allocated), with the largest single array, for {@link #checkHeap}.
     */
    public static final class Plan {
        private long bytes;
        private long largestElements;
        private String largestName = "";

        /** One Java array of {@code elements} of {@code elementBytes} each. */
        public Plan array(String name, long elements, long elementBytes) {
            return arrays(name, 1, elements, elementBytes);
        }

        /** {@code count} arrays of {@code elements} each, held by one array of {@code count} references when count > 1. */
        public Plan arrays(String name, long count, long elements, long elementBytes) {
            if (count > 1) note(name + " (references)", count);
            note(name, elements);
            long each = add(ARRAY_HEADER_BYTES, mul(elements, elementBytes));
            bytes = add(bytes, add(mul(count, each), count > 1 ? mul(count, REFERENCE_BYTES) : 0));
            return this;
        }

        /** Memory that is not a Java array of its own (e.g. device memory), in bytes. */
        public Plan bytes(long sizeBytes) {
            bytes = add(bytes, sizeBytes);
            return this;
        }

        private void note(String name, long elements) {
            if (elements > largestElements) {
                largestElements = elements;
                largestName = name;
            }
        }

        public long bytes() { return bytes; }

        public long largestArrayElements() { return largestElements; }

        public String largestArrayName() { return largestName; }

        /** Whether every array fits a Java array and the total fits {@code freeBytes}. */
        public boolean fits(long freeBytes) { return largestElements <= MAX_ARRAY_LENGTH && bytes <= freeBytes; }
    }

    /** Free heap now: the JVM's limit minus what is in use (live and garbage), Long.MAX_VALUE without a limit. */
    public static long freeHeapBytes() {
        Runtime rt = Runtime.getRuntime();
        long max = rt.maxMemory();
        return max == Long.MAX_VALUE ? Long.MAX_VALUE : max - (rt.totalMemory() - rt.freeMemory());
    }

    /**
     * Throws when {@code plan} cannot be allocated on this JVM's heap: an array longer than Java
     * allows ({@link SizeLimitException}), or more bytes than are free after a collection
     * ({@link HeapTooSmallException}). {@code what} names what was asked (e.g. "--batch 100000000
     * --context 256: the CPU session (KV cache and working buffers)"); {@code advice} what to make
     * smaller (e.g. "use a smaller --batch (at most 812 fits) or --context"), said before -Xmx.
     */
    public static void checkHeap(String what, Plan plan, String advice) {
        if (plan.largestArrayElements() > MAX_ARRAY_LENGTH)
            throw new SizeLimitException(String.format(Locale.ROOT,
                    "%s: its %s would hold %s elements, more than a Java array holds (%d); %s",
                    what, plan.largestArrayName(), count(plan.largestArrayElements()), MAX_ARRAY_LENGTH, advice));
        checkHeap(what, plan.bytes(), advice);
    }

    /** {@link #checkHeap(String, Plan, String)} for {@code bytes} more of heap (no array limit to check). */
    public static void checkHeap(String what, long bytes, String advice) {
        if (bytes <= freeHeapBytes()) return;
        System.gc();   // "in use" counts garbage too
        if (bytes <= freeHeapBytes()) return;
        Runtime rt = Runtime.getRuntime();
        throw HeapTooSmallException.of(what, bytes, rt.maxMemory(), rt.totalMemory() - rt.freeMemory(), advice,
                physicalMemoryBytes());
    }

    /**
     * Throws a {@link SizeLimitException} when {@code bytes} of device memory are more than the
     * device has free ({@code cuMemGetInfo} just before allocating).
     */
    public static void checkDevice(String what, long bytes, long freeBytes, long totalBytes, String advice) {
        if (bytes <= freeBytes) return;
        throw new SizeLimitException(String.format(Locale.ROOT, "%s: %s of device memory needed, %s free of %s; %s",
                what, gib(bytes), gib(freeBytes), gib(totalBytes), advice));
    }

    /**
     * The largest n in [1, hi] for which {@code fits} holds (fits must be monotone: true up to some
     * n, false after), or 0 when not even 1 fits. For "at most --batch N fits" in messages.
     */
    public static long largestFitting(long hi, LongPredicate fits) {
        if (hi < 1 || !fits.test(1)) return 0;
        long lo = 1;   // fits(lo) holds
        while (lo < hi) {
            long mid = lo + (hi - lo + 1) / 2;
            if (fits.test(mid)) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    /**
     * Validates {@code --threads}: 0 (one per available processor) up to this machine's available
     * processors. More is an error, not a clamp: a typo such as 100000 would otherwise start (or try
     * to start) that many threads, and a silent clamp would make a benchmark's figure lie about its
     * setting.
     */
    public static int cpuThreads(int requested) {
        int cores = Runtime.getRuntime().availableProcessors();
        if (requested < 0 || requested > cores)
            throw new SizeLimitException("--threads: must be in 0.." + cores + " (0 = one per processor; this machine has "
                    + cores + " available), got " + requested);
        return requested;
    }

    /** The machine's physical memory, or Long.MAX_VALUE when the JVM does not say. */
    public static long physicalMemoryBytes() {
        try {
            if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os)
                return os.getTotalMemorySize();
        } catch (RuntimeException | LinkageError e) {
            // not HotSpot's MXBean: no figure
        }
        return Long.MAX_VALUE;
    }

    /** Bytes in GiB with two decimals, or TiB beyond 1024 GiB (saturated products read "more than 8 EiB"). */
    public static String gib(long bytes) {
        if (bytes == Long.MAX_VALUE) return "more than 8 EiB";
        if (bytes >= 1L << 40) return String.format(Locale.ROOT, "%.2f TiB", bytes / (double) (1L << 40));
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }

    private static String count(long n) {
        return n == Long.MAX_VALUE ? "more than 9.2e18" : String.format(Locale.ROOT, "%,d", n);
    }
}
