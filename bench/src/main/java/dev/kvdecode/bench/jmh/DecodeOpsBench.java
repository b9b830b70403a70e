package dev.kvdecode.bench.jmh;

import dev.kvdecode.kernels.Activation;
import dev.kvdecode.kernels.Activations;
import dev.kvdecode.kernels.Attention;
import dev.kvdecode.kernels.F32Matrix;
import dev.kvdecode.kernels.HalfMatrix;
import dev.kvdecode.kernels.KvCache;
import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.HalfFormat;
import dev.kvdecode.kernels.LayerNorm;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.kernels.Q8Matrix;
import org.openjdk.jmh.annotations.*;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The per-op split of one batch-1 GPT-2 (124M) decode step on the CPU: each benchmark is one op
 * of one layer, and successive calls walk the layers' own weights (as a step does), so the
 * matmuls stream from wherever a step finds them (memory for gpt2). A step costs about
 * L x (qkv + attnProj + fc + fcProj + attention + rest) + lmHead. {@code shape}: gpt2 (124M: 12
 * layers, 768 wide, 12 heads, 50,257 symbols) or char-1024 (the tutorial's model: 4 layers, 256
 * wide, 4 heads, 65 symbols; its ReLU is timed as GELU); {@code dtype} the matmul weights' format
 * (fp32 packed in panels as the backend keeps it, fp32-flat the checkpoint's (in, out) order for
 * comparison, or a packed 16-bit or int8 copy widened as read); {@code kv} the KV cache's (fp32 row layout or the bf16
 * blocked layout of --kv-dtype bf16); {@code threads} the pool size.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g"})
public class DecodeOpsBench {
    @Param({"gpt2"})
    String shape;

    @Param({"fp32", "fp32-flat", "fp16", "bf16", "int8"})
    String dtype;

    @Param({"fp32"})
    String kv;

    int L, C, NH, HS, V;

    @Param({"1"})
    int threads;

    /** Cached entries attended over. */
    @Param({"512"})
    int context;

    CpuThreads pool;
    float[][] qkvW, projW, fcW, fcProjW;
    float[] head, bias3C, biasC, bias4C, gamma, beta;
    Q8Matrix[] qkvQ, projQ, fcQ, fcProjQ;
    Q8Matrix headQ;
    HalfMatrix[] qkvB, projB, fcB, fcProjB;
    HalfMatrix headB;
    F32Matrix[] qkvF, projF, fcF, fcProjF;
    float[] x, xn, qkv, att, fc, y, logits, scores;
    float[][] kCache, vCache;   // the CPU cache's row layout (kernels.KvCache), kv=fp32
    int[] kCache16, vCache16;   // the bf16 layout, kv=bf16
    int layer;

    @Setup
    public void setup() {
        switch (shape) {
            case "gpt2" -> { L = 12; C = 768; NH = 12; V = 50257; }
            case "char-1024" -> { L = 4; C = 256; NH = 4; V = 65; }
            default -> throw new IllegalArgumentException("shape must be gpt2 or char-1024, got " + shape);
        }
        HS = C / NH;
        pool = new CpuThreads(threads);
        // fp16, bf16 and int8: packed panels (PackedHalfWeights, Q8Weights), as CpuSession runs them
        HalfFormat half = switch (dtype) { case "fp16" -> HalfFormat.FP16; case "bf16" -> HalfFormat.BF16; default -> null; };
        boolean half16 = half != null;
        SplittableRandom rnd = new SplittableRandom(1);
        qkvW = new float[L][]; projW = new float[L][]; fcW = new float[L][]; fcProjW = new float[L][];
        boolean int8 = dtype.equals("int8"), fp32 = dtype.equals("fp32");
        if (!fp32 && !int8 && !half16 && !dtype.equals("fp32-flat"))
            throw new IllegalArgumentException("dtype must be fp32, fp32-flat, fp16, bf16 or int8, got " + dtype);
        qkvF = new F32Matrix[L]; projF = new F32Matrix[L]; fcF = new F32Matrix[L]; fcProjF = new F32Matrix[L];
        qkvQ = new Q8Matrix[L]; projQ = new Q8Matrix[L]; fcQ = new Q8Matrix[L]; fcProjQ = new Q8Matrix[L];
        qkvB = new HalfMatrix[L]; projB = new HalfMatrix[L]; fcB = new HalfMatrix[L]; fcProjB = new HalfMatrix[L];
        for (int l = 0; l < L; l++) {
            qkvW[l] = random(rnd, C * 3 * C); projW[l] = random(rnd, C * C);
            fcW[l] = random(rnd, C * 4 * C); fcProjW[l] = random(rnd, 4 * C * C);
            if (half16) {
                qkvB[l] = HalfMatrix.of(qkvW[l], C, 3 * C, half); projB[l] = HalfMatrix.of(projW[l], C, C, half);
                fcB[l] = HalfMatrix.of(fcW[l], C, 4 * C, half); fcProjB[l] = HalfMatrix.of(fcProjW[l], 4 * C, C, half);
                qkvW[l] = projW[l] = fcW[l] = fcProjW[l] = null;
            } else if (fp32) {   // the panels PackedF32Weights keeps
                qkvF[l] = F32Matrix.of(qkvW[l], C, 3 * C); projF[l] = F32Matrix.of(projW[l], C, C);
                fcF[l] = F32Matrix.of(fcW[l], C, 4 * C); fcProjF[l] = F32Matrix.of(fcProjW[l], 4 * C, C);
                qkvW[l] = projW[l] = fcW[l] = fcProjW[l] = null;
            } else if (int8) {
                qkvQ[l] = Q8Matrix.quantize(qkvW[l], C, 3 * C); projQ[l] = Q8Matrix.quantize(projW[l], C, C);
                fcQ[l] = Q8Matrix.quantize(fcW[l], C, 4 * C); fcProjQ[l] = Q8Matrix.quantize(fcProjW[l], 4 * C, C);
                qkvW[l] = projW[l] = fcW[l] = fcProjW[l] = null;
            }
        }
        head = random(rnd, V * C);
        if (int8 || half16) {   // 16-bit, int8: stored transposed (C, V) and run through the matmul, as CpuSession does
            float[] t = new float[V * C];
            for (int v = 0; v < V; v++) for (int c = 0; c < C; c++) t[c * V + v] = head[v * C + c];
            if (int8) headQ = Q8Matrix.quantize(t, C, V);
            else headB = HalfMatrix.of(t, C, V, half);
            head = null;
        }
        bias3C = random(rnd, 3 * C); biasC = random(rnd, C); bias4C = random(rnd, 4 * C);
        gamma = random(rnd, C); beta = random(rnd, C);
        x = random(rnd, C); xn = random(rnd, C); qkv = random(rnd, 3 * C); att = random(rnd, C);
        fc = random(rnd, 4 * C); y = new float[4 * C]; logits = new float[V]; scores = new float[NH * context];
        if (kv.equals("bf16")) {
            kCache16 = KvCache.newKeys16(1, NH, HS, context); vCache16 = KvCache.newValues16(1, NH, HS, context);
            for (int slot = 0; slot < context; slot++)
                KvCache.kvAppend16(kCache16, vCache16, 0, slot, random(rnd, C), 0, random(rnd, C), 0, NH, HS, context);
        } else {
            kCache = KvCache.newKeys(1, NH, HS, context); vCache = KvCache.newValues(1, NH, HS, context);
            for (float[] row : kCache) System.arraycopy(random(rnd, context), 0, row, 0, context);
            for (float[] row : vCache) System.arraycopy(random(rnd, HS), 0, row, 0, HS);
        }
    }

    @TearDown
    public void tearDown() { pool.close(); }

    private static float[] random(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextDouble() - 0.5) * 0.1f;
        return a;
    }

    private int nextLayer() { return layer = layer + 1 == L ? 0 : layer + 1; }

    private void linear(float[][] w32, F32Matrix[] wf, Q8Matrix[] wq, HalfMatrix[] wb, float[] in, float[] b, int nIn, int nOut) {
        int l = nextLayer();
        if (wf[l] != null) Matmul.matmul(pool, y, 0, in, 0, wf[l], b, 1);
        else if (wq[l] != null) Matmul.matmul(pool, y, 0, in, 0, wq[l], b, 1);
        else if (wb[l] != null) Matmul.matmul(pool, y, 0, in, 0, wb[l], b, 1);
        else Matmul.matmul(pool, y, 0, in, 0, w32[l], b, 1, nIn, nOut);
    }

    @Benchmark
    public float[] qkv() { linear(qkvW, qkvF, qkvQ, qkvB, xn, bias3C, C, 3 * C); return y; }

    @Benchmark
    public float[] attnProj() { linear(projW, projF, projQ, projB, att, biasC, C, C); return y; }

    @Benchmark
    public float[] fc() { linear(fcW, fcF, fcQ, fcB, xn, bias4C, C, 4 * C); return y; }

    @Benchmark
    public float[] fcProj() { linear(fcProjW, fcProjF, fcProjQ, fcProjB, fc, biasC, 4 * C, C); return y; }

    @Benchmark
    public float[] lmHead() {
        if (headQ != null) Matmul.matmul(pool, logits, 0, xn, 0, headQ, null, 1);
        else if (headB != null) Matmul.matmul(pool, logits, 0, xn, 0, headB, null, 1);
        else Matmul.lmHead(pool, logits, 0, xn, 0, head, null, 1, C, V);
        return logits;
    }

    /** Single-query attention of one layer over {@code context} cached entries, all heads. */
    @Benchmark
    public float[] attention() {
        if (kCache16 != null)
            Attention.decodeAttention(pool, att, 0, qkv, 0, kCache16, vCache16, 0, 0, context, context, NH, HS, scores);
        else
            Attention.decodeAttention(pool, att, 0, qkv, 0, kCache, vCache, 0, 0, context, context, NH, HS, scores);
        return att;
    }

    /** The rest of one layer: two LayerNorms, GELU over 4C, two residual adds (here: one pass each). */
    @Benchmark
    public float[] rest() {
        LayerNorm.layerNorm(xn, 0, x, 0, gamma, beta, 1, C, 1e-5f);
        LayerNorm.layerNorm(xn, 0, x, 0, gamma, beta, 1, C, 1e-5f);
        System.arraycopy(fc, 0, y, 0, 4 * C);
        Activations.apply(pool, Activation.GELU_NEW, y, 0, 4 * C);
        return y;
    }
}
