package dev.kvdecode.runtime.cuda;

import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.RandomWeights;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.sample.Sampler;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Continuous batching on the CUDA session (host loop: prefillSlot, stepSlots) on the emulator,
 * against the CPU backend: sequences admitted into and retired from a running batch at different
 * steps, with gaps between active slots (several decode launches per step), produce the greedy
 * tokens the CPU produces for each sequence decoded alone.
 */
class CudaSessionSlotsTest {
    static CudaBackend gpu;

    @BeforeAll
    static void open() { gpu = Emu.open(Emu.options(true)); }

    @AfterAll
    static void close() { if (gpu != null) gpu.close(); }

    @Test
    void slotsMatchCpuAlone() {
        Model m = RandomWeights.model(CudaSessionTest.gpt2Untied(), 120);
        int V = m.config().vocabSize(), ctx = 32, slots = 3;
        int[][] prompts = CudaSessionTest.prompts(121, V, 5, 1, 9, 3, 7, 2);
        int[] admit = {0, 0, 2, 3, 3, 6};
        int[] want = {10, 4, 12, 6, 9, 8};
        int jobs = prompts.length;
        int[][] got = new int[jobs][];
        for (int j = 0; j < jobs; j++) got[j] = new int[0];
        int[] slotJob = new int[slots];
        Arrays.fill(slotJob, -1);
        int next = 0, done = 0;
        try (CudaSession g = gpu.open(m, new SessionOptions(slots, ctx, OverflowPolicy.STOP, true))) {
            for (int step = 0; done < jobs; step++) {
                for (int s = 0; s < slots && next < jobs && admit[next] <= step; s++) {
                    if (slotJob[s] >= 0) continue;
                    float[] lg = g.prefillSlot(s, prompts[next]);
                    slotJob[s] = next++;
                    done += take(lg, s, slotJob, got, want, V);
                }
                int[] act = new int[slots], tok = new int[slots];
                int n = 0;
                for (int s = 0; s < slots; s++)
                    if (slotJob[s] >= 0) { act[n] = s; tok[n++] = got[slotJob[s]][got[slotJob[s]].length - 1]; }
                if (n == 0) continue;
                float[] lg = g.stepSlots(act, tok, n);
                for (int r = 0; r < n; r++) done += take(lg, act[r], slotJob, got, want, V);
            }
        }
        for (int j = 0; j < jobs; j++) {
            int[] ref = CudaSessionTest.cpuGreedy(m, new SessionOptions(1, ctx, OverflowPolicy.STOP, true),
                    new int[][] {prompts[j]}, want[j]).tokens()[0];
            assertArrayEquals(ref, got[j], "job " + j + ": greedy tokens differ from the CPU's run alone");
        }
    }

    private static int take(float[] lg, int s, int[] slotJob, int[][] got, int[] want, int V) {
        int j = slotJob[s];
        got[j] = Arrays.copyOf(got[j], got[j].length + 1);
        got[j][got[j].length - 1] = Sampler.argmax(lg, s * V, V);
        if (got[j].length == want[j]) {
            slotJob[s] = -1;
            return 1;
        }
        return 0;
    }
}
