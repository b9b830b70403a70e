package dev.kvdecode.kernels;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * Side-by-side timing of the exact (GgmlVectorOps.panelQ4K) and factored Q4_K panel kernels, with
 * the fp32 and exact Q6_K panels for scale, one thread, T = 1, W (768, 3072) as GPT-2's c_fc, all variants in one JVM,
 * alternating, three rounds (PERF_NOTES_CPU.md section 15). Not a test: run with
 *   java --add-modules jdk.incubator.vector -cp kernels/target/classes:kernels/target/test-classes \
 *       dev.kvdecode.kernels.GgmlFactoredSpeed [calls]
 */
public final class GgmlFactoredSpeed {
    public static void main(String[] args) {
        if (!Matmul.PANEL_VECTOR) throw new IllegalStateException("needs the Vector API panel kernels");
        int calls = args.length > 0 ? Integer.parseInt(args[0]) : 300;
        int in = 768, out = 3072;
        SplittableRandom rnd = new SplittableRandom(7);
        GgmlMatrix q4k = GgmlMatrix.of(GgmlBlocks.Layout.Q4_K, GgmlMatrixTest.randomBlocks(rnd, GgmlBlocks.Layout.Q4_K, in, out), in, out);
        GgmlMatrix q6k = GgmlMatrix.of(GgmlBlocks.Layout.Q6_K, GgmlMatrixTest.randomBlocks(rnd, GgmlBlocks.Layout.Q6_K, in, out), in, out);
        float[] wf = new float[in * out];
        for (int i = 0; i < wf.length; i++) wf[i] = (float) rnd.nextDouble();
        F32Matrix f32 = F32Matrix.of(wf, in, out);
        float[] x = new float[in], b = new float[out], y = new float[out], xs = new float[in / 32];
        for (int i = 0; i < in; i++) x[i] = (float) (rnd.nextDouble() - 0.5);
        String[] names = {"f32 panels", "Q4_K exact", "Q4_K factored", "Q6_K exact"};
        for (int round = 1; round <= 3; round++) {
            StringBuilder line = new StringBuilder("round " + round + ":");
            for (int v = 0; v < names.length; v++) {
                for (int k = 0; k < calls; k++) run(v, q4k, q6k, f32, x, b, y, xs);   // warm-up
                long t0 = System.nanoTime();
                for (int k = 0; k < calls; k++) run(v, q4k, q6k, f32, x, b, y, xs);
                double s = (System.nanoTime() - t0) * 1e-9;
                line.append(String.format("  %s %.2f GMAC/s", names[v], (double) in * out * calls / s * 1e-9));
            }
            System.out.println(line + "  (y[0] " + y[0] + ")");
        }
    }

    private static void run(int v, GgmlMatrix q4k, GgmlMatrix q6k, F32Matrix f32, float[] x, float[] b, float[] y, float[] xs) {
        int in = q4k.in(), out = q4k.out();
        if (v == 0) {
            Matmul.matmul(null, y, 0, x, 0, f32, b, 1);
            return;
        }
        for (int p = 0; p < out / Panels.WIDTH; p++) {
            int c0 = p * Panels.WIDTH;
            switch (v) {
                case 1 -> GgmlVectorOps.panelQ4K(y, c0, x, 0, q4k.lo(), q4k.d(), q4k.dmin(), q4k.sc(), q4k.mn(),
                        Panels.base(p, in / 2), in, out, b, c0);
                case 2 -> GgmlVectorOps.panelQ4KFactored(y, c0, x, 0, q4k.lo(), q4k.d(), q4k.dmin(), q4k.sc(), q4k.mn(),
                        Panels.base(p, in / 2), in, out, b, c0, xs);
                default -> GgmlVectorOps.panelQ6K(y, c0, x, 0, q6k.lo(), q6k.hi(), q6k.d(), q6k.sc(),
                        Panels.base(p, in / 2), Panels.base(p, in / 4), in, out, b, c0);
            }
        }
    }
}
