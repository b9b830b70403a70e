package dev.kvdecode.server;

import dev.kvdecode.bindings.NativeLibraries;
import dev.kvdecode.kernels.cuda.CudaKernels;
import dev.kvdecode.kernels.cuda.DType;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.CpuBackend;
import dev.kvdecode.runtime.cuda.CudaBackend;
import dev.kvdecode.runtime.cuda.CudaOptions;
import dev.kvdecode.runtime.engine.Backend;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.sample.SamplingParams;
import org.junit.jupiter.api.Test;

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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 16, the server-style loop: what {@code Serving.load} and {@code Serving.shutdown} do,
 * many times in one JVM, leaves nothing behind. Each round opens a session of {@value #SLOTS} slots
 * on the backend (the whole KV cache, allocated at once), starts a {@link Scheduler} on it, runs
 * {@value #REQUESTS} requests through its slots (more than the slots, so slots are freed and
 * reused; prompts of several lengths, seeded sampling, one request cancelled after its first token,
 * one stopped by its sink), shuts the scheduler down and closes the session. The backend stays
 * open across rounds, as the process's would.
 * <p>
 * Measured as runtime's MemoryLoopTest measures (its comment says what each figure counts):
 * after {@value #WARMUP_ROUNDS} warm-up rounds (the baseline), while a round's session is open,
 * half-way and at the end: on cuda-emu the emulator's device and pinned host bytes and allocations
 * ({@code kvdEmuMemoryInUse}) must be back at the baseline exactly; on both backends the JDK's
 * direct and mapped buffer pools within a few buffers the JDK caches itself. One leaked pinned
 * buffer or device allocation per session grows them by the number of rounds.
 */
class ServerMemoryLoopTest {
    static final int SLOTS = 3, WINDOW = 24, REQUESTS = 7, WARMUP_ROUNDS = 5;
    static final int POOL_SLACK_BUFFERS = 16;
    static final long POOL_SLACK_BYTES = 256 * 1024;
    static final Path TINY = Path.of("..", "runtime", "src", "test", "resources", "fixtures", "char-tiny");

    /** Bytes and counts in use at one moment; -1 where not measured. */
    record Usage(long deviceBytes, long deviceAllocations, long pinnedBytes, long pinnedAllocations,
                 long directBytes, long directBuffers, long mappedBytes, long mappedBuffers) {
        @Override public String toString() {
            return "device " + deviceBytes + " B in " + deviceAllocations + ", pinned " + pinnedBytes + " B in "
                    + pinnedAllocations + ", direct " + directBytes + " B in " + directBuffers + ", mapped "
                    + mappedBytes + " B in " + mappedBuffers;
        }
    }

    @Test
    void cpuSessionsOpenedAndClosedReturnToBaseline() throws Exception {
        try (CpuBackend cpu = new CpuBackend(1)) {
            List<Usage> u = rounds(cpu, 300, () -> {}, () -> jdkPools(-1, -1, -1, -1));
            assertReturnsToBaseline("cpu", 300, u);
        }
    }

    @Test
    void emulatorSessionsOpenedAndClosedReturnToBaseline() throws Exception {
        MethodHandle inUse = emulatorCounters();
        int nanCheck = setNanCheck(0); // memory, not kernel results, is checked here (MemoryLoopTest)
        try (CudaBackend gpu = CudaBackend.openEmulator(new CudaOptions(DType.F32, true, 16, 3, 0))) {
            List<Usage> u = rounds(gpu, 25, gpu.gpu()::makeCurrent, () -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment out = a.allocate(ValueLayout.JAVA_LONG, 4);
                    inUse.invokeExact(out);
                    long[] v = out.toArray(ValueLayout.JAVA_LONG);
                    return jdkPools(v[0], v[1], v[2], v[3]);
                } catch (Throwable t) {
                    throw new AssertionError(t);
                }
            });
            assertReturnsToBaseline("cuda-emu", 25, u);
            Usage during = u.get(2);
            assertTrue(during.deviceBytes() > u.get(1).deviceBytes() && during.pinnedBytes() > u.get(1).pinnedBytes(),
                    "the counters saw no session: during " + during + ", baseline " + u.get(1));
        } finally {
            setNanCheck(nanCheck);
        }
    }

    /** Usage before, after the warm-up (the baseline), with a session open, half-way and at the end. */
    private static List<Usage> rounds(Backend backend, int rounds, Runnable bind, Supplier<Usage> measure) throws Exception {
        Model model = ModelLoader.load(TINY);
        List<Usage> samples = new ArrayList<>();
        samples.add(measure.get());
        for (int round = 0; round < rounds; round++) {
            if (round == WARMUP_ROUNDS || round == (rounds + WARMUP_ROUNDS) / 2) samples.add(measure.get());
            InferenceSession session = backend.open(model, new SessionOptions(SLOTS, WINDOW, OverflowPolicy.STOP, true));
            try (Scheduler scheduler = new Scheduler(session, SLOTS, WINDOW, 2 * REQUESTS, Scheduler.Observer.NONE).start(bind)) {
                if (round == WARMUP_ROUNDS) samples.add(measure.get());
                List<CompletableFuture<Scheduler.Finish>> done = new ArrayList<>();
                for (int r = 0; r < REQUESTS; r++) {
                    int i = r;
                    int[] prompt = new int[1 + (round + i) % 6];
                    for (int t = 0; t < prompt.length; t++) prompt[t] = 1 + (round * 7 + i * 3 + t) % 60;
                    CompletableFuture<Scheduler.Finish> finish = new CompletableFuture<>();
                    int stopAfter = i == 1 ? 2 : Integer.MAX_VALUE, maxTokens = i == 0 ? 15 : 2 + i % 4;
                    AtomicReference<Scheduler.Sequence> seq = new AtomicReference<>();
                    seq.set(scheduler.submit(new Scheduler.Request(prompt, maxTokens, SamplingParams.of(0.8f, 5, 1f, round * 31L + i), -1),
                            new Scheduler.Sink() {
                                int n;

                                @Override public boolean onToken(int token) {
                                    n++;
                                    Scheduler.Sequence self = seq.get();
                                    if (i == 0 && n == 1 && self != null) self.cancel();   // a client that goes away
                                    return n < stopAfter;                                 // a stop string
                                }

                                @Override public void onFinish(Scheduler.Finish f, int completionTokens, String error) {
                                    finish.complete(f);
                                }
                            }));
                    done.add(finish);
                }
                for (int i = 0; i < REQUESTS; i++) {
                    Scheduler.Finish f = done.get(i).get(60, TimeUnit.SECONDS);
                    assertNotEquals(Scheduler.Finish.ERROR, f, "round " + round + ", request " + i);
                }
                assertTrue(scheduler.shutdown(5_000), "round " + round + ": the scheduler did not drain");
                assertEquals(0, scheduler.slotsInUse(), "round " + round);
            } finally {
                session.close();
            }
        }
        samples.add(measure.get());
        return samples;
    }

    private static void assertReturnsToBaseline(String backend, int rounds, List<Usage> u) {
        Usage base = u.get(1), end = u.get(u.size() - 1);
        String figures = backend + ", " + rounds + " sessions of " + REQUESTS + " requests: before " + u.get(0) + "; after "
                + WARMUP_ROUNDS + " (baseline) " + base + "; during a session " + u.get(2) + "; half-way " + u.get(3)
                + "; at the end " + end;
        System.out.println(figures);
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
        MemorySegment fn = NativeLibraries.loadEmulator(CudaKernels.class.getClassLoader()).driver().find("kvdEmuSetNanCheck").orElseThrow();
        try {
            return (int) Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT))
                    .invokeExact(on);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** {@code void kvdEmuMemoryInUse(unsigned long long out[4])}, exported by the emulator only. */
    private static MethodHandle emulatorCounters() {
        MemorySegment fn = NativeLibraries.loadEmulator(CudaKernels.class.getClassLoader()).driver().find("kvdEmuMemoryInUse")
                .orElseThrow(() -> new AssertionError("the emulator library exports no kvdEmuMemoryInUse"));
        return Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
    }
}
