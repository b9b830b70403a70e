package dev.kvdecode.runtime.model.gguf;

import dev.kvdecode.kernels.GgmlBlocks;

/**
 * The tensor types a GGUF file may declare (ggml's {@code ggml_type} ids, as the {@code gguf}
 * Python package's GGMLQuantizationType lists them), with their block geometry: a row's first
 * dimension is cut into blocks of {@link #blockElements} weights stored in {@link #blockBytes}
 * bytes. Every known type is listed so that a file's byte sizes can be validated and an
 * unsupported type named in the error; kvdecode reads the {@link #supported} ones.
 */
public enum GgmlType {
    F32(0, 1, 4, true), F16(1, 1, 2, true), Q4_0(2, 32, 18, true), Q4_1(3, 32, 20, false),
    Q5_0(6, 32, 22, false), Q5_1(7, 32, 24, false), Q8_0(8, 32, 34, true), Q8_1(9, 32, 40, false),
    Q2_K(10, 256, 84, false), Q3_K(11, 256, 110, false), Q4_K(12, 256, 144, true), Q5_K(13, 256, 176, false),
    Q6_K(14, 256, 210, true), Q8_K(15, 256, 292, false),
    IQ2_XXS(16, 256, 66, false), IQ2_XS(17, 256, 74, false), IQ3_XXS(18, 256, 98, false), IQ1_S(19, 256, 50, false),
    IQ4_NL(20, 32, 18, false), IQ3_S(21, 256, 110, false), IQ2_S(22, 256, 82, false), IQ4_XS(23, 256, 136, false),
    I8(24, 1, 1, false), I16(25, 1, 2, false), I32(26, 1, 4, false), I64(27, 1, 8, false), F64(28, 1, 8, false),
    IQ1_M(29, 256, 56, false), BF16(30, 1, 2, true), TQ1_0(34, 256, 54, false), TQ2_0(35, 256, 66, false),
    MXFP4(39, 32, 17, false);

    /** The id stored in the file. */
    public final int id;
    public final int blockElements;
    public final int blockBytes;
    /** Whether kvdecode reads this type (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K). */
    public final boolean supported;

    GgmlType(int id, int blockElements, int blockBytes, boolean supported) {
        this.id = id;
        this.blockElements = blockElements;
        this.blockBytes = blockBytes;
        this.supported = supported;
    }

    /** The type with this id, or null for an id this build does not know. */
    public static GgmlType ofId(long id) {
        for (GgmlType t : values()) if (t.id == id) return t;
        return null;
    }

    /** The kernels' block layout of a quantized type, null for F32, F16 and BF16. */
    public GgmlBlocks.Layout layout() {
        return switch (this) {
            case Q8_0 -> GgmlBlocks.Layout.Q8_0;
            case Q4_0 -> GgmlBlocks.Layout.Q4_0;
            case Q4_K -> GgmlBlocks.Layout.Q4_K;
            case Q6_K -> GgmlBlocks.Layout.Q6_K;
            default -> null;
        };
    }

    /** "F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K", for messages. */
    static final String SUPPORTED_LIST = "F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K";
}
