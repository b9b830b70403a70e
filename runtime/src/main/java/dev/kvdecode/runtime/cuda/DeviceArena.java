package dev.kvdecode.runtime.cuda;

import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.GpuContext;

import java.util.ArrayList;
import java.util.List;

/**
 * One device allocation carved into named views, planned before it is allocated: the session's
 * activations and decode state live in one buffer allocated once (static shapes: a step never
 * allocates, which is also what CUDA graph capture requires). Views are 256-byte aligned, the
 * alignment cuMemAlloc gives and cuBLAS prefers.
 */
final class DeviceArena implements AutoCloseable {
    private static final long ALIGN = 256;

    /** A planned view: filled in by {@link #allocate}. */
    static final class Slot {
        final String name;
        final long sizeBytes;
        long offset;
        DeviceBuffer view;

        private Slot(String name, long sizeBytes) {
            this.name = name;
            this.sizeBytes = sizeBytes;
        }

        /** The view; only after {@link DeviceArena#allocate}. */
        DeviceBuffer buffer() {
            if (view == null) throw new IllegalStateException("arena slot " + name + " used before allocation");
            return view;
        }
    }

    private final List<Slot> slots = new ArrayList<>();
    private long total;
    private DeviceBuffer buffer;

    /** Plans a view of {@code sizeBytes} (at least 4 bytes). */
    Slot plan(String name, long sizeBytes) {
        if (buffer != null) throw new IllegalStateException("arena already allocated");
        Slot s = new Slot(name, Math.max(4, sizeBytes));
        s.offset = total;
        total += (s.sizeBytes + ALIGN - 1) / ALIGN * ALIGN;
        slots.add(s);
        return s;
    }

    /** Allocates the whole plan at once and makes the views. */
    void allocate(GpuContext gpu) {
        buffer = gpu.allocate(total);
        for (Slot s : slots) s.view = buffer.view(s.offset, s.sizeBytes);
    }

    long sizeBytes() { return total; }

    @Override
    public void close() {
        if (buffer != null) buffer.close();
    }
}
