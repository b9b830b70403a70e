package dev.kvdecode.bindings;

import java.lang.foreign.MemorySegment;

/**
 * Device memory: a {@code CUdeviceptr} and its size. The host must never dereference a device
 * pointer, so it is a {@code long}, not a {@link MemorySegment} (STYLE.md, "Ownership"). An owning
 * buffer frees its memory on {@link #close()}; a {@link #view} borrows part of another buffer and
 * frees nothing. Any use after close throws {@link IllegalStateException}.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final CudaDriver driver;   // null for views
    private final DeviceBuffer parent; // null for owners
    private final long ptr;
    private final long sizeBytes;
    private boolean closed;

    /** Takes ownership of {@code ptr} (from cuMemAlloc) of {@code sizeBytes}; close() frees it. */
    public DeviceBuffer(CudaDriver driver, long ptr, long sizeBytes) {
        this(driver, null, ptr, sizeBytes);
    }

    private DeviceBuffer(CudaDriver driver, DeviceBuffer parent, long ptr, long sizeBytes) {
        if (sizeBytes < 0) throw new IllegalArgumentException("sizeBytes < 0: " + sizeBytes);
        this.driver = driver;
        this.parent = parent;
        this.ptr = ptr;
        this.sizeBytes = sizeBytes;
    }

    /** Allocates {@code sizeBytes} (at least 1 byte is requested, cuMemAlloc rejects 0). */
    public static DeviceBuffer allocate(CudaDriver driver, long sizeBytes) {
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment out = arena.allocate(java.lang.foreign.ValueLayout.JAVA_LONG);
            driver.cuMemAlloc_v2(out, Math.max(1, sizeBytes));
            return new DeviceBuffer(driver, out.get(java.lang.foreign.ValueLayout.JAVA_LONG, 0), sizeBytes);
        }
    }

    /** The device address; throws after close (of this buffer or, for a view, its owner). */
    public long address() {
        checkOpen();
        return ptr;
    }

    public long sizeBytes() { return sizeBytes; }

    public boolean isClosed() { return closed || (parent != null && parent.isClosed()); }

    /** A borrowed sub-range {@code [offsetBytes, offsetBytes + sizeBytes)}; closing it frees nothing. */
    public DeviceBuffer view(long offsetBytes, long sizeBytes) {
        checkOpen();
        if (offsetBytes < 0 || sizeBytes < 0 || offsetBytes + sizeBytes > this.sizeBytes)
            throw new IndexOutOfBoundsException("view [" + offsetBytes + ", " + (offsetBytes + sizeBytes)
                    + ") outside a buffer of " + this.sizeBytes + " bytes");
        return new DeviceBuffer(null, parent != null ? parent : this, ptr + offsetBytes, sizeBytes);
    }

    /**
     * Copy of {@code src.byteSize()} bytes from host memory to the start of this buffer, complete
     * on the device when it returns. cuMemcpyHtoD alone is not: from pageable memory it returns
     * once the bytes are staged, and its DMA on the legacy stream does not order with work on our
     * non-blocking streams, so a kernel launched next could read (or have its output overwritten
     * by) bytes still in flight (seen on an H200: a kernel's output overwritten by the test's NaN
     * poison). The context synchronisation closes that window.
     */
    public void copyFromHost(CudaDriver d, MemorySegment src) {
        checkRange(0, src.byteSize());
        d.cuMemcpyHtoD_v2(address(), src, src.byteSize());
        d.cuCtxSynchronize();
    }

    /** Synchronous copy of {@code dst.byteSize()} bytes from the start of this buffer to host memory. */
    public void copyToHost(CudaDriver d, MemorySegment dst) {
        checkRange(0, dst.byteSize());
        d.cuMemcpyDtoH_v2(dst, address(), dst.byteSize());
    }

    /** Asynchronous host-to-device copy on {@code stream} ({@code src} must stay alive until it runs). */
    public void copyFromHostAsync(CudaStream stream, MemorySegment src, long dstOffsetBytes) {
        checkRange(dstOffsetBytes, src.byteSize());
        stream.driver().cuMemcpyHtoDAsync_v2(address() + dstOffsetBytes, src, src.byteSize(), stream.handle());
    }

    /** Asynchronous device-to-host copy on {@code stream}; read {@code dst} only after synchronising. */
    public void copyToHostAsync(CudaStream stream, long srcOffsetBytes, MemorySegment dst) {
        checkRange(srcOffsetBytes, dst.byteSize());
        stream.driver().cuMemcpyDtoHAsync_v2(dst, address() + srcOffsetBytes, dst.byteSize(), stream.handle());
    }

    /** Asynchronous device-to-device copy of {@code sizeBytes} from {@code src} into this buffer at {@code dstOffsetBytes}. */
    public void copyFromDeviceAsync(CudaStream stream, DeviceBuffer src, long srcOffsetBytes, long dstOffsetBytes, long sizeBytes) {
        checkRange(dstOffsetBytes, sizeBytes);
        src.checkRange(srcOffsetBytes, sizeBytes);
        stream.driver().cuMemcpyDtoDAsync_v2(address() + dstOffsetBytes, src.address() + srcOffsetBytes, sizeBytes, stream.handle());
    }

    /** Asynchronously sets every byte to {@code value}. */
    public void fillBytesAsync(CudaStream stream, byte value) {
        stream.driver().cuMemsetD8Async(address(), value, sizeBytes, stream.handle());
    }

    /** Asynchronously sets every 32-bit word to {@code bits} (size must be a multiple of 4). */
    public void fillWordsAsync(CudaStream stream, int bits) {
        if (sizeBytes % 4 != 0) throw new IllegalArgumentException("buffer of " + sizeBytes + " bytes is not whole 32-bit words");
        stream.driver().cuMemsetD32Async(address(), bits, sizeBytes / 4, stream.handle());
    }

    private void checkRange(long offsetBytes, long bytes) {
        if (offsetBytes < 0 || bytes < 0 || offsetBytes + bytes > sizeBytes)
            throw new IndexOutOfBoundsException("copy of " + bytes + " bytes at offset " + offsetBytes
                    + " exceeds a device buffer of " + sizeBytes + " bytes");
    }

    private void checkOpen() {
        if (isClosed()) throw new IllegalStateException("device buffer of " + sizeBytes + " bytes used after close");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (driver != null) driver.cuMemFree_v2(ptr);
    }

    @Override
    public String toString() {
        return "DeviceBuffer[0x" + Long.toHexString(ptr) + ", " + sizeBytes + " bytes" + (isClosed() ? ", closed" : "") + "]";
    }
}
