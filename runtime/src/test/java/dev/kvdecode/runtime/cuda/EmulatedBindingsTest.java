package dev.kvdecode.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvdecode.bindings.CudaCheck;
import dev.kvdecode.bindings.CudaException;
import dev.kvdecode.bindings.CudaFunction;
import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.GpuContext;
import dev.kvdecode.bindings.KernelArgs;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The bindings through a real library (the emulator exports the driver's symbols with the real
 * signatures): status mapping, ownership, copies, and the launcher's argument check against
 * cuFuncGetParamInfo, including issue 8's planted defect "a kernel argument of the wrong size".
 */
class EmulatedBindingsTest {
    static CudaBackend backend;

    @BeforeAll
    static void open() { backend = Emu.open(Emu.options(false)); }

    @AfterAll
    static void close() { if (backend != null) backend.close(); }

    @Test
    void driverStatusesAreNamedByTheLibrary() {
        GpuContext gpu = backend.gpu();
        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", CudaCheck.driverStatusName(gpu.driver(), 2));
        assertEquals("CUDA_ERROR_INVALID_HANDLE", CudaCheck.driverStatusName(gpu.driver(), 400));
        // A petabyte cannot be allocated: the failing call and its status, nothing else.
        CudaException e = assertThrows(CudaException.class, () -> gpu.allocate(1L << 50));
        assertEquals("cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY", e.getMessage());
    }

    @Test
    void deviceBuffersRoundTripAndRefuseUseAfterClose() {
        GpuContext gpu = backend.gpu();
        try (Arena arena = Arena.ofConfined(); CudaStream s = gpu.createStream()) {
            DeviceBuffer buf = gpu.allocate(64);
            MemorySegment src = arena.allocate(64), dst = arena.allocate(64);
            for (int i = 0; i < 16; i++) src.setAtIndex(ValueLayout.JAVA_INT, i, 1000 + i);
            buf.copyFromHostAsync(s, src, 0);
            buf.view(16, 16).fillWordsAsync(s, 7);
            buf.copyToHostAsync(s, 0, dst);
            s.synchronize();
            for (int i = 0; i < 16; i++)
                assertEquals(i >= 4 && i < 8 ? 7 : 1000 + i, dst.getAtIndex(ValueLayout.JAVA_INT, i), "word " + i);
            DeviceBuffer view = buf.view(0, 8);
            buf.close();
            assertThrows(IllegalStateException.class, buf::address);
            assertThrows(IllegalStateException.class, view::address, "a view dies with its owner");
            buf.close(); // idempotent
            assertThrows(IndexOutOfBoundsException.class, () -> gpu.allocate(8).view(4, 8));
        }
    }

    @Test
    void synchronousUploadHasLandedBeforeWorkOnOurNonBlockingStream() {
        // Found on an H200 (docs/GPU_VERIFICATION.md): cuMemcpyHtoD from pageable memory returns
        // once the bytes are staged, and its DMA on the legacy stream is not ordered with work on
        // a non-blocking stream. The emulator lands such a copy as late as CUDA allows, so without
        // copyFromHost's synchronisation the copy below would read the allocation's NaN poison.
        GpuContext gpu = backend.gpu();
        int n = 1024;
        try (Arena arena = Arena.ofConfined(); CudaStream s = gpu.createStream();
             DeviceBuffer a = gpu.allocate(4L * n); DeviceBuffer b = gpu.allocate(4L * n)) {
            MemorySegment src = arena.allocate(4L * n), dst = arena.allocate(4L * n);
            for (int i = 0; i < n; i++) src.setAtIndex(ValueLayout.JAVA_FLOAT, i, 0.5f * i);
            a.copyFromHost(gpu.driver(), src);
            b.copyFromDeviceAsync(s, a, 0, 0, 4L * n);
            b.copyToHostAsync(s, 0, dst);
            s.synchronize();
            for (int i = 0; i < n; i++)
                assertEquals(0.5f * i, dst.getAtIndex(ValueLayout.JAVA_FLOAT, i), "element " + i);
        }
    }

    @Test
    void launcherRejectsAKernelArgumentOfTheWrongSize() {
        // Planted defect (issue 8): counters_advance(int* seen, int B, int delta) launched with a
        // long where B goes. On a device that would read B from the low half and delta from the
        // high half of the 8 bytes; the launcher must refuse before the driver sees it.
        GpuContext gpu = backend.gpu();
        assertTrue(gpu.driver().has("cuFuncGetParamInfo"), "the emulator must answer cuFuncGetParamInfo (issue 8)");
        CudaFunction f = backend.kernels().function("counters_advance");
        assertEquals(3, f.paramInfo().orElseThrow().size());
        assertEquals(8, f.paramInfo().orElseThrow().get(0).sizeBytes());
        assertEquals(4, f.paramInfo().orElseThrow().get(1).sizeBytes());
        try (Arena arena = Arena.ofConfined(); CudaStream s = gpu.createStream(); DeviceBuffer seen = gpu.allocate(4)) {
            IllegalArgumentException wrongSize = assertThrows(IllegalArgumentException.class,
                    () -> f.launch(s, Dim3.of(1), Dim3.of(128), 0, arena, new KernelArgs().ptr(seen).i64(1).i32(1)));
            assertEquals("kernel counters_advance: argument 1 (long) is 8 bytes, the kernel's parameter is 4 bytes",
                    wrongSize.getMessage());
            IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                    () -> f.launch(s, Dim3.of(1), Dim3.of(128), 0, arena, new KernelArgs().ptr(seen).i32(1)));
            assertEquals("kernel counters_advance takes 3 arguments, the launcher passed 2", missing.getMessage());
            // and the right layout runs: seen = 0 + 5
            seen.fillWordsAsync(s, 0);
            f.launch(s, Dim3.of(1), Dim3.of(128), 0, arena, new KernelArgs().ptr(seen).i32(1).i32(5));
            MemorySegment out = arena.allocate(4);
            seen.copyToHostAsync(s, 0, out);
            s.synchronize();
            assertEquals(5, out.get(ValueLayout.JAVA_INT, 0));
        }
    }
}
