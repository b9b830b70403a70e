package dev.kvdecode.runtime.cuda;

import dev.kvdecode.kernels.cuda.DType;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.RandomWeights;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Batch invariance (issue 17): sequence b's logits are the same bits whether it is decoded in a
 * batch of 1, 3 or 8 (same device, same dtype), through the window's overflow, in graph replay.
 * Every decode kernel computes a row independently of the others and in an order that does not
 * depend on the batch size (the GEMVs of native/gemv.cu replace cuBLAS for up to 8 rows).
 */
class CudaBatchInvarianceTest {
    static CudaBackend gpu;

    @BeforeAll static void open() { gpu = Emu.open(Emu.options(true)); }

    @AfterAll static void close() { if (gpu != null) gpu.close(); }

    @Test
    void logitsOfASequenceDoNotDependOnItsBatch() {
        Model m = RandomWeights.model(CudaSessionTest.gpt2Odd(), 131);
        int V = m.config().vocabSize();
        int[][] prompts = CudaSessionTest.prompts(132, V, 4, 7, 2, 5, 9, 3, 6, 1);
        int steps = 14;  // a 10-token window overflows (SHIFT) within the run
        int[][] feed = new int[steps][8];
        SplittableRandom rnd = new SplittableRandom(133);
        for (int[] f : feed) for (int b = 0; b < 8; b++) f[b] = rnd.nextInt(V);
        for (DType dt : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            float[][][] byBatch = new float[3][][];
            int[] sizes = {1, 3, 8};
            for (int i = 0; i < sizes.length; i++) {
                int B = sizes[i];
                SessionOptions so = new SessionOptions(B, 10, OverflowPolicy.SHIFT, true);
                float[][] seq0to2 = new float[steps + 1][];
                try (CudaSession s = gpu.open(m, so, Emu.options(true).withDtype(dt))) {
                    float[] lg = s.prefill(Arrays.copyOf(prompts, B));
                    seq0to2[0] = Arrays.copyOf(lg, Math.min(B, 3) * V);
                    for (int t = 0; t < steps; t++) {
                        lg = s.step(Arrays.copyOf(feed[t], B));
                        seq0to2[t + 1] = Arrays.copyOf(lg, Math.min(B, 3) * V);
                    }
                }
                byBatch[i] = seq0to2;
            }
            for (int t = 0; t <= steps; t++)
                for (int b = 0; b < 3; b++)
                    for (int i = 0; i < sizes.length; i++) {
                        if (b >= sizes[i]) continue;
                        float[] want = Arrays.copyOfRange(byBatch[2][t], b * V, (b + 1) * V);  // in the batch of 8
                        float[] got = Arrays.copyOfRange(byBatch[i][t], b * V, (b + 1) * V);
                        for (int v = 0; v < V; v++)
                            if (Float.floatToIntBits(want[v]) != Float.floatToIntBits(got[v]))
                                fail(dt + " step " + t + ": sequence " + b + " in a batch of " + sizes[i] + " differs from the batch of 8 at logit "
                                        + v + " (" + got[v] + " vs " + want[v] + ")");
                    }
            assertEquals(steps + 1, byBatch[0].length);
        }
    }
}
