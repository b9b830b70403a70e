package dev.kvdecode.bench;

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
}
