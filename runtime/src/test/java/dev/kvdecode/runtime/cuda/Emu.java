package dev.kvdecode.runtime.cuda;

/**
 * The emulated CUDA backend for tests (GPU-CONTRACT.md: every GPU test runs on the emulator in CI).
 * One backend per test class; the emulator library comes from the kernels module's classes
 * (or $KVDECODE_EMU_LIB). A missing emulator fails the test: the build must always produce it.
 */
final class Emu {
    private Emu() {}

    static CudaBackend open(CudaOptions options) {
        return CudaBackend.openEmulator(options);
    }

    /** Small ring and lookahead so the tests wrap the ring many times in 300 tokens. */
    static CudaOptions options(boolean graphs) {
        return new CudaOptions(dev.kvdecode.kernels.cuda.DType.F32, graphs, 16, 3);
    }
}
