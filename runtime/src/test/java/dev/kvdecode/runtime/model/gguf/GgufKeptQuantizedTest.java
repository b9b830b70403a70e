package dev.kvdecode.runtime.model.gguf;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.F32Matrix;
import dev.kvdecode.kernels.Matmul;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.MatmulWeights;
import dev.kvdecode.runtime.cpu.PackedF32Weights;
import dev.kvdecode.runtime.cpu.CpuBackend;
import dev.kvdecode.runtime.cpu.CpuSession;
import dev.kvdecode.runtime.cpu.CpuWeightFormat;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.FixtureLogits;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.model.StoredWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A GGUF model with quantized tensors runs on the CPU with them kept quantized (issue 20): no fp32
 * copy of its matrices, about the file's bytes, and logits within 1e-5 relative of the float64
 * numpy forward on the gguf package's dequantization (fixtures/gguf-tiny, the bound of
 * GgufFixtureTest). Q4_0, Q4_K and Q6_K run kernels that give, bit for bit, the fp32 matmul over
 * the dequantized weights (GgmlMatmul), so a file of only those types gives exactly the logits of
 * its dequantized fp32 model; Q8_0 runs the int8 kernel (per-block sums, then the scale: fp32
 * rounding of a different order, a few ulps per matmul), which the 1e-5 bound covers with room.
 */
class GgufKeptQuantizedTest {
    static final CpuBackend CPU = new CpuBackend(2, CpuWeightFormat.FP32);
    static final Path DIR = FixtureLogits.dir("gguf-tiny");

    @AfterAll
    static void close() { CPU.close(); }

    /** Logits of every prompt position (T, V), prefill of one token then steps. */
    static float[] logits(java.util.function.Function<SessionOptions, CpuSession> open, int[] prompt, int V) {
        float[] out = new float[prompt.length * V];
        try (CpuSession s = open.apply(new SessionOptions(1, prompt.length, OverflowPolicy.STOP, true))) {
            float[] got = s.prefill(new int[][] {{prompt[0]}});
            for (int t = 0; t < prompt.length; t++) {
                if (t > 0) got = s.step(new int[] {prompt[t]});
                System.arraycopy(got, 0, out, t * V, V);
            }
        }
        return out;
    }

    /** The fp32 weights of {@code w} with the LM head transposed to (C, V) and run by the panel matmul. */
    static MatmulWeights headAsMatmul(Gpt2Weights w) {
        int C = w.config().nEmbd(), V = w.config().vocabSize();
        float[] t = new float[C * V];
        for (int v = 0; v < V; v++) for (int i = 0; i < C; i++) t[i * V + v] = w.lmHead()[v * C + i];
        F32Matrix headT = F32Matrix.of(t, C, V);
        PackedF32Weights layers = PackedF32Weights.of(w);
        return new MatmulWeights() {
            @Override
            public void linear(CpuThreads pool, int layer, int k, float[] y, float[] x, float[] b, int rows) {
                layers.linear(pool, layer, k, y, x, b, rows);
            }

            @Override
            public void head(CpuThreads pool, float[] logits, int logitsOff, float[] xn, float[] bias, int rows) {
                Matmul.matmul(pool, logits, logitsOff, xn, 0, headT, bias, rows);
            }

            @Override
            public CpuWeightFormat format() { return CpuWeightFormat.FP32; }
        };
    }

    @ParameterizedTest
    @CsvSource({"q8_0, Q8_0, false", "q4_0, Q4_0, true", "q4_k, Q4_K Q8_0, false", "q6_k, Q4_0 Q6_K, true"})
    void keptQuantizedLogitsMatchTheDequantizedReference(String type, String formats, boolean bitExact) throws Exception {
        // the experimental factored Q4_K kernel (-Dkvdecode.ggml.factored=true) are within an fp32 bound, not exact
        bitExact &= !(Matmul.ggmlFactored() && formats.contains("Q4_K"));
        Path file = DIR.resolve("model-" + type + ".gguf");
        Model m = ModelLoader.load(file);
        StoredWeights st = m.stored();
        assertNotNull(st, type + " is kept quantized");
        assertEquals(new TreeSet<>(Set.of(formats.split(" "))), st.formats());
        assertNull(m.weights().layers().get(0).fcProjWeight(), "no fp32 copy of the matrices");
        assertNull(m.weights().wte(), "the quantized token_embd is not widened");
        assertSame(st.head(), st.tokenEmbedding(), "tied head: one matrix");

        // memory: the kept matrices take about the file's bytes of those tensors
        long fileBytes = 0;
        try (GgufFile f = GgufFile.open(file)) {
            for (GgufFile.Tensor t : f.tensors().values()) if (t.dims().length == 2 && !t.name().equals("position_embd.weight")) fileBytes += t.sizeBytes();
        }
        double ratio = (double) st.bytes() / fileBytes;
        assertTrue(ratio >= 1.0 && ratio < 1.2, type + ": kept " + st.bytes() + " bytes for the file's " + fileBytes);

        FixtureLogits fx = FixtureLogits.read(DIR);
        float[][] ref = new float[1][];
        int[] shape = FixtureLogits.readNpyF32(DIR.resolve("logits-" + type + ".npy"), ref);
        int V = shape[1];
        float[] got = logits(o -> CPU.open(m, o), fx.promptIds(), V);
        for (int t = 0; t < shape[0]; t++) {
            double e = GgufFixtureTest.relErr(got, ref[0], t * V, V);
            assertTrue(e <= GgufFixtureTest.BOUND, type + " position " + t + ": rel err " + e);
        }
        // the fp32 reference model: every weight dequantized (ModelLoader.loadWeights), its head
        // run as the (C, V) fp32 matmul the kept head runs as (the fp32 backend's own head sums by
        // dot products, another order: within a few ulps)
        Gpt2Weights deq = ModelLoader.loadWeights(file);
        float[] want = logits(o -> new CpuSession(deq, o, dev.kvdecode.kernels.CpuThreads.common(), headAsMatmul(deq)),
                fx.promptIds(), V);
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            if (bitExact) assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), type + ": logit " + i);
            worst = Math.max(worst, Math.abs((double) got[i] - want[i]));
        }
        System.out.printf("gguf %s kept quantized: max |logit - dequantized fp32 model's| = %.3g%n", type, worst);
        // and Model.fp32Weights gives that reference's bits (what CUDA and --dtype start from)
        Gpt2Weights back = m.fp32Weights();
        float[] again = logits(o -> new CpuSession(back, o, dev.kvdecode.kernels.CpuThreads.common(), headAsMatmul(back)),
                fx.promptIds(), V);
        for (int i = 0; i < want.length; i++)
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(again[i]), type + ": fp32Weights logit " + i);
    }
}
