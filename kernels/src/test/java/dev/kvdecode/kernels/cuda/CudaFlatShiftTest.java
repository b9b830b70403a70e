package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.Attention;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The flat shift (CudaKvCache.SHIFT_FLAT): kv_append over rows of 2 cap slots, then the decode
 * attention kernels (decode_attention_chunk + reduce, and the older single-block form) over the
 * window, every step for 5 windows' worth of tokens, against the CPU's attention over the last
 * min(t+1, cap) appended K/V rows (what SHIFT keeps). Also the slot formula against a simulation of
 * the buffer. Outputs NaN-poisoned, guards checked, seeds 1-3.
 */
class CudaFlatShiftTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : new DType[] {DType.F32, DType.F16})
            for (int cap : new int[] {1, 3, 7}) b.add(Arguments.of(dt, cap));
        return b.build();
    }

    @ParameterizedTest(name = "{0} cap={1}")
    @MethodSource("cases")
    void windowEqualsTheLastCapTokensEveryStep(DType dt, int cap) {
        int B = 2, NH = 2, HS = 8, C = NH * HS, rs = 2 * cap, chunk = 2;
        int policy = CudaKvCache.SHIFT_FLAT;
        assertEquals(2 * cap, CudaKvCache.rowSlots(cap, policy));
        SplittableRandom rnd = new SplittableRandom(1000L + cap);
        var kc = dev.poisoned("kc", B * NH * rs * HS, dt.sizeBytes());
        var vc = dev.poisoned("vc", B * NH * rs * HS, dt.sizeBytes());
        var q = dev.poisoned("q", B * C, 4);
        var part = dev.poisoned("part", (int) (CudaDecodeAttention.partialBytes(B, NH, HS, cap, chunk) / 4), 4);
        List<float[]> kRows = new ArrayList<>(), vRows = new ArrayList<>();  // per step: (B, C) in dt
        // A simulation of the buffer: which token each slot holds (b = 0, h = 0), to check kvd_flat_slot.
        int[] holds = new int[rs];
        java.util.Arrays.fill(holds, -1);
        for (int t = 0; t < 5 * cap + 3; t++) {
            float[] qkv = Dev.random(rnd, B * 3 * C, -1, 1);
            float[] k = new float[B * C], v = new float[B * C];
            for (int b = 0; b < B; b++)
                for (int c = 0; c < C; c++) {
                    k[b * C + c] = Num.round(dt, qkv[b * 3 * C + C + c]);
                    v[b * C + c] = Num.round(dt, qkv[b * 3 * C + 2 * C + c]);
                }
            kRows.add(k);
            vRows.add(v);
            int slot = CudaKvCache.flatSlot(t, cap);
            if (t >= 2 * cap && slot == cap - 1) System.arraycopy(holds, cap + 1, holds, 0, cap - 1);
            holds[slot] = t;
            int n = Math.min(t + 1, cap);
            for (int j = 0; j < n; j++)
                assertEquals(t - n + 1 + j, holds[slot - n + 1 + j], "flatSlot: slot of window entry " + j + " at t=" + t);

            var dqkv = dev.floats("qkv", qkv, DType.F32);
            var seen = dev.ints("seen", new int[] {t, t});
            CudaKvCache.append(dev.kernels, dev.stream, dt, dqkv.view, null, q.view, kc.view, vc.view, seen.view, B, NH, HS, cap, policy);
            var out = dev.poisoned("out", B * C, dt.sizeBytes());
            var out1 = dev.poisoned("out1", B * C, dt.sizeBytes());
            CudaDecodeAttention.attendChunked(dev.kernels, dev.stream, dt, q.view, kc.view, vc.view, seen.view, part.view, out.view,
                    B, NH, NH, HS, cap, policy, chunk);
            CudaDecodeAttention.attend(dev.kernels, dev.stream, dt, q.view, kc.view, vc.view, seen.view, out1.view, B, NH, HS, cap, policy);
            dev.checkGuards("kv_append + decode attention (flat shift)");

            // CPU: the last n rows as a (B, NH, n, HS) cache in order.
            float[] kw = new float[B * NH * n * HS], vw = new float[B * NH * n * HS];
            for (int b = 0; b < B; b++)
                for (int h = 0; h < NH; h++)
                    for (int j = 0; j < n; j++) {
                        float[] kr = kRows.get(t - n + 1 + j), vr = vRows.get(t - n + 1 + j);
                        System.arraycopy(kr, b * C + h * HS, kw, ((b * NH + h) * n + j) * HS, HS);
                        System.arraycopy(vr, b * C + h * HS, vw, ((b * NH + h) * n + j) * HS, HS);
                    }
            float[] qh = new float[B * C];
            for (int b = 0; b < B; b++) System.arraycopy(qkv, b * 3 * C, qh, b * C, C);
            float[] ref = new float[B * C];
            for (int b = 0; b < B; b++)
                Attention.decodeAttention(null, ref, b * C, qh, b * C, kw, vw, b, 0, n, n, NH, HS, new float[NH * n]);
            String what = dt + " cap=" + cap + " t=" + t + " [" + Dev.where() + "]";
            Num.assertClose("decode_attention_chunk " + what, ref, out.floats(dt), Num.tolerance(dt), 1.0);
            Num.assertClose("decode_attention " + what, ref, out1.floats(dt), Num.tolerance(dt), 1.0);
        }
    }
}
