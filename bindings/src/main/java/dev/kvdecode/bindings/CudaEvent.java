package dev.kvdecode.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A CUDA event (cuEventCreate), used to time work on a stream. */
public final class CudaEvent implements AutoCloseable {
    private final CudaDriver driver;
    private final MemorySegment handle;
    private boolean closed;

    private CudaEvent(CudaDriver driver, MemorySegment handle) {
        this.driver = driver;
        this.handle = handle;
    }

    /** Creates a timing-capable event (CU_EVENT_DEFAULT). */
    public static CudaEvent create(CudaDriver driver) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            driver.cuEventCreate(out, 0);
            return new CudaEvent(driver, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    public MemorySegment handle() {
        if (closed) throw new IllegalStateException("event used after close");
        return handle;
    }

    /** Records the event at the current end of {@code stream}'s queue. */
    public void record(CudaStream stream) { driver.cuEventRecord(handle(), stream.handle()); }

    public void synchronize() { driver.cuEventSynchronize(handle()); }

    /** Milliseconds from {@code start} to this event (both recorded and complete). */
    public float elapsedMsSince(CudaEvent start) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_FLOAT);
            driver.cuEventElapsedTime_v2(out, start.handle(), handle());
            return out.get(ValueLayout.JAVA_FLOAT, 0);
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        driver.cuEventDestroy_v2(handle);
    }
}
