package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.GpuContext;
import dev.kvdecode.bindings.NativeLibraries;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The device the kernel tests run on: the emulator by default (every CI run), a real GPU with
 * KVDECODE_TEST_BACKEND=cuda (scripts/verify-gpu). Owns the context, the loaded kernels, one
 * stream, and every test buffer; each buffer sits in front of a guard band that is checked after
 * each launch, and outputs start as NaN (all bytes 0xFF) so a skipped write shows.
 */
final class Dev implements AutoCloseable {
    static final int GUARD_BYTES = 64;
    static final byte GUARD = (byte) 0xA5;

    final NativeLibraries.Loaded libs;
    final GpuContext gpu;
    final CudaKernels kernels;
    final CudaStream stream;
    private final List<Buf> buffers = new ArrayList<>();

    private Dev(NativeLibraries.Loaded libs, GpuContext gpu) {
        this.libs = libs;
        this.gpu = gpu;
        this.kernels = CudaKernels.load(gpu);
        this.stream = gpu.createStream();
        // Programmatic dependent launch wherever it applies (the emulator, sm_90+): every kernel
        // that CudaKernels launches that way is then checked to wait before it touches memory.
        this.stream.setProgrammaticLaunch(gpu.driver().has("cuLaunchKernelEx")
                && (libs.mode() == NativeLibraries.Mode.EMU || gpu.computeCapability() >= 90));
    }

    static Dev open() {
        boolean real = "cuda".equals(System.getenv("KVDECODE_TEST_BACKEND"));
        NativeLibraries.Loaded libs = real ? NativeLibraries.loadCuda() : NativeLibraries.loadEmulator(Dev.class.getClassLoader());
        return new Dev(libs, GpuContext.open(libs, 0));
    }

    /** What a failure message needs to reproduce the run: the backend and the emulator's scheduling seed. */
    static String where() {
        String backend = "cuda".equals(System.getenv("KVDECODE_TEST_BACKEND")) ? "cuda" : "cuda-emu";
        return backend + ", KVDECODE_EMU_SEED=" + System.getenv("KVDECODE_EMU_SEED");
    }

    /** A device array of n elements of elemBytes inside an owner allocation followed by the guard band. */
    final class Buf {
        final DeviceBuffer owner, view;
        final int n, elemBytes;
        final String name;

        Buf(String name, int n, int elemBytes, MemorySegment init) {
            this.name = name;
            this.n = n;
            this.elemBytes = elemBytes;
            long bytes = (long) n * elemBytes;
            owner = gpu.allocate(bytes + GUARD_BYTES);
            view = owner.view(0, bytes);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment host = a.allocate(bytes + GUARD_BYTES);
                if (init == null) host.asSlice(0, bytes).fill((byte) 0xFF);
                else MemorySegment.copy(init, 0, host, 0, bytes);
                host.asSlice(bytes).fill(GUARD);
                owner.copyFromHost(gpu.driver(), host);
            }
            buffers.add(this);
        }

        /** The whole owner (data + guard) copied to the host, after synchronising the stream. */
        MemorySegment read(Arena a) {
            stream.synchronize();
            MemorySegment host = a.allocate((long) n * elemBytes + GUARD_BYTES);
            owner.copyToHost(gpu.driver(), host);
            return host;
        }

        float[] floats(DType dt) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment h = read(a);
                float[] out = new float[n];
                for (int i = 0; i < n; i++) {
                    out[i] = switch (dt) {
                        case F32 -> h.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
                        case F16 -> Float.float16ToFloat(h.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
                        case BF16 -> Num.fromBf16(h.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
                    };
                }
                return out;
            }
        }

        int[] ints() {
            try (Arena a = Arena.ofConfined()) {
                return read(a).asSlice(0, 4L * n).toArray(ValueLayout.JAVA_INT);
            }
        }

        long[] longs() {
            try (Arena a = Arena.ofConfined()) {
                return read(a).asSlice(0, 8L * n).toArray(ValueLayout.JAVA_LONG);
            }
        }

        /** Fails naming the kernel if anything wrote past the end of this buffer. */
        void checkGuard(String kernel) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment h = read(a);
                long bytes = (long) n * elemBytes;
                for (int i = 0; i < GUARD_BYTES; i++)
                    if (h.get(ValueLayout.JAVA_BYTE, bytes + i) != GUARD)
                        fail(kernel + " wrote past the end of " + name + " (guard byte " + i + ") [" + where() + "]");
            }
        }
    }

    Buf floats(String name, float[] data, DType dt) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate((long) data.length * dt.sizeBytes() + 1);
            for (int i = 0; i < data.length; i++) {
                switch (dt) {
                    case F32 -> host.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, data[i]);
                    case F16 -> host.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Float.floatToFloat16(data[i]));
                    case BF16 -> host.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Num.toBf16(data[i]));
                }
            }
            return new Buf(name, data.length, dt.sizeBytes(), host);
        }
    }

    Buf ints(String name, int[] data) {
        try (Arena a = Arena.ofConfined()) {
            return new Buf(name, data.length, 4, a.allocateFrom(ValueLayout.JAVA_INT, data));
        }
    }

    Buf longs(String name, long[] data) {
        try (Arena a = Arena.ofConfined()) {
            return new Buf(name, data.length, 8, a.allocateFrom(ValueLayout.JAVA_LONG, data));
        }
    }

    /** An output of n elements, every byte 0xFF (NaN in f32/f16/bf16, -1 as int). */
    Buf poisoned(String name, int n, int elemBytes) { return new Buf(name, n, elemBytes, null); }

    /** Checks the guard band of every live buffer; call after each launch under test. */
    void checkGuards(String kernel) {
        for (Buf b : buffers) b.checkGuard(kernel);
    }

    /** Frees the buffers of one test case. */
    void freeBuffers() {
        stream.synchronize();
        for (Buf b : buffers) b.owner.close();
        buffers.clear();
    }

    /**
     * The emulator's NaN check (a kernel writing NaN fails its launch) on or off; returns the old
     * setting. Only for a test whose kernel writes NaN on purpose; a real GPU has no such check.
     */
    boolean setEmulatorNanCheck(boolean on) {
        if (libs.mode() != NativeLibraries.Mode.EMU) return false;
        var fn = libs.driver().find("kvdEmuSetNanCheck").orElseThrow(() -> new IllegalStateException("the emulator has no kvdEmuSetNanCheck"));
        var handle = java.lang.foreign.Linker.nativeLinker().downcallHandle(fn,
                java.lang.foreign.FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        try {
            return (int) handle.invokeExact(on ? 1 : 0) != 0;
        } catch (Throwable t) {
            throw new IllegalStateException("kvdEmuSetNanCheck failed", t);
        }
    }

    static float[] random(SplittableRandom rnd, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (lo + rnd.nextDouble() * (hi - lo));
        return a;
    }

    @Override
    public void close() {
        freeBuffers();
        stream.close();
        kernels.close();
        gpu.close();
    }
}
