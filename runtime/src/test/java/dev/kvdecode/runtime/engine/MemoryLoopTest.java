package dev.kvdecode.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvdecode.bindings.NativeLibraries;
import dev.kvdecode.kernels.cuda.CudaKernels;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.CpuBackend;
import dev.kvdecode.kernels.cuda.DType;
import dev.kvdecode.runtime.cuda.CudaBackend;
import dev.kvdecode.runtime.cuda.CudaOptions;
import dev.kvdecode.runtime.model.FixtureLogits;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.model.SafeTensors;
import dev.kvdecode.runtime.cpu.RandomWeights;
import dev.kvdecode.runtime.sample.SamplingParams;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Issue 16: 1,000 `generate` calls in one JVM leave nothing behind. Each call does what one CLI
 * run does in-process: load the char-tiny fixture from disk (config.json, a mapped
 * model.safetensors, chars.json), open a session, generate a few tokens (seeded top-k sampling, so
 * the sampling path runs too), close the session. The backend stays open, as in a server.
 *
 * <p>What is measured, after a warm-up ({@value #WARMUP_CALLS} calls: cuBLAS handles, the kernels'
 * module and the JDK's per-thread I/O buffers are made once) and again after {@value #CALLS} calls:
 * <ul>
 *   <li>the JDK's "direct" and "mapped" buffer pools (BufferPoolMXBean): every native segment an
 *       {@link Arena} allocates and every file it maps is counted there until the arena closes;</li>
 *   <li>on cuda-emu, the emulator's own counters ({@code kvdEmuMemoryInUse}): device bytes and
 *       allocations in use, pinned host bytes and allocations. A real driver has no such query
 *       (cuMemGetInfo also counts other processes), so the device part runs on the emulator only.</li>
 * </ul>
 * Device and pinned memory must return to the baseline exactly (or below, should another test's
 * leftovers be freed meanwhile). The JDK pools may move by a few
 * buffers the JDK itself caches (temporary direct buffers for channel I/O), so they get a slack
 * of {@value #POOL_SLACK_BUFFERS} buffers and {@value #POOL_SLACK_BYTES} bytes; one leaked segment
 * or mapping per call grows them by ~{@value #CALLS}. Memory that an explicit {@link Arena}
 * mallocs (kernel arguments, staging) is in neither pool, and the JDK counts it only with native
 * memory tracking on; what such an arena holds across calls is pinned or device memory here.
 * Lives outside the cuda package so that scripts/gpu-verify.sh, which runs that package on a real
 * GPU, leaves it to the emulator. Verified by leaking one pinned buffer per
 * session and one mapped file per load on purpose: both loops then fail with the figures.
 */
class MemoryLoopTest {
    static final int CALLS = 1000;
    static final int WARMUP_CALLS = 20;
    static final int TOKENS = 3;
    static final int POOL_SLACK_BUFFERS = 16;
    static final long POOL_SLACK_BYTES = 256 * 1024;
    static final Path MODEL = FixtureLogits.dir("char-tiny");

    /** Bytes and buffer counts in use at one moment; -1 where not measured. */
    record Usage(long deviceBytes, long deviceAllocations, long pinnedBytes, long pinnedAllocations,
                 long directBytes, long directBuffers, long mappedBytes, long mappedBuffers) {
        @Override public String toString() {
            return "device " + deviceBytes + " B in " + deviceAllocations + ", pinned " + pinnedBytes + " B in "
                    + pinnedAllocations + ", direct " + directBytes + " B in " + directBuffers + ", mapped "
                    + mappedBytes + " B in " + mappedBuffers;
        }
    }

    @Test
    void cpuGenerateLoopReturnsToBaseline() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            List<Usage> u = loop(cpu, () -> ModelLoader.load(MODEL), () -> jdkPools(-1, -1, -1, -1));
            assertReturnsToBaseline("cpu", u);
        }
    }

    @Test
    void emulatorGenerateLoopReturnsToBaseline() {
        MethodHandle inUse = emulatorCounters();
        // The NaN check snapshots every kernel's outputs; this test is about memory, and the
        // kernels' results are checked elsewhere: off for the loop (about half the emulated time).
        int nanCheck = setNanCheck(0);
        try (CudaBackend gpu = CudaBackend.openEmulator(new CudaOptions(DType.F32, true, 16, 3, 0))) {
            Model tiny = RandomWeights.model(ModelConfig.charGpt(1, 2, 16, 8, 17), 16);
            List<Usage> u = loop(gpu, () -> tiny, () -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment out = a.allocate(ValueLayout.JAVA_LONG, 4);
                    inUse.invokeExact(out);
                    long[] v = out.toArray(ValueLayout.JAVA_LONG);
                    return jdkPools(v[0], v[1], v[2], v[3]);
                } catch (Throwable t) {
                    throw new AssertionError(t);
                }
            });
            assertReturnsToBaseline("cuda-emu", u);
            Usage during = u.get(2);
            assertTrue(during.deviceBytes() > 0 && during.deviceAllocations() > 0 && during.pinnedBytes() > 0
                    && during.pinnedAllocations() > 0, "the counters saw no session: " + during);
        } finally {
            setNanCheck(nanCheck);
        }
    }

    /** The measure sees what it is meant to: a mapped checkpoint is in the "mapped" pool until closed. */
    @Test
    void mappedPoolCountsAnOpenCheckpoint() {
        Usage before = jdkPools(-1, -1, -1, -1);
        try (SafeTensors st = SafeTensors.open(MODEL.resolve(ModelLoader.WEIGHTS_FILE))) {
            Usage open = jdkPools(-1, -1, -1, -1);
            assertEquals(before.mappedBuffers() + 1, open.mappedBuffers(), "open: " + open + ", before: " + before);
            assertTrue(open.mappedBytes() - before.mappedBytes() >= st.tensors().size(), "open: " + open);
        }
        assertEquals(before.mappedBuffers(), jdkPools(-1, -1, -1, -1).mappedBuffers());
    }

    /**
     * Usage before the loop, after the warm-up (the baseline), while the next call's session is
     * open (so the counters are seen to count something), half-way and at the end.
     */
    private static List<Usage> loop(Backend backend, Supplier<Model> models, Supplier<Usage> measure) {
        List<Usage> samples = new ArrayList<>();
        samples.add(measure.get());
        for (int call = 0; call < CALLS; call++) {
            if (call == WARMUP_CALLS || call == (CALLS + WARMUP_CALLS) / 2) samples.add(measure.get());
            Model model = models.get();
            try (InferenceSession s = backend.open(model, new SessionOptions(1, 8, OverflowPolicy.SHIFT, true))) {
                GenerationResult r = s.generate(new int[][] {{1 + call % 7, 2}},
                        new GenerationOptions(TOKENS, SamplingParams.of(0.8f, 5, 1.0f, call), -1, true), null);
                assertEquals(TOKENS, r.tokens()[0].length, "call " + call);
                if (call == WARMUP_CALLS) samples.add(measure.get());
            }
        }
        samples.add(measure.get());
        return samples;
    }

    private static void assertReturnsToBaseline(String backend, List<Usage> u) {
        Usage base = u.get(1), end = u.get(u.size() - 1);
        String figures = backend + ", " + CALLS + " generate calls: before " + u.get(0) + "; after " + WARMUP_CALLS
                + " (baseline) " + base + "; during a call " + u.get(2) + "; half-way " + u.get(3) + "; at the end " + end;
        System.out.println(figures);
        // Not above the baseline (below it only if another test's leftovers were freed meanwhile).
        assertTrue(end.deviceBytes() <= base.deviceBytes(), "device bytes in use grew. " + figures);
        assertTrue(end.deviceAllocations() <= base.deviceAllocations(), "device allocations grew. " + figures);
        assertTrue(end.pinnedBytes() <= base.pinnedBytes(), "pinned host bytes grew. " + figures);
        assertTrue(end.pinnedAllocations() <= base.pinnedAllocations(), "pinned allocations grew. " + figures);
        assertTrue(end.directBuffers() - base.directBuffers() <= POOL_SLACK_BUFFERS
                && end.directBytes() - base.directBytes() <= POOL_SLACK_BYTES, "direct (native) memory grew. " + figures);
        assertTrue(end.mappedBuffers() - base.mappedBuffers() <= POOL_SLACK_BUFFERS
                && end.mappedBytes() - base.mappedBytes() <= POOL_SLACK_BYTES, "mapped files grew. " + figures);
    }

    private static Usage jdkPools(long deviceBytes, long deviceAllocations, long pinnedBytes, long pinnedAllocations) {
        BufferPoolMXBean direct = pool("direct"), mapped = pool("mapped");
        return new Usage(deviceBytes, deviceAllocations, pinnedBytes, pinnedAllocations,
                direct.getMemoryUsed(), direct.getCount(), mapped.getMemoryUsed(), mapped.getCount());
    }

    private static BufferPoolMXBean pool(String name) {
        for (BufferPoolMXBean p : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class))
            if (p.getName().equals(name)) return p;
        throw new IllegalStateException("no " + name + " buffer pool");
    }

    /** {@code int kvdEmuSetNanCheck(int on)}: returns the previous setting. */
    private static int setNanCheck(int on) {
        NativeLibraries.Loaded emu = NativeLibraries.loadEmulator(CudaKernels.class.getClassLoader());
        MemorySegment fn = emu.driver().find("kvdEmuSetNanCheck").orElseThrow();
        try {
            return (int) Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT))
                    .invokeExact(on);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** {@code void kvdEmuMemoryInUse(unsigned long long out[4])}, exported by the emulator only. */
    private static MethodHandle emulatorCounters() {
        NativeLibraries.Loaded emu = NativeLibraries.loadEmulator(CudaKernels.class.getClassLoader());
        MemorySegment fn = emu.driver().find("kvdEmuMemoryInUse")
                .orElseThrow(() -> new AssertionError("the emulator library exports no kvdEmuMemoryInUse"));
        return Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
    }
}
