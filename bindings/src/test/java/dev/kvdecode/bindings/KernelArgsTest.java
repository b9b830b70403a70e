package dev.kvdecode.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The void** packing cuLaunchKernel reads: element i points at argument i's bytes. */
class KernelArgsTest {
    @Test
    void packsEachArgumentBehindOnePointer() {
        KernelArgs args = new KernelArgs().ptr(0x7f00_1234_5678L).i32(-3).f32(1.5f).i64(1L << 40);
        assertEquals(List.of(8L, 4L, 4L, 8L), args.sizesBytes());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment array = args.pack(arena);
            MemorySegment a0 = array.getAtIndex(ValueLayout.ADDRESS, 0).reinterpret(8);
            MemorySegment a1 = array.getAtIndex(ValueLayout.ADDRESS, 1).reinterpret(4);
            MemorySegment a2 = array.getAtIndex(ValueLayout.ADDRESS, 2).reinterpret(4);
            MemorySegment a3 = array.getAtIndex(ValueLayout.ADDRESS, 3).reinterpret(8);
            assertEquals(0x7f00_1234_5678L, a0.get(ValueLayout.JAVA_LONG, 0));
            assertEquals(-3, a1.get(ValueLayout.JAVA_INT, 0));
            assertEquals(1.5f, a2.get(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(1L << 40, a3.get(ValueLayout.JAVA_LONG, 0));
            assertEquals(0, a0.address() % 8, "8-byte values must be 8-byte aligned");
        }
    }
}
