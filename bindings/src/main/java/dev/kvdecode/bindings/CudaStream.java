package dev.kvdecode.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A CUDA stream (cuStreamCreate): work queued on it runs in order. */
public final class CudaStream implements AutoCloseable {
    /** CU_STREAM_NON_BLOCKING: no implicit synchronisation with the legacy default stream. */
    public static final int CU_STREAM_NON_BLOCKING = 0x1;
    /** CU_STREAM_CAPTURE_MODE_GLOBAL: unsafe calls anywhere in the process fail while capturing. */
    public static final int CU_STREAM_CAPTURE_MODE_GLOBAL = 0;
    /** CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: only this thread's unsafe calls fail while capturing. */
    public static final int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

    private final CudaDriver driver;
    private final MemorySegment handle;
    private boolean closed;
    private boolean programmaticLaunch;

    private CudaStream(CudaDriver driver, MemorySegment handle) {
        this.driver = driver;
        this.handle = handle;
    }

    /** Creates a non-blocking stream in the current context. */
    public static CudaStream create(CudaDriver driver) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            driver.cuStreamCreate(out, CU_STREAM_NON_BLOCKING);
            return new CudaStream(driver, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    public CudaDriver driver() { return driver; }

    /** The CUstream handle, for bindings calls. */
    public MemorySegment handle() {
        if (closed) throw new IllegalStateException("stream used after close");
        return handle;
    }

    /**
     * Whether kernels that wait for their predecessor in the kernel itself (griddepcontrol.wait)
     * are launched on this stream with programmatic stream serialization (cuLaunchKernelEx;
     * see {@link CudaFunction#launch(CudaStream, Dim3, Dim3, int, Arena, KernelArgs, boolean)}).
     * Off by default; its owner turns it on where the device (compute capability 9.0+) and the
     * driver (cuLaunchKernelEx) offer it.
     */
    public void setProgrammaticLaunch(boolean on) {
        if (on && !driver.has("cuLaunchKernelEx"))
            throw new IllegalStateException("programmatic dependent launch needs cuLaunchKernelEx (a CUDA 12.0+ driver); "
                    + driver.libraryLabel() + " lacks it");
        programmaticLaunch = on;
    }

    /** See {@link #setProgrammaticLaunch}. */
    public boolean programmaticLaunch() { return programmaticLaunch; }

    /** Waits until all work queued so far has run; any asynchronous error surfaces here. */
    public void synchronize() { driver.cuStreamSynchronize(handle()); }

    /** Starts recording this stream's work into a graph instead of running it. */
    public void beginCapture() { driver.cuStreamBeginCapture_v2(handle(), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL); }

    /** Ends the capture begun by {@link #beginCapture()} and instantiates the recorded graph. */
    public CudaGraph endCapture() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            driver.cuStreamEndCapture(handle(), out);
            return CudaGraph.instantiate(driver, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** Whether the stream is capturing (CU_STREAM_CAPTURE_STATUS_ACTIVE). */
    public boolean isCapturing() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
            driver.cuStreamIsCapturing(handle(), out);
            return out.get(ValueLayout.JAVA_INT, 0) == 1;
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        driver.cuStreamDestroy_v2(handle);
    }
}
