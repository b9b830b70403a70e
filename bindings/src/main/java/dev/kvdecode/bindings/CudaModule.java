package dev.kvdecode.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * A loaded module (cuModuleLoadData: our fatbin, or the emulator's marker for it). Functions
 * looked up in it live as long as the module.
 */
public final class CudaModule implements AutoCloseable {
    private final CudaDriver driver;
    private final MemorySegment handle;
    private final Map<String, CudaFunction> functions = new HashMap<>();
    private boolean closed;

    private CudaModule(CudaDriver driver, MemorySegment handle) {
        this.driver = driver;
        this.handle = handle;
    }

    /** Loads a module from an image (fatbin, cubin or NUL-terminated PTX) in host memory. */
    public static CudaModule load(CudaDriver driver, byte[] image) {
        try (Arena arena = Arena.ofConfined()) {
            // One extra zero byte: a PTX image must be NUL-terminated; a fatbin ignores it.
            MemorySegment img = arena.allocate(image.length + 1L, 16);
            MemorySegment.copy(image, 0, img, ValueLayout.JAVA_BYTE, 0, image.length);
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            driver.cuModuleLoadData(out, img);
            return new CudaModule(driver, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** The kernel named {@code name} (its extern "C" name, e.g. {@code layernorm_f32}); cached. */
    public synchronized CudaFunction function(String name) {
        if (closed) throw new IllegalStateException("module used after close");
        CudaFunction f = functions.get(name);
        if (f == null) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
                try {
                    driver.cuModuleGetFunction(out, handle, arena.allocateFrom(name));
                } catch (CudaException e) {
                    throw new CudaException("cuModuleGetFunction(" + name + ")", e.status(), e.statusName());
                }
                f = new CudaFunction(driver, this, name, out.get(ValueLayout.ADDRESS, 0));
            }
            functions.put(name, f);
        }
        return f;
    }

    boolean isClosed() { return closed; }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        driver.cuModuleUnload(handle);
    }
}
