package dev.kvdecode.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * A kernel in a {@link CudaModule} (CUfunction), and the one place kernels are launched.
 *
 * <p>Before each launch the packed arguments are checked against the kernel's own parameter
 * layout from {@code cuFuncGetParamInfo} (driver 12.4+; the emulator answers it from the
 * registered C++ signature): a Java launcher that passes an {@code int} where the kernel takes a
 * pointer would otherwise make the device read 4 bytes of garbage as the high half of an address.
 * Drivers without cuFuncGetParamInfo skip the check.
 */
public final class CudaFunction {
    /** One kernel parameter as the compiled kernel sees it. */
    public record ParamInfo(long offsetBytes, long sizeBytes) {}

    /** CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK. */
    public static final int CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0;
    /** CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES. */
    public static final int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    private static final int CUDA_ERROR_INVALID_VALUE = 1;

    private final CudaDriver driver;
    private final CudaModule module;
    private final String name;
    private final MemorySegment handle;
    private Optional<List<ParamInfo>> params; // null = not asked yet; empty = the driver cannot tell

    CudaFunction(CudaDriver driver, CudaModule module, String name, MemorySegment handle) {
        this.driver = driver;
        this.module = module;
        this.name = name;
        this.handle = handle;
    }

    public String name() { return name; }

    public MemorySegment handle() {
        if (module.isClosed()) throw new IllegalStateException("kernel " + name + " used after its module was closed");
        return handle;
    }

    /**
     * The kernel's parameters (offset and size of each), or empty when the driver has no
     * cuFuncGetParamInfo. Asked once, then cached.
     */
    public synchronized Optional<List<ParamInfo>> paramInfo() {
        if (params != null) return params;
        if (!driver.has("cuFuncGetParamInfo")) return params = Optional.empty();
        List<ParamInfo> out = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment off = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment size = arena.allocate(ValueLayout.JAVA_LONG);
            for (long i = 0; ; i++) {
                int status = driver.cuFuncGetParamInfoStatus(handle(), i, off, size);
                if (status == CUDA_ERROR_INVALID_VALUE) break; // past the last parameter
                CudaCheck.driver(driver, "cuFuncGetParamInfo(" + name + ")", status);
                out.add(new ParamInfo(off.get(ValueLayout.JAVA_LONG, 0), size.get(ValueLayout.JAVA_LONG, 0)));
            }
        }
        return params = Optional.of(List.copyOf(out));
    }

    /** Sets a CU_FUNC_ATTRIBUTE_* value, e.g. to allow more than 48 KiB of dynamic shared memory. */
    public void setAttribute(int attribute, int value) { driver.cuFuncSetAttribute(handle(), attribute, value); }

    /**
     * Checks {@code args} against the kernel's parameter sizes (when the driver can tell) and
     * queues the launch on {@code stream}. {@code arena} holds the packed arguments; the driver
     * copies their values at launch (and at capture), so the arena may close right after.
     *
     * @throws IllegalArgumentException naming the kernel and the first mismatching argument
     */
    public void launch(CudaStream stream, Dim3 grid, Dim3 block, int sharedMemBytes, Arena arena, KernelArgs args) {
        launch(stream, grid, block, sharedMemBytes, arena, args, false);
    }

    /**
     * As {@link #launch(CudaStream, Dim3, Dim3, int, Arena, KernelArgs)}; with {@code waitsForPredecessor}
     * (the caller's promise that the kernel executes griddepcontrol.wait before it touches memory
     * an earlier kernel writes or reads) on a stream with {@link CudaStream#programmaticLaunch()},
     * the launch goes through cuLaunchKernelEx with CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION
     * = 1, so the kernel may start while its predecessor finishes (programmatic dependent launch).
     * Captured into a graph, such launches become programmatic dependency edges (CUDA 12.3+).
     */
    public void launch(CudaStream stream, Dim3 grid, Dim3 block, int sharedMemBytes, Arena arena, KernelArgs args,
                       boolean waitsForPredecessor) {
        checkArgs(args);
        MemorySegment params = args.pack(arena);
        if (!(waitsForPredecessor && stream.programmaticLaunch())) {
            driver.cuLaunchKernel(handle(), grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(),
                    sharedMemBytes, stream.handle(), params, MemorySegment.NULL);
            return;
        }
        MemorySegment attr = arena.allocate(CudaDriver.CUlaunchAttribute);  // zeroed: padding and the rest of the union
        attr.set(JAVA_INT, CudaDriver.CUlaunchAttribute.byteOffset(groupElement("id")),
                CudaDriver.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
        attr.set(JAVA_INT, CudaDriver.CUlaunchAttribute.byteOffset(groupElement("value"),
                groupElement("programmaticStreamSerializationAllowed")), 1);
        MemorySegment config = arena.allocate(CudaDriver.CUlaunchConfig);
        java.lang.foreign.StructLayout l = CudaDriver.CUlaunchConfig;
        config.set(JAVA_INT, l.byteOffset(groupElement("gridDimX")), grid.x());
        config.set(JAVA_INT, l.byteOffset(groupElement("gridDimY")), grid.y());
        config.set(JAVA_INT, l.byteOffset(groupElement("gridDimZ")), grid.z());
        config.set(JAVA_INT, l.byteOffset(groupElement("blockDimX")), block.x());
        config.set(JAVA_INT, l.byteOffset(groupElement("blockDimY")), block.y());
        config.set(JAVA_INT, l.byteOffset(groupElement("blockDimZ")), block.z());
        config.set(JAVA_INT, l.byteOffset(groupElement("sharedMemBytes")), sharedMemBytes);
        config.set(ValueLayout.ADDRESS, l.byteOffset(groupElement("hStream")), stream.handle());
        config.set(ValueLayout.ADDRESS, l.byteOffset(groupElement("attrs")), attr);
        config.set(JAVA_INT, l.byteOffset(groupElement("numAttrs")), 1);
        driver.cuLaunchKernelEx(config, handle(), params, MemorySegment.NULL);
    }

    /** Throws IllegalArgumentException if {@code args} does not match the kernel's parameters. */
    public void checkArgs(KernelArgs args) {
        Optional<List<ParamInfo>> info = paramInfo();
        if (info.isEmpty()) return;
        List<ParamInfo> p = info.get();
        List<Long> sizes = args.sizesBytes();
        if (p.size() != sizes.size())
            throw new IllegalArgumentException("kernel " + name + " takes " + p.size() + " arguments, the launcher passed " + sizes.size());
        for (int i = 0; i < p.size(); i++)
            if (p.get(i).sizeBytes() != sizes.get(i))
                throw new IllegalArgumentException("kernel " + name + ": argument " + i + " (" + args.label(i) + ") is "
                        + sizes.get(i) + " bytes, the kernel's parameter is " + p.get(i).sizeBytes() + " bytes");
    }

    @Override
    public String toString() { return "CudaFunction[" + name + "]"; }
}
