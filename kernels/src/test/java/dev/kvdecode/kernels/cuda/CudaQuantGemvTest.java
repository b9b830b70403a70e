package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.Activation;
import dev.kvdecode.kernels.Activations;
import dev.kvdecode.kernels.GgmlBlocks;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.kernels.Residual;
import dev.kvdecode.kernels.cuda.CudaGemv.Epilogue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * gemv_q_* (native/gemv_quant.cu) against the COMPOSITION of the CPU ops: GgmlBlocks.dequantize
 * of the same blocks, Matmul.matmul (x W + b), then Activations.apply or Residual.add. Random
 * blocks (every value and sub-scale bit random, fp16 scales random finite), K a multiple of the
 * block (32 or 256), odd N, M = 1..8; outputs NaN-poisoned, guard bands checked, seeds 1-3
 * (kernels/pom.xml).
 *
 * <p>Tolerance: the weights are the same fp32 values on both sides (the kernel dequantizes with
 * GgmlBlocks' operations), so only the summation order differs: the CPU adds K products in
 * order, the GPU K/32 per lane and then a 32-lane tree. Each sum is within (K + 7) u S of the
 * exact one (u = 2^-24, S = sum |x w| + |b|, Higham's bound for recursive and pairwise sums), so
 * the two within 2 (K + 7) u S; the activations add at most a factor 1.2 (GELU's slope) and a
 * few ulps of their own (tanhf/erff against the CPU's), 1e-6 |ref| + 1e-7.
 */
class CudaQuantGemvTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    static final GgmlBlocks.Layout[] LAYOUTS = GgmlBlocks.Layout.values();

    // M, K in blocks, N
    static final int[][] SHAPES = {{1, 1, 1}, {3, 2, 33}, {8, 3, 17}, {5, 1, 129}};

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (GgmlBlocks.Layout f : LAYOUTS)
            for (Epilogue e : Epilogue.values())
                for (int[] s : SHAPES) b.add(Arguments.of(f, e, s[0], s[1] * f.elements, s[2]));
        // a GPT-2-sized row (K = 768) and more units than lanes (K = 32 x 40 for the 32-blocks)
        for (GgmlBlocks.Layout f : LAYOUTS) b.add(Arguments.of(f, Epilogue.BIAS_RESIDUAL, 2, 768, 9));
        b.add(Arguments.of(GgmlBlocks.Layout.Q4_0, Epilogue.BIAS, 4, 1280, 5));
        return b.build();
    }

    /** n rows of K / E random blocks of {@code f}. */
    static byte[] randomBlocks(SplittableRandom rnd, GgmlBlocks.Layout f, int K, int n) {
        int nb = K / f.elements;
        byte[] raw = new byte[n * nb * f.sizeBytes];
        for (int i = 0; i < raw.length; i++) raw[i] = (byte) rnd.nextInt(256);
        ByteBuffer bb = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        for (int blk = 0; blk < n * nb; blk++) {
            int o = blk * f.sizeBytes;
            switch (f) {
                case Q8_0, Q4_0 -> bb.putShort(o, scale(rnd));
                case Q4_K -> { bb.putShort(o, scale(rnd)); bb.putShort(o + 2, scale(rnd)); }
                case Q6_K -> bb.putShort(o + 208, scale(rnd));
            }
        }
        return raw;
    }

    static short scale(SplittableRandom rnd) {
        float v = (float) Math.scalb(1 + rnd.nextDouble(), -12 + rnd.nextInt(6));
        return Float.floatToFloat16(rnd.nextBoolean() ? v : -v);
    }

    @ParameterizedTest(name = "{0} {1} M={2} K={3} N={4}")
    @MethodSource("cases")
    void matchesTheCpuComposition(GgmlBlocks.Layout f, Epilogue e, int M, int K, int N) {
        long seed = 7919L * K + 31L * N + M + 101L * e.ordinal() + 1009L * f.ordinal();
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] blocks = randomBlocks(rnd, f, K, N);
        float[] wNk = new float[N * K];
        GgmlBlocks.dequantize(f, MemorySegment.ofArray(blocks), 0, N * (K / f.elements), wNk, 0);
        float[] wKn = new float[K * N];
        for (int i = 0; i < K; i++) for (int j = 0; j < N; j++) wKn[i * N + j] = wNk[j * K + i];
        float[] x = Dev.random(rnd, M * K, -1, 1);
        float[] bias = Dev.random(rnd, N, -0.5, 0.5);
        float[] resid = Dev.random(rnd, M * N, -2, 2);

        float[] ref = new float[M * N];
        Matmul.matmul(null, ref, 0, x, 0, wKn, bias, M, K, N);
        switch (e) {
            case BIAS -> { }
            case BIAS_RESIDUAL -> {
                float[] r = resid.clone();
                Residual.add(r, 0, ref, 0, M * N);
                ref = r;
            }
            default -> Activations.apply(activation(e), ref, 0, M * N);
        }
        double[] tol = new double[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = Math.abs(bias[n]);
                for (int k = 0; k < K; k++) s += Math.abs((double) x[m * K + k] * wKn[k * N + n]);
                if (e == Epilogue.BIAS_RESIDUAL) s += Math.abs(resid[m * N + n]);
                tol[m * N + n] = 1.2 * 2 * (K + 7) * 0x1p-24 * s + 1e-6 * Math.abs(ref[m * N + n]) + 1e-7;
            }

        var dx = dev.floats("x", x, DType.F32);
        var dw = dev.new Buf("w", blocks.length, 1, MemorySegment.ofArray(blocks));
        var db = dev.floats("bias", bias, DType.F32);
        var out = e == Epilogue.BIAS_RESIDUAL ? dev.floats("resid", resid, DType.F32) : dev.poisoned("out", M * N, 4);
        String name = CudaQuantGemv.kernel(f, e);
        CudaQuantGemv.gemv(dev.kernels, dev.stream, f, e, dx.view, dw.view, db.view, out.view, M, K, N);
        dev.checkGuards(name);
        float[] got = out.floats(DType.F32);
        int worst = -1;
        double worstRatio = 1;
        for (int i = 0; i < ref.length; i++) {
            double err = Math.abs((double) got[i] - ref[i]);
            if (Float.isNaN(got[i]) || err > tol[i] * worstRatio) {
                worst = i;
                worstRatio = Float.isNaN(got[i]) ? Double.POSITIVE_INFINITY : err / tol[i];
            }
        }
        if (worst >= 0)
            fail(String.format("%s M=%d K=%d N=%d seed=%d: element %d got %s want %s (tolerance %.3g, %.1fx) [%s]",
                    name, M, K, N, seed, worst, got[worst], ref[worst], tol[worst], worstRatio, Dev.where()));
    }

    static Activation activation(Epilogue e) {
        return switch (e) {
            case BIAS_GELU_TANH -> Activation.GELU_NEW;
            case BIAS_GELU_ERF -> Activation.GELU;
            case BIAS_RELU -> Activation.RELU;
            default -> throw new IllegalArgumentException(e.name());
        };
    }

    /** Row b of a batch of 8 has the same bits as the same row alone or in a batch of 3. */
    @Test
    void batchInvariant() {
        for (GgmlBlocks.Layout f : LAYOUTS) {
            int K = 512, N = 41;
            SplittableRandom rnd = new SplittableRandom(99 + f.ordinal());
            byte[] blocks = randomBlocks(rnd, f, K, N);
            float[] x = Dev.random(rnd, 8 * K, -1, 1), bias = Dev.random(rnd, N, -0.5, 0.5);
            float[] eight = run(f, blocks, x, bias, 8, K, N);
            float[] three = run(f, blocks, Arrays.copyOf(x, 3 * K), bias, 3, K, N);
            Num.assertSame(f + " rows 0-2 in batches of 8 and 3", Arrays.copyOf(eight, 3 * N), three);
            float[] one = run(f, blocks, Arrays.copyOfRange(x, 7 * K, 8 * K), bias, 1, K, N);
            Num.assertSame(f + " row 7 alone and in a batch of 8", Arrays.copyOfRange(eight, 7 * N, 8 * N), one);
        }
    }

    private static float[] run(GgmlBlocks.Layout f, byte[] blocks, float[] x, float[] bias, int M, int K, int N) {
        var dx = dev.floats("x", x, DType.F32);
        var dw = dev.new Buf("w", blocks.length, 1, MemorySegment.ofArray(blocks));
        var db = dev.floats("bias", bias, DType.F32);
        var out = dev.poisoned("out", M * N, 4);
        CudaQuantGemv.gemv(dev.kernels, dev.stream, f, Epilogue.BIAS, dx.view, dw.view, db.view, out.view, M, K, N);
        return out.floats(DType.F32);
    }

    @Test
    void refusesBadShapes() {
        var buf = dev.poisoned("any", 1 << 16, 4);
        assertThrows(IllegalArgumentException.class, () -> CudaQuantGemv.gemv(dev.kernels, dev.stream, GgmlBlocks.Layout.Q4_K,
                Epilogue.BIAS, buf.view, buf.view, null, buf.view, 9, 256, 4));
        assertThrows(IllegalArgumentException.class, () -> CudaQuantGemv.gemv(dev.kernels, dev.stream, GgmlBlocks.Layout.Q4_K,
                Epilogue.BIAS, buf.view, buf.view, null, buf.view, 1, 128, 4));
        assertThrows(IllegalArgumentException.class, () -> CudaQuantGemv.gemv(dev.kernels, dev.stream, GgmlBlocks.Layout.Q8_0,
                Epilogue.BIAS, buf.view, dev.poisoned("small", 33, 1).view, null, buf.view, 1, 32, 1));
    }
}
