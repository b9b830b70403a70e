package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.KernelArgs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The launchers reject bad calls before the device sees them: a buffer too small for the shape
 * (checked by the launcher) and an argument list that does not match the kernel's C signature
 * (checked against cuFuncGetParamInfo, which the emulator answers from the registered signature).
 */
class CudaLauncherChecksTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    @Test
    void shortOutputBufferIsRejectedNamingKernelAndArgument() {
        int N = 2, C = 33;
        var x = dev.floats("x", new float[N * C], DType.F32);
        var g = dev.floats("gamma", new float[C], DType.F16);
        var out = dev.poisoned("out", N * C - 1, 2);
        var e = assertThrows(IllegalArgumentException.class, () ->
                CudaLayerNorm.layerNorm(dev.kernels, dev.stream, DType.F16, x.view, g.view, g.view, out.view, N, C, 1e-5f));
        assertTrue(e.getMessage().startsWith("layernorm_f16: out holds 130 bytes, needs 132"), e.getMessage());
    }

    @Test
    void argumentLayoutIsCheckedAgainstTheKernelSignature() {
        var fn = dev.kernels.function("counters_advance");
        // counters_advance(int* seen, int B, int delta): a missing argument, then an 8-byte value for an int
        var missing = assertThrows(IllegalArgumentException.class, () -> fn.checkArgs(new KernelArgs().ptr(0L).i32(1)));
        assertTrue(missing.getMessage().contains("takes 3 arguments"), missing.getMessage());
        var wide = assertThrows(IllegalArgumentException.class, () -> fn.checkArgs(new KernelArgs().ptr(0L).i64(1).i32(1)));
        assertTrue(wide.getMessage().contains("argument 1"), wide.getMessage());
    }
}
