package dev.kvdecode.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The arguments of one kernel launch, in order, packed the way cuLaunchKernel wants them: a
 * {@code void**} array whose element i points to a copy of argument i. Device pointers are
 * 8-byte values ({@link #ptr}), scalars keep their C size ({@link #i32}, {@link #f32}, ...).
 *
 * <pre>{@code
 * try (Arena arena = Arena.ofConfined()) {
 *     fn.launch(stream, Dim3.of(blocks), Dim3.of(256), 0, arena,
 *               new KernelArgs().ptr(out).ptr(in).i32(n).f32(eps));
 * }
 * }</pre>
 */
public final class KernelArgs {
    private record Arg(String label, ValueLayout layout, Object value) {}

    private final List<Arg> args = new ArrayList<>();

    /** A device pointer (CUdeviceptr / T*): 8 bytes. */
    public KernelArgs ptr(DeviceBuffer buffer) { return add("ptr", ValueLayout.JAVA_LONG, buffer.address()); }

    /** A raw device address (e.g. an offset into a buffer): 8 bytes. */
    public KernelArgs ptr(long deviceAddress) { return add("ptr", ValueLayout.JAVA_LONG, deviceAddress); }

    /** int / unsigned int: 4 bytes. */
    public KernelArgs i32(int value) { return add("int", ValueLayout.JAVA_INT, value); }

    /** long long / size_t / unsigned long long: 8 bytes. */
    public KernelArgs i64(long value) { return add("long", ValueLayout.JAVA_LONG, value); }

    /** float: 4 bytes. */
    public KernelArgs f32(float value) { return add("float", ValueLayout.JAVA_FLOAT, value); }

    private KernelArgs add(String label, ValueLayout layout, Object value) {
        args.add(new Arg(label, layout, value));
        return this;
    }

    public int count() { return args.size(); }

    /** The byte size of each argument, in order (compared with cuFuncGetParamInfo). */
    public List<Long> sizesBytes() {
        List<Long> out = new ArrayList<>(args.size());
        for (Arg a : args) out.add(a.layout.byteSize());
        return out;
    }

    /** "ptr", "int", "long" or "float" for argument i (for error messages). */
    public String label(int i) { return args.get(i).label; }

    /** Writes each value into {@code arena} at its natural alignment and returns the void** array. */
    public MemorySegment pack(Arena arena) {
        MemorySegment array = arena.allocate(MemoryLayout.sequenceLayout(Math.max(1, args.size()), ValueLayout.ADDRESS));
        for (int i = 0; i < args.size(); i++) {
            Arg a = args.get(i);
            MemorySegment slot = arena.allocate(a.layout);
            switch (a.value) {
                case Integer v -> slot.set(ValueLayout.JAVA_INT, 0, v);
                case Long v -> slot.set(ValueLayout.JAVA_LONG, 0, v);
                case Float v -> slot.set(ValueLayout.JAVA_FLOAT, 0, v);
                default -> throw new IllegalStateException("unexpected argument " + a.value);
            }
            array.setAtIndex(ValueLayout.ADDRESS, i, slot);
        }
        return array;
    }
}
