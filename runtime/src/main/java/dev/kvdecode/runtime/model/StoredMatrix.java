package dev.kvdecode.runtime.model;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.F32Matrix;
import dev.kvdecode.kernels.GgmlMatrix;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.kernels.Q8Matrix;

import java.util.ArrayList;
import java.util.List;

/**
 * A matmul weight W (in, out) in the format its file stored it (a GGUF model kept quantized,
 * issue 20): exactly one of fp32 panels (F32, F16 and BF16 tensors, widened exactly), ggml Q8_0
 * as {@link Q8Matrix#ofQ8_0}, Q4_0 / Q4_K / Q6_K as {@link GgmlMatrix}, or {@code parts}: column
 * ranges side by side, W = [W_0 | W_1 | ...], for a fused matrix whose source tensors differ in
 * format (a Llama's q|k|v or gate|up where, as in llama.cpp's Q4_K_M files, attn_v is Q6_K and
 * attn_q Q4_K). Parts of one format are concatenated into a single matrix by the loader instead.
 */
public record StoredMatrix(F32Matrix f32, Q8Matrix q8, GgmlMatrix ggml, List<StoredMatrix> parts) {
    public StoredMatrix {
        int n = (f32 != null ? 1 : 0) + (q8 != null ? 1 : 0) + (ggml != null ? 1 : 0) + (parts != null ? 1 : 0);
        if (n != 1) throw new IllegalArgumentException("a stored matrix holds exactly one format, got " + n);
        if (parts != null) {
            parts = List.copyOf(parts);
            if (parts.isEmpty()) throw new IllegalArgumentException("no parts");
            for (StoredMatrix p : parts) {
                if (p.parts != null) throw new IllegalArgumentException("parts are not nested");
                if (p.in() != parts.get(0).in())
                    throw new IllegalArgumentException("parts of W (in, out) differ in in: " + p.in() + " vs " + parts.get(0).in());
            }
        }
    }

    public static StoredMatrix of(F32Matrix m) { return new StoredMatrix(m, null, null, null); }

    public static StoredMatrix of(Q8Matrix m) { return new StoredMatrix(null, m, null, null); }

    public static StoredMatrix of(GgmlMatrix m) { return new StoredMatrix(null, null, m, null); }

    /** [W_0 | W_1 | ...]: the parts' columns side by side (a single part is returned as is). */
    public static StoredMatrix concat(List<StoredMatrix> parts) {
        return parts.size() == 1 ? parts.get(0) : new StoredMatrix(null, null, null, parts);
    }

    public int in() { return f32 != null ? f32.in() : q8 != null ? q8.in() : ggml != null ? ggml.in() : parts.get(0).in(); }

    public int out() {
        if (parts == null) return f32 != null ? f32.out() : q8 != null ? q8.out() : ggml.out();
        int n = 0;
        for (StoredMatrix p : parts) n += p.out();
        return n;
    }

    /** The stored W[i, c] as fp32 (the file's dequantization, bit for bit). */
    public float get(int i, int c) {
        if (f32 != null) return f32.get(i, c);
        if (q8 != null) return q8.get(i, c);
        if (ggml != null) return ggml.get(i, c);
        for (StoredMatrix p : parts) {
            if (c < p.out()) return p.get(i, c);
            c -= p.out();
        }
        throw new IndexOutOfBoundsException("column " + c + " past the parts");
    }

    /** The format's name: F32 (also F16/BF16 widened), Q8_0, Q4_0, Q4_K or Q6_K; the parts' joined by + . */
    public String format() {
        if (parts == null) return f32 != null ? "F32" : q8 != null ? "Q8_0" : ggml.layout().name();
        List<String> s = new ArrayList<>();
        for (StoredMatrix p : parts) s.add(p.format());
        return String.join("+", s);
    }

    /** The single formats in this matrix (its own, or each part's). */
    public List<String> formats() {
        if (parts == null) return List.of(format());
        List<String> s = new ArrayList<>();
        for (StoredMatrix p : parts) s.add(p.format());
        return s;
    }

    /** Bytes a pass over the matrix reads. */
    public long bytes() {
        if (parts == null) return f32 != null ? f32.bytes() : q8 != null ? q8.bytes() : ggml.bytes();
        long n = 0;
        for (StoredMatrix p : parts) n += p.bytes();
        return n;
    }

    // x (rows, in), b (out) or null -> y (rows, out) at yOff
    /**
     * y = x W + b with this format's kernel. Parts run one after the other into scratch (no bias,
     * which adds +0: the same bits), and their columns are then placed with the bias added, so
     * every element is what the part's kernel gives for it alone.
     */
    public void matmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff, float[] b, int rows) {
        if (f32 != null) Matmul.matmul(pool, y, yOff, x, xOff, f32, b, rows);
        else if (q8 != null) Matmul.matmul(pool, y, yOff, x, xOff, q8, b, rows);
        else if (ggml != null) Matmul.matmul(pool, y, yOff, x, xOff, ggml, b, rows);
        else partsMatmul(pool, y, yOff, x, xOff, b, rows);
    }

    /** Per thread scratch for one part's output, grown once. */
    private static final ThreadLocal<float[][]> PART_OUT = ThreadLocal.withInitial(() -> new float[1][0]);

    private void partsMatmul(CpuThreads pool, float[] y, int yOff, float[] x, int xOff, float[] b, int rows) {
        int out = out();
        if (rows < 1 || yOff < 0 || (long) yOff + (long) rows * out > y.length || (b != null && b.length < out))
            throw new IllegalArgumentException("matmul: y or b too short for T=" + rows + ", out=" + out);
        float[][] holder = PART_OUT.get();
        int c0 = 0;
        for (StoredMatrix p : parts) {
            int po = p.out();
            if (holder[0].length < rows * po) holder[0] = new float[rows * po];
            float[] s = holder[0];
            p.matmul(pool, s, 0, x, xOff, null, rows);
            for (int t = 0; t < rows; t++) {
                int yo = yOff + t * out + c0, so = t * po;
                if (b == null) System.arraycopy(s, so, y, yo, po);
                else for (int c = 0; c < po; c++) y[yo + c] = s[so + c] + b[c0 + c];
            }
            c0 += po;
        }
    }

    /** W as fp32 panels: this matrix's own when F32, else dequantized (a new copy). */
    public F32Matrix toF32() {
        if (f32 != null) return f32;
        if (parts == null) return F32Matrix.of(q8 != null ? q8.dequantize() : ggml.dequantize(), in(), out());
        int in = in(), out = out();
        float[] flat = new float[Math.multiplyExact(in, out)];
        int c0 = 0;
        for (StoredMatrix p : parts) {
            F32Matrix m = p.toF32();
            int po = p.out();
            for (int i = 0; i < in; i++) for (int c = 0; c < po; c++) flat[i * out + c0 + c] = m.get(i, c);
            c0 += po;
        }
        return F32Matrix.of(flat, in, out);
    }
}
