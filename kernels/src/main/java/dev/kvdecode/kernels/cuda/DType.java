package dev.kvdecode.kernels.cuda;

/**
 * The dtype of weights and of the KV cache on the device ({@code --dtype}); arithmetic is fp32
 * whatever this is. The suffix selects the kernel entry point, e.g. {@code layernorm_f16}.
 */
public enum DType {
    F32("f32", 4),
    F16("f16", 2),
    BF16("bf16", 2);

    private final String suffix;
    private final int sizeBytes;

    DType(String suffix, int sizeBytes) {
        this.suffix = suffix;
        this.sizeBytes = sizeBytes;
    }

    /** The kernel name suffix: f32, f16 or bf16. */
    public String suffix() { return suffix; }

    /** Bytes per element. */
    public int sizeBytes() { return sizeBytes; }

    /** {@code op + "_" + suffix()}, the extern "C" name of the op's variant for this dtype. */
    public String kernel(String op) { return op + "_" + suffix; }
}
