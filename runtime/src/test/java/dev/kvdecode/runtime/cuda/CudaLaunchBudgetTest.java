package dev.kvdecode.runtime.cuda;

import dev.kvdecode.kernels.cuda.CudaKernels;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.RandomWeights;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Launches per cached decode step, counted by the Java launchers (the same count on a real
 * driver): embed + 6 per layer (gemv_ln_qkv_append: LayerNorm_1, qkv, bias and the K/V append into
 * the cache; decode_attention_chunk, reduce, gemv proj + residual, gemv_ln fc + act, gemv fc proj
 * + residual) + the LM head's gemv_ln_bias_argmax, counters_advance, sample_argmax_partials:
 * 6 L + 4, issue 17's budget (GPT-2 76, char-1024 28; 125 and ~45 before the issue, 7 L + 4 before
 * the fused append).
 */
class CudaLaunchBudgetTest {
    static CudaBackend gpu;

    @BeforeAll static void open() { gpu = Emu.open(Emu.options(true)); }

    @AfterAll static void close() { if (gpu != null) gpu.close(); }

    static List<CudaKernels.Launch> step(ModelConfig cfg, int batch) {
        Model m = RandomWeights.model(cfg, 141);
        try (CudaSession s = gpu.open(m, new SessionOptions(batch, 12, OverflowPolicy.SHIFT, true), Emu.options(true))) {
            int[][] prompts = CudaSessionTest.prompts(142, cfg.vocabSize(), batch == 1 ? new int[] {3} : new int[] {3, 5, 2});
            s.prefill(prompts);
            return s.recordStep(new int[batch]);
        }
    }

    @Test
    void cachedDecodeStepTakesSixLaunchesPerLayerPlusFour() {
        for (ModelConfig cfg : new ModelConfig[] {CudaSessionTest.gpt2Odd(), CudaSessionTest.charOdd()}) {
            for (int batch : new int[] {1, 3}) {
                List<CudaKernels.Launch> launches = step(cfg, batch);
                int L = cfg.nLayer();
                assertEquals(6 * L + 4, launches.size(), cfg + " batch " + batch + ": " + launches);
                assertTrue(launches.stream().noneMatch(l -> l.kernel().startsWith("cublas")), "no cuBLAS in a decode step of <= 8 rows");
                assertTrue(launches.stream().noneMatch(l -> l.kernel().startsWith("kv_append")), "the K/V append is in the qkv GEMV");
                assertEquals(L, launches.stream().filter(l -> l.kernel().startsWith("gemv_ln_qkv_append_")).count(), "fused qkv");
                assertEquals(4 * L + 1, launches.stream().filter(l -> l.kernel().startsWith("gemv_")).count(), "GEMVs");
                assertTrue(launches.stream().filter(l -> l.kernel().startsWith("gemv_")).allMatch(l -> l.bytes() > 0), "GEMV bytes");
                assertTrue(launches.get(launches.size() - 3).kernel().startsWith("gemv_ln_bias_argmax_"), "LM head with argmax partials");
                assertEquals("sample_argmax_partials", launches.get(launches.size() - 1).kernel());
            }
        }
    }

    /**
     * The two named budgets at their layer counts (narrow widths: the count depends on L
     * only): GPT-2 124M's 12 layers, 76 launches; the char-1024 model's 4 layers, 28.
     */
    @Test
    void gpt2TakesSeventySixAndTheCharModelTwentyEight() {
        assertEquals(76, step(ModelConfig.gpt2(12, 2, 16, 16, 50), 1).size(), "GPT-2 (12 layers)");
        assertEquals(28, step(ModelConfig.charGpt(4, 2, 16, 16, 20), 1).size(), "char-1024 (4 layers)");
    }

    /**
     * Every kernel of the step waits for its predecessor itself (native kvd_pdl_wait), so the whole
     * step goes out as programmatic dependent launches where they are on: on the emulator (which
     * faults a block that touches memory before its wait) and on compute capability 9.0+.
     */
    @Test
    void everyStepKernelIsAProgrammaticDependentLaunch() {
        ModelConfig cfg = CudaSessionTest.gpt2Odd();
        Model m = RandomWeights.model(cfg, 143);
        try (CudaSession s = gpu.open(m, new SessionOptions(3, 12, OverflowPolicy.SHIFT, true), Emu.options(true))) {
            if (!Emu.realGpu()) assertTrue(s.programmaticLaunch(), "PDL on the emulator");
            s.prefill(CudaSessionTest.prompts(144, cfg.vocabSize(), 3, 5, 2));
            long before = programmaticRuns();
            List<CudaKernels.Launch> launches = s.recordStep(new int[3]);
            for (CudaKernels.Launch l : launches)
                assertTrue(CudaKernels.waitsForPredecessor(l.kernel()), l.kernel() + " does not wait for its predecessor");
            if (Emu.realGpu()) return;
            // The emulator counts the kernels that ran as programmatic launches: the whole step,
            // eagerly, then in a warm-up step, a captured graph's first replay and a second replay.
            assertEquals(launches.size(), programmaticRuns() - before, "programmatic launches in one eager step");
            before = programmaticRuns();
            for (int i = 0; i < 3; i++) s.step(new int[3]);
            assertEquals(3L * launches.size(), programmaticRuns() - before, "programmatic launches in 3 steps (eager, capture + replay, replay)");
        }
        try (CudaSession s = gpu.open(m, new SessionOptions(1, 12, OverflowPolicy.SHIFT, true),
                Emu.options(true).withPdl(CudaOptions.Pdl.OFF))) {
            assertFalse(s.programmaticLaunch(), "Pdl.OFF");
        }
    }

    /** {@code unsigned long long kvdEmuProgrammaticLaunches(void)}, exported by the emulator only. */
    static long programmaticRuns() {
        var emu = dev.kvdecode.bindings.NativeLibraries.loadEmulator(CudaKernels.class.getClassLoader());
        var fn = emu.driver().find("kvdEmuProgrammaticLaunches")
                .orElseThrow(() -> new AssertionError("the emulator library exports no kvdEmuProgrammaticLaunches"));
        var h = java.lang.foreign.Linker.nativeLinker().downcallHandle(fn,
                java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_LONG));
        try {
            return (long) h.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError("kvdEmuProgrammaticLaunches failed", t);
        }
    }
}
