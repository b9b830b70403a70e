package dev.kvdecode.kernels.cuda;

import dev.kvdecode.kernels.Embedding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** embed_decode_T and embed_prefill_T against Embedding.embedRow; the sum of two stored values is bit-exact. */
class CudaEmbeddingTest {
    static Dev dev;

    @BeforeAll static void open() { dev = Dev.open(); }
    @AfterAll static void close() { dev.close(); }
    @AfterEach void free() { dev.freeBuffers(); }

    static Stream<Arguments> shapes() {
        Stream.Builder<Arguments> b = Stream.builder();
        // B, T, C, V, maxT
        int[][] s = {{1, 1, 1, 1, 1}, {3, 3, 31, 5, 4}, {2, 5, 33, 65, 8}, {1, 8, 769, 11, 8}, {4, 2, 257, 3, 3}};
        for (DType dt : DType.values()) for (int[] x : s) b.add(Arguments.of(dt, x[0], x[1], x[2], x[3], x[4]));
        return b.build();
    }

    /** Rotary positions (the Llama family): wpe null, the token's row of wte alone, bit for bit. */
    @ParameterizedTest(name = "{0} B={1} T={2} C={3} V={4} maxT={5}")
    @MethodSource("shapes")
    void withoutPositionTableTheTokenRowAlone(DType dt, int B, int T, int C, int V, int maxT) {
        long seed = 11L * C + 17L * V + B;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] wte = Num.round(dt, Dev.random(rnd, V * C, -1, 1));
        int[] tokens = new int[B * T];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rnd.nextInt(V);
        var dwte = dev.floats("wte", wte, dt);
        var dtok = dev.ints("tokens", tokens);
        var dseen = dev.ints("seen", new int[B]);
        float[] ref = new float[B * T * C];
        for (int i = 0; i < B * T; i++) System.arraycopy(wte, tokens[i] * C, ref, i * C, C);
        var outP = dev.poisoned("outP", B * T * C, 4);
        CudaEmbedding.prefill(dev.kernels, dev.stream, dt, outP.view, dwte.view, null, dtok.view, null, B, T, C, V, maxT);
        dev.checkGuards(dt.kernel("embed_prefill") + " (null wpe)");
        Num.assertSame(dt.kernel("embed_prefill") + " (null wpe) seed=" + seed, ref, outP.floats(DType.F32));
        int[] first = new int[B];
        float[] refD = new float[B * C];
        for (int b = 0; b < B; b++) {
            first[b] = tokens[b * T];
            System.arraycopy(wte, first[b] * C, refD, b * C, C);
        }
        var dfirst = dev.ints("first", first);
        var out = dev.poisoned("out", B * C, 4);
        CudaEmbedding.decode(dev.kernels, dev.stream, dt, out.view, dwte.view, null, dfirst.view, dseen.view, B, C, V, maxT);
        dev.checkGuards(dt.kernel("embed_decode") + " (null wpe)");
        Num.assertSame(dt.kernel("embed_decode") + " (null wpe) seed=" + seed, refD, out.floats(DType.F32));
    }

    @ParameterizedTest(name = "{0} B={1} T={2} C={3} V={4} maxT={5}")
    @MethodSource("shapes")
    void decodeAndPrefillMatchCpu(DType dt, int B, int T, int C, int V, int maxT) {
        long seed = 7L * C + 13L * V + B;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] wte = Num.round(dt, Dev.random(rnd, V * C, -1, 1));
        float[] wpe = Num.round(dt, Dev.random(rnd, maxT * C, -1, 1));
        int[] tokens = new int[B * T];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rnd.nextInt(V);
        // some sequences past maxT: the position saturates at maxT - 1
        int[] seen = new int[B];
        for (int b = 0; b < B; b++) seen[b] = rnd.nextInt(maxT + 3);

        var dwte = dev.floats("wte", wte, dt);
        var dwpe = dev.floats("wpe", wpe, dt);
        var dtok = dev.ints("tokens", tokens);
        var dseen = dev.ints("seen", seen);

        // decode: tokens[b] (the first of each row here) at min(seen[b], maxT-1)
        int[] lastTokens = new int[B];
        for (int b = 0; b < B; b++) lastTokens[b] = tokens[b * T];
        var dlast = dev.ints("last", lastTokens);
        var out = dev.poisoned("out", B * C, 4);
        CudaEmbedding.decode(dev.kernels, dev.stream, dt, out.view, dwte.view, dwpe.view, dlast.view, dseen.view, B, C, V, maxT);
        dev.checkGuards(dt.kernel("embed_decode"));
        float[] ref = new float[B * C];
        for (int b = 0; b < B; b++)
            Embedding.embedRow(ref, b * C, wte, wpe, lastTokens[b], Math.min(seen[b], maxT - 1), C);
        Num.assertSame(dt.kernel("embed_decode") + " seed=" + seed, ref, out.floats(DType.F32));

        // prefill from seen (positions seen[b] + t, saturated) and from null (positions t)
        for (boolean fromSeen : new boolean[] {true, false}) {
            var outP = dev.poisoned("outP", B * T * C, 4);
            CudaEmbedding.prefill(dev.kernels, dev.stream, dt, outP.view, dwte.view, dwpe.view, dtok.view,
                    fromSeen ? dseen.view : null, B, T, C, V, maxT);
            dev.checkGuards(dt.kernel("embed_prefill"));
            float[] refP = new float[B * T * C];
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    Embedding.embedRow(refP, (b * T + t) * C, wte, wpe, tokens[b * T + t],
                            Math.min((fromSeen ? seen[b] : 0) + t, maxT - 1), C);
            Num.assertSame(dt.kernel("embed_prefill") + (fromSeen ? " (seen)" : " (null seen)") + " seed=" + seed, refP, outP.floats(DType.F32));
        }
    }

    @Test
    void tokenOutOfRangeGivesNaNRowInsteadOfReadingPastWte() {
        int C = 33, V = 5, maxT = 4;
        var dwte = dev.floats("wte", new float[V * C], DType.F32);
        var dwpe = dev.floats("wpe", new float[maxT * C], DType.F32);
        var dtok = dev.ints("tokens", new int[] {V, -1});
        var dseen = dev.ints("seen", new int[] {0, 0});
        // zeros, not NaN poison: the test must see the kernel write the NaNs
        var out = dev.floats("out", new float[2 * C], DType.F32);
        boolean was = dev.setEmulatorNanCheck(false);  // the NaN row is the point here
        try {
            CudaEmbedding.decode(dev.kernels, dev.stream, DType.F32, out.view, dwte.view, dwpe.view, dtok.view, dseen.view, 2, C, V, maxT);
            dev.checkGuards("embed_decode_f32");
        } finally {
            dev.stream.synchronize();
            dev.setEmulatorNanCheck(was);
        }
        for (float f : out.floats(DType.F32)) assertTrue(Float.isNaN(f), "an id outside [0, V) must give a NaN row");
    }
}
