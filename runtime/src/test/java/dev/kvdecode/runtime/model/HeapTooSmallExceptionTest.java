package dev.kvdecode.runtime.model;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The heap check the loader and the CPU backend run before they allocate a model's weights. */
class HeapTooSmallExceptionTest {
    static final long GIB = 1L << 30;

    @Test
    void refusesWhatCannotFitAndSaysHowMuchAndWhatToDo() {
        HeapTooSmallException e = assertThrows(HeapTooSmallException.class,
                () -> HeapTooSmallException.check("model.safetensors: the fp32 weights", 6_230_000_000L, 6 * GIB, GIB / 2));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertEquals("model.safetensors: the fp32 weights: 5.80 GiB of Java heap needed, 5.50 GiB free of the 6.00 GiB"
                + " this JVM may use; give it more with KVDECODE_JAVA_OPTS=-Xmx9g", m);   // (0.5 + 5.8) x 1.25 + 0.25 -> 9
    }

    @Test
    void passesWhatFitsAndAnUnlimitedHeap() {
        HeapTooSmallException.check("w", 4 * GIB, 6 * GIB, GIB);
        HeapTooSmallException.check("w", 5 * GIB, 6 * GIB, GIB);   // exactly what is left
        HeapTooSmallException.check("w", 100 * GIB, Long.MAX_VALUE, GIB);
        assertThrows(HeapTooSmallException.class, () -> HeapTooSmallException.check("w", 5 * GIB + 1, 6 * GIB, GIB));
    }
}
