package dev.kvdecode.runtime.cuda;

import dev.kvdecode.kernels.cuda.DType;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.RandomWeights;
import dev.kvdecode.runtime.engine.GenerationOptions;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.engine.SlotDecoder;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.sample.SamplingParams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The device slot loop (CudaSession.slotDecoder: sampling on the device, only ids to the host)
 * on the emulator: sequences admitted into a running batch at different steps, with gaps between
 * active slots, runs longer than the GEMV's 8 rows, and chunked prefill interleaved with decode
 * steps, give each sequence the greedy tokens the CPU gives it alone; seeded sampling gives the
 * tokens of the CLI's device loop for a batch of one, whatever else runs; graphs change nothing.
 */
class CudaSlotDecoderTest {
    static CudaBackend gpu;

    @BeforeAll
    static void open() { gpu = Emu.open(Emu.options(true)); }

    @AfterAll
    static void close() { if (gpu != null) gpu.close(); }

    static CudaOptions options(boolean graphs) { return new CudaOptions(DType.F32, graphs, 16, 3, 0); }

    /**
     * Runs a schedule as kvdecode serve's scheduler does: at each step boundary admit the jobs
     * whose time has come into free slots, feed at most {@code chunk} prompt tokens in all to the
     * slots still prefilling (0 = whole prompts at admission), then step every slot that decodes.
     */
    static int[][] schedule(SlotDecoder d, int slots, int[][] prompts, int[] admit, int[] want, SamplingParams[] sampling, int chunk) {
        int jobs = prompts.length;
        int[][] got = new int[jobs][0];
        int[] slotJob = new int[slots], fed = new int[jobs];
        Arrays.fill(slotJob, -1);
        int next = 0, done = 0;
        for (int step = 0; done < jobs; step++) {
            for (int s = 0; s < slots && next < jobs && admit[next] <= step; s++) {
                if (slotJob[s] >= 0) continue;
                int j = next++;
                d.start(s, sampling[j]);
                slotJob[s] = j;
                if (chunk == 0) {
                    fed[j] = prompts[j].length;
                    done += take(d.prefill(s, prompts[j], 0, prompts[j].length), s, slotJob, got, want);
                }
            }
            if (chunk > 0) {
                int budget = chunk;
                for (int s = 0; s < slots && budget > 0; s++) {
                    int j = slotJob[s];
                    if (j < 0 || fed[j] == prompts[j].length) continue;
                    int n = Math.min(budget, prompts[j].length - fed[j]);
                    int tok = d.prefill(s, prompts[j], fed[j], fed[j] + n);
                    fed[j] += n;
                    budget -= n;
                    if (fed[j] == prompts[j].length) done += take(tok, s, slotJob, got, want);
                    else assertEquals(-1, tok, "a partial prefill samples nothing");
                }
            }
            int[] act = new int[slots], ids = new int[slots];
            int n = 0;
            for (int s = 0; s < slots; s++)
                if (slotJob[s] >= 0 && fed[slotJob[s]] == prompts[slotJob[s]].length) act[n++] = s;
            if (n == 0) continue;
            d.step(act, n, ids);
            for (int r = 0; r < n; r++) done += take(ids[r], act[r], slotJob, got, want);
        }
        return got;
    }

    private static int take(int token, int s, int[] slotJob, int[][] got, int[] want) {
        int j = slotJob[s];
        got[j] = Arrays.copyOf(got[j], got[j].length + 1);
        got[j][got[j].length - 1] = token;
        if (got[j].length == want[j]) {
            slotJob[s] = -1;
            return 1;
        }
        return 0;
    }

    static void greedyMatchesCpuAlone(int slots, boolean graphs, int chunk) {
        Model m = RandomWeights.model(CudaSessionTest.gpt2Untied(), 130);
        int V = m.config().vocabSize(), ctx = 32;
        int[][] prompts = CudaSessionTest.prompts(131, V, 5, 1, 9, 3, 7, 2, 12, 4, 6, 1, 8, 3);
        int[] admit = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3};
        int[] want = {6, 4, 7, 6, 5, 8, 3, 6, 5, 4, 6, 5};
        SamplingParams[] greedy = new SamplingParams[prompts.length];
        Arrays.fill(greedy, SamplingParams.greedyDecoding());
        int[][] got;
        try (CudaSession g = gpu.open(m, new SessionOptions(slots, ctx, OverflowPolicy.STOP, true), options(graphs))) {
            got = schedule(g.slotDecoder(slots), slots, prompts, admit, want, greedy, chunk);
            if (graphs) assertTrue(g.slotGraphLaunches() > 0, "test setup: some steps must replay a captured graph");
            else assertEquals(0, g.slotGraphLaunches());
        }
        for (int j = 0; j < prompts.length; j++) {
            int[] ref = CudaSessionTest.cpuGreedy(m, new SessionOptions(1, ctx, OverflowPolicy.STOP, true),
                    new int[][] {prompts[j]}, want[j]).tokens()[0];
            assertArrayEquals(ref, got[j], "slots " + slots + " graphs " + graphs + " chunk " + chunk + " job " + j
                    + ": greedy tokens differ from the CPU's run alone");
        }
    }

    @Test
    void greedyThreeSlotsEager() { greedyMatchesCpuAlone(3, false, 0); }

    /** Ten slots: a run of ten active slots goes through the GEMV as 8 + 2 rows. */
    @Test
    void greedyTenSlotsGraphs() { greedyMatchesCpuAlone(10, true, 0); }

    /** Chunked prefill, 4 tokens per step boundary: later chunks through prefill_attention_past. */
    @Test
    void greedyChunkedPrefill() { greedyMatchesCpuAlone(4, true, 4); }

    /**
     * Seeded sampling: a sequence's tokens equal the CLI device loop's for a batch of one with the
     * same seed, beside other sequences with other parameters, with and without graphs.
     */
    @Test
    void seededSamplingEqualsDeviceLoopAlone() {
        Model m = RandomWeights.model(CudaSessionTest.gpt2Untied(), 140);
        int V = m.config().vocabSize(), ctx = 32, n = 10;
        int[][] prompts = CudaSessionTest.prompts(141, V, 4, 6, 3, 5);
        SamplingParams[] sp = {SamplingParams.of(0.9f, 20, 0.9f, 77), SamplingParams.greedyDecoding(),
                SamplingParams.of(1.2f, 0, 1f, 5), SamplingParams.of(0.9f, 20, 0.9f, 78)};
        int[][] alone = new int[prompts.length][];
        for (int j = 0; j < prompts.length; j++) {
            try (CudaSession one = gpu.open(m, new SessionOptions(1, ctx, OverflowPolicy.STOP, true), options(false))) {
                alone[j] = one.generateOnDevice(new int[][] {prompts[j]}, new GenerationOptions(n, sp[j], -1, true), null).tokens()[0];
            }
        }
        assertFalse(Arrays.equals(alone[0], alone[3]), "test setup: different seeds must draw differently");
        for (boolean graphs : new boolean[] {false, true}) {
            for (int chunk : new int[] {0, 2}) {
                int[] want = new int[prompts.length];
                Arrays.fill(want, n);
                int[][] got;
                try (CudaSession g = gpu.open(m, new SessionOptions(3, ctx, OverflowPolicy.STOP, true), options(graphs))) {
                    got = schedule(g.slotDecoder(3), 3, prompts, new int[] {0, 0, 1, 2}, want, sp, chunk);
                }
                for (int j = 0; j < prompts.length; j++)
                    assertArrayEquals(alone[j], got[j], "graphs " + graphs + " chunk " + chunk + " job " + j
                            + ": sampled tokens differ from generate --batch 1 with the same seed");
            }
        }
    }

    /** prefillSlotChunk: the logits of a prompt fed in chunks are the one-pass logits (fp32 rounding apart). */
    @Test
    void chunkedLogitsCloseToOnePass() {
        Model m = RandomWeights.model(CudaSessionTest.gpt2Untied(), 150);
        int V = m.config().vocabSize(), ctx = 32;
        int[] p = CudaSessionTest.prompts(151, V, 17)[0];
        try (CudaSession g = gpu.open(m, new SessionOptions(2, ctx, OverflowPolicy.STOP, true), options(false))) {
            float[] whole = Arrays.copyOfRange(g.prefillSlot(1, p), V, 2 * V);
            float[] lg = null;
            for (int from = 0; from < p.length; from += 5) lg = g.prefillSlotChunk(1, p, from, Math.min(p.length, from + 5));
            assertEquals(p.length, g.tokensSeen(1));
            float[] chunked = Arrays.copyOfRange(lg, V, 2 * V);
            for (int i = 0; i < V; i++)
                assertEquals(whole[i], chunked[i], 1e-4f * Math.max(1f, Math.abs(whole[i])), "logit " + i);
            assertThrows(IllegalStateException.class, () -> g.prefillSlotChunk(0, p, 3, 5), "a chunk must continue the slot");
        }
    }
}
