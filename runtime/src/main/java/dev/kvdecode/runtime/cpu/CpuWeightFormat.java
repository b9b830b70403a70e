package dev.kvdecode.runtime.cpu;

import dev.kvdecode.kernels.HalfFormat;
import dev.kvdecode.kernels.Q8Matrix;

/**
 * The format the CPU backend keeps its matmul weights in ({@code --dtype}): the four linear layers
 * of every block and the LM head, ~all the bytes a decode step reads. Embeddings, LayerNorm
 * parameters, biases, the KV cache and all arithmetic stay fp32 in every format.
 */
public enum CpuWeightFormat {
    /** The reference: the checkpoint's values widened exactly to fp32. */
    FP32("fp32", 4.0),
    /** IEEE half, packed, widened as read ({@link PackedHalfWeights}). */
    FP16("fp16", 2.0),
    /** bfloat16, packed, widened in registers as read ({@link PackedHalfWeights}). */
    BF16("bf16", 2.0),
    /** int8 with one fp32 scale per 32 weights ({@link Q8Weights}, {@link Q8Matrix}): 1.125 bytes per weight. */
    INT8("int8", 1.0 + 4.0 / Q8Matrix.BLOCK);

    private final String flag;
    private final double bytesPerWeight;

    CpuWeightFormat(String flag, double bytesPerWeight) {
        this.flag = flag;
        this.bytesPerWeight = bytesPerWeight;
    }

    /** The {@code --dtype} value. */
    public String flag() { return flag; }

    /** Bytes a decode step reads per matmul weight. */
    public double bytesPerWeight() { return bytesPerWeight; }

    /** The 16-bit format of FP16 and BF16, null otherwise. */
    public HalfFormat half() {
        return switch (this) {
            case FP16 -> HalfFormat.FP16;
            case BF16 -> HalfFormat.BF16;
            default -> null;
        };
    }

    /** The format with this {@code --dtype} value, or null. */
    public static CpuWeightFormat ofFlag(String flag) {
        for (CpuWeightFormat f : values()) if (f.flag.equals(flag)) return f;
        return null;
    }
}
