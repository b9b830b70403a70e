package dev.kvdecode.bench;

import dev.kvdecode.bindings.CudaEvent;
import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.GpuContext;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Measures the host's memory copy rate, the CPU's ceiling for a memory-bound step. */
final class MemoryBandwidth {
    private MemoryBandwidth() {}

    /**
     * Copies a buffer far larger than any cache a few times and returns the best rate in GB/s,
     * counting bytes read plus bytes written (a copy of N bytes moves 2N), as STREAM's Copy does.
     */
    static double hostCopyGBps() {
        // Measured once per JVM (a CLI run benches once; in-process tests run many benches)
        if (hostCopyGBps == 0) hostCopyGBps = measureHostCopyGBps();
        return hostCopyGBps;
    }

    private static volatile double hostCopyGBps;

    private static double measureHostCopyGBps() {
        long sizeBytes = 256L << 20;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(sizeBytes, 64);
            MemorySegment dst = arena.allocate(sizeBytes, 64);
            src.fill((byte) 1);
            dst.fill((byte) 0);
            double best = 0;
            for (int i = 0; i < 5; i++) {
                long t0 = System.nanoTime();
                MemorySegment.copy(src, 0, dst, 0, sizeBytes);
                long dt = System.nanoTime() - t0;
                best = Math.max(best, 2.0 * sizeBytes / dt);
            }
            return best; // bytes per ns == GB/s
        }
    }

    /**
     * The device's copy rate in GB/s (bytes read + written), the ceiling of a memory-bound decode
     * step: the best of five device-to-device copies of {@code sizeBytes}, timed with events.
     */
    static double deviceCopyGBps(GpuContext gpu, long sizeBytes) {
        try (DeviceBuffer src = gpu.allocate(sizeBytes);
             DeviceBuffer dst = gpu.allocate(sizeBytes);
             CudaStream stream = gpu.createStream();
             CudaEvent start = gpu.createEvent();
             CudaEvent stop = gpu.createEvent()) {
            src.fillBytesAsync(stream, (byte) 1);
            dst.fillBytesAsync(stream, (byte) 0);
            double best = 0;
            for (int i = 0; i < 5; i++) {
                start.record(stream);
                dst.copyFromDeviceAsync(stream, src, 0, 0, sizeBytes);
                stop.record(stream);
                stop.synchronize();
                double ms = stop.elapsedMsSince(start);
                if (ms > 0) best = Math.max(best, 2.0 * sizeBytes / (ms * 1e6));
            }
            return best;
        }
    }
}
