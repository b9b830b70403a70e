package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.model.HeapTooSmallException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class SizesTest {
    @Test
    void productsSaturateInsteadOfWrapping() {
        assertEquals(6, Sizes.mul(1, 2, 3));
        assertEquals(0, Sizes.mul(Long.MAX_VALUE, 0));
        assertEquals(Long.MAX_VALUE, Sizes.mul(Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE));
        assertEquals(Long.MAX_VALUE, Sizes.add(Long.MAX_VALUE, 1));
        assertThrows(IllegalArgumentException.class, () -> Sizes.mul(2, -1));
    }

    @Test
    void arrayLengthRefusesWhatNoArrayHolds() {
        assertEquals(7, Sizes.arrayLength("x", 7));
        SizeLimitException e = assertThrows(SizeLimitException.class, () -> Sizes.arrayLength("--steps 3000000000: timings", 3_000_000_000L));
        assertTrue(e.getMessage().startsWith("--steps 3000000000: timings: 3,000,000,000 elements"), e.getMessage());
    }

    @Test
    void planCountsHeadersAndTheLargestArray() {
        Sizes.Plan p = new Sizes.Plan().array("a", 10, 4).arrays("rows", 3, 5, 4);
        assertEquals((24 + 40) + 3 * (24 + 20) + 3 * 8, p.bytes());
        assertEquals(10, p.largestArrayElements());
        assertEquals("a", p.largestArrayName());
        assertTrue(p.fits(p.bytes()));
        assertFalse(p.fits(p.bytes() - 1));
        Sizes.Plan huge = new Sizes.Plan().array("logits", Sizes.MAX_ARRAY_LENGTH + 1, 4);
        assertFalse(huge.fits(Long.MAX_VALUE));
        SizeLimitException e = assertThrows(SizeLimitException.class, () -> Sizes.checkHeap("--batch 9", huge, "use a smaller --batch"));
        assertTrue(e.getMessage().contains("its logits would hold") && e.getMessage().endsWith("use a smaller --batch"), e.getMessage());
    }

    @Test
    void largestFittingFindsTheBoundary() {
        assertEquals(812, Sizes.largestFitting(100_000_000, n -> n <= 812));
        assertEquals(0, Sizes.largestFitting(100, n -> false));
        assertEquals(100, Sizes.largestFitting(100, n -> true));
        assertEquals(1, Sizes.largestFitting(Long.MAX_VALUE, n -> n == 1));
    }

    @Test
    void heapMessageSaysWhatWasAskedNeededFreeAndWhatToDo() {
        HeapTooSmallException e = HeapTooSmallException.of("--batch 100 --context 256: the CPU session", 10L << 30, 8L << 30,
                1L << 30, "use a smaller --batch (at most 70 fits with --context 256) or --context", 64L << 30);
        assertEquals("--batch 100 --context 256: the CPU session: 10.00 GiB of Java heap needed, 7.00 GiB free of the 8.00 GiB "
                + "this JVM may use; use a smaller --batch (at most 70 fits with --context 256) or --context, or give it more "
                + "with KVDECODE_JAVA_OPTS=-Xmx14g", e.getMessage());   // (1 + 10) x 1.25 + 0.25
        HeapTooSmallException big = HeapTooSmallException.of("w", 1L << 50, 8L << 30, 1L << 30, "use less", 64L << 30);
        assertTrue(big.getMessage().endsWith("use less (more than this machine's 64.00 GiB of memory)"), big.getMessage());
    }

    @Test
    void threadsAboveTheProcessorsAreRefused() {
        int cores = Runtime.getRuntime().availableProcessors();
        assertEquals(0, Sizes.cpuThreads(0));
        assertEquals(cores, Sizes.cpuThreads(cores));
        assertThrows(SizeLimitException.class, () -> Sizes.cpuThreads(cores + 1));
        assertThrows(SizeLimitException.class, () -> Sizes.cpuThreads(-1));
    }
}
