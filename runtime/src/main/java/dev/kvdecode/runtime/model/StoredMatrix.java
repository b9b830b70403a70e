package dev.kvdecode.runtime.model;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.F32Matrix;
import dev.kvdecode.kernels.GgmlMatrix;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.kernels.Q8Matrix;

/**
 * A matmul weight W (in, out) in the format its file stored it (a GGUF model kept quantized,
 * issue 20): exactly one of fp32 panels (F32, F16 and BF16 tensors, widened exactly), ggml Q8_0
 * as {@link Q8Matrix#ofQ8_0}, or Q4_0 / Q4_K / Q6_K as {@link GgmlMatrix}.
 */
public record StoredMatrix(F32Matrix f32, Q8Matrix q8, GgmlMatrix ggml) {
    public StoredMatrix {
        int n = (f32 != null ? 1 : 0) + (q8 != null ? 1 : 0) + (ggml != null ? 1 : 0);
        if (n != 1) throw new IllegalArgumentException("a stored matrix holds exactly one format, got " + n);
    }

    public static StoredMatrix of(F32Matrix m) { return new StoredMatrix(m, null, null); }

    public static StoredMatrix of(Q8Matrix m) { return new StoredMatrix(null, m, null); }

    public static StoredMatrix of(GgmlMatrix m) { return new StoredMatrix(null, null, m); }

    public int in() { return f32 != null ? f32.in() : q8 != null ? q8.in() : ggml.in(); }

    public int out() { return f32 != null ? f32.out() : q8 != null ? q8.out() : ggml.out(); }

    /** The stored W[i, c] as fp32 (the file's dequantization, bit for bit). */
    public float get(int i, int c) { return f32 != null ? f32.get(i, c) : q8 != null ? q8.get(i, c) : ggml.get(i, c); }

    /** The format's name: F32 (also F16/BF16 widened), Q8_0, Q4_0, Q4_K or Q6_K. */
    public String format() { return f32 != null ? "F32" : q8 != null ? "Q8_0" : ggml.layout().name(); }

    /** Bytes a pass over the matrix reads. */
    public long bytes() { return f32 != null ? f32.bytes() : q8 != null ? q8.bytes() : ggml.bytes(); }

    // x (rows, in), b (out) or null -> y (rows, out) at yOff
    /** y = x W + b with this format's kernel. */
    public void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff, float[] b, int rows) {
        if (f32 != null) Matmul.matmul(pool, y, yOff, x, xOff, f32, b, rows);
        else if (q8 != null) Matmul.matmul(pool, y, yOff, x, xOff, q8, b, rows);
        else Matmul.matmul(pool, y, yOff, x, xOff, ggml, b, rows);
    }

    /** W as fp32 panels: this matrix's own when F32, else dequantized (a new copy). */
    public F32Matrix toF32() {
        if (f32 != null) return f32;
        return F32Matrix.of(q8 != null ? q8.dequantize() : ggml.dequantize(), in(), out());
    }
}
