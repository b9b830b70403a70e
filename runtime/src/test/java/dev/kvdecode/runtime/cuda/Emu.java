package dev.kvdecode.runtime.cuda;

import dev.kvdecode.kernels.cuda.DType;

/**
 * The CUDA backend the tests run on: the device emulator by default (GPU-CONTRACT.md: every GPU
 * test runs on the emulator in CI), the real GPU with {@code KVDECODE_TEST_BACKEND=cuda}
 * (scripts/gpu-verify.sh; the same switch as the kernel tests). A missing emulator fails the
 * test: the build must always produce it.
 */
final class Emu {
    private Emu() {}

    static boolean realGpu() { return "cuda".equals(System.getenv("KVDECODE_TEST_BACKEND")); }

    static CudaBackend open(CudaOptions options) {
        return realGpu() ? CudaBackend.openCuda(options) : CudaBackend.openEmulator(options);
    }

    /**
     * Small ring and lookahead so the tests wrap the ring many times in 300 tokens; programmatic
     * dependent launch ON on the emulator (it checks every such kernel waits before it touches
     * memory), AUTO on a GPU (on where the device has compute capability 9.0+).
     */
    static CudaOptions options(boolean graphs) {
        return new CudaOptions(DType.F32, graphs, 16, 3, 0, realGpu() ? CudaOptions.Pdl.AUTO : CudaOptions.Pdl.ON);
    }
}
