package dev.kvdecode.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One device and its primary context, with the driver and cuBLAS bound to the libraries it was
 * opened with (real CUDA or the emulator). Pass it explicitly; there is no static "current GPU"
 * (STYLE.md, "Avoid: hidden global state"). Closing it releases the primary context; close the
 * buffers, streams, modules and handles made from it first.
 *
 * <p>The driver binds a context to a thread; {@link #open} makes it current on the calling
 * thread, and {@link #makeCurrent()} does so for another thread.
 */
public final class GpuContext implements AutoCloseable {
    public static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    /** CU_MEMHOSTALLOC_PORTABLE: pinned memory usable from every context. */
    public static final int CU_MEMHOSTALLOC_PORTABLE = 0x01;

    private final NativeLibraries.Loaded libraries;
    private final CudaDriver driver;
    private final int device;
    private final MemorySegment context;
    private Cublas cublas;
    private boolean closed;

    private GpuContext(NativeLibraries.Loaded libraries, CudaDriver driver, int device, MemorySegment context) {
        this.libraries = libraries;
        this.driver = driver;
        this.device = device;
        this.context = context;
    }

    /**
     * Initialises the driver, retains device {@code ordinal}'s primary context and makes it
     * current on this thread.
     *
     * @throws CudaException e.g. {@code cuInit: CUDA_ERROR_NO_DEVICE} when the driver sees no GPU
     */
    public static GpuContext open(NativeLibraries.Loaded libraries, int ordinal) {
        CudaDriver driver = libraries.bindDriver();
        driver.cuInit(0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(ValueLayout.JAVA_INT);
            driver.cuDeviceGetCount(count);
            int n = count.get(ValueLayout.JAVA_INT, 0);
            if (ordinal < 0 || ordinal >= n)
                throw new CudaException("cuDeviceGet(" + ordinal + ")", 101,
                        "CUDA_ERROR_INVALID_DEVICE (the driver sees " + n + " device" + (n == 1 ? "" : "s") + ")");
            MemorySegment dev = arena.allocate(ValueLayout.JAVA_INT);
            driver.cuDeviceGet(dev, ordinal);
            int device = dev.get(ValueLayout.JAVA_INT, 0);
            MemorySegment ctx = arena.allocate(ValueLayout.ADDRESS);
            driver.cuDevicePrimaryCtxRetain(ctx, device);
            MemorySegment context = ctx.get(ValueLayout.ADDRESS, 0);
            try {
                driver.cuCtxSetCurrent(context);
            } catch (RuntimeException e) {
                driver.cuDevicePrimaryCtxRelease_v2(device);
                throw e;
            }
            return new GpuContext(libraries, driver, device, context);
        }
    }

    public NativeLibraries.Mode mode() { return libraries.mode(); }

    public CudaDriver driver() { checkOpen(); return driver; }

    /** cuBLAS bound to the same libraries (bound on first use: the driver alone needs no cuBLAS). */
    public synchronized Cublas cublas() {
        checkOpen();
        if (cublas == null) cublas = libraries.bindCublas();
        return cublas;
    }

    /** Binds the primary context to the calling thread. */
    public void makeCurrent() { driver.cuCtxSetCurrent(context()); }

    public MemorySegment context() { checkOpen(); return context; }

    /** The device's name, e.g. "NVIDIA H100 80GB HBM3". */
    public String deviceName() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(256);
            driver().cuDeviceGetName(buf, 256, device);
            return buf.getString(0);
        }
    }

    /** Compute capability as major * 10 + minor, e.g. 90 for an H100. */
    public int computeCapability() {
        return attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR) * 10 + attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
    }

    /** A CU_DEVICE_ATTRIBUTE_* value. */
    public int attribute(int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
            driver().cuDeviceGetAttribute(out, attribute, device);
            return out.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** The driver's CUDA version, e.g. 13000. */
    public int driverVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
            driver().cuDriverGetVersion(out);
            return out.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** Allocates device memory; the caller owns (closes) the buffer. */
    public DeviceBuffer allocate(long sizeBytes) { return DeviceBuffer.allocate(driver(), sizeBytes); }

    public CudaStream createStream() { return CudaStream.create(driver()); }

    public CudaEvent createEvent() { return CudaEvent.create(driver()); }

    public CudaModule loadModule(byte[] image) { return CudaModule.load(driver(), image); }

    /** A cuBLAS handle on this context (the caller owns it). */
    public CublasHandle createCublasHandle() { return CublasHandle.create(cublas()); }

    /**
     * Page-locked host memory (cuMemHostAlloc), owned by {@code arena}: closing the arena frees
     * it. Asynchronous device-to-host copies need pinned memory to be truly asynchronous.
     */
    public MemorySegment allocatePinned(Arena arena, long sizeBytes) {
        CudaDriver d = driver();
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment out = tmp.allocate(ValueLayout.ADDRESS);
            d.cuMemHostAlloc(out, Math.max(1, sizeBytes), CU_MEMHOSTALLOC_PORTABLE);
            MemorySegment raw = out.get(ValueLayout.ADDRESS, 0);
            return raw.reinterpret(sizeBytes, arena, p -> d.cuMemFreeHost(p));
        }
    }

    /** Device memory of this context's device, from {@code cuMemGetInfo}. */
    public record MemoryInfo(long freeBytes, long totalBytes) {}

    /** Free and total device memory now (cuMemGetInfo; the context must be current on this thread). */
    public MemoryInfo memoryInfo() {
        CudaDriver d = driver();
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment free = tmp.allocate(ValueLayout.JAVA_LONG), total = tmp.allocate(ValueLayout.JAVA_LONG);
            d.cuMemGetInfo_v2(free, total);
            return new MemoryInfo(free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /** Waits for all work in the context. */
    public void synchronize() { driver().cuCtxSynchronize(); }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("GPU context used after close");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        driver.cuDevicePrimaryCtxRelease_v2(device);
    }
}
