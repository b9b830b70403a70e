// The bf16 row-pair panel kernel (VectorOps.panelBf16's loop) from L2, 1 thread, with a separate
// multiply and add against FloatVector.fma; prints GMAC/s, best of 50, rounds 4-6.
// docs/PERF_NOTES_CPU.md section 13. Run: java --add-modules jdk.incubator.vector scripts/micro/Bf16PanelFma.java
import jdk.incubator.vector.*;
public class Bf16PanelFma {
    static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    static final VectorSpecies<Integer> I8 = IntVector.SPECIES_256;
    static final IntVector HIGH_HALF = IntVector.broadcast(I8, 0xFFFF0000);
    static void panel(float[] y, int yo, float[] x, int xo, int[] w, int base, int in, boolean fma) {
        FloatVector a0 = FloatVector.zero(F8), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int i = 0, o = base; i < in; i += 2, o += 64) {
            FloatVector x0 = FloatVector.broadcast(F8, x[xo + i]), x1 = FloatVector.broadcast(F8, x[xo + i + 1]);
            IntVector v0 = IntVector.fromArray(I8, w, o), v1 = IntVector.fromArray(I8, w, o + 8), v2 = IntVector.fromArray(I8, w, o + 16), v3 = IntVector.fromArray(I8, w, o + 24);
            IntVector v4 = IntVector.fromArray(I8, w, o + 32), v5 = IntVector.fromArray(I8, w, o + 40), v6 = IntVector.fromArray(I8, w, o + 48), v7 = IntVector.fromArray(I8, w, o + 56);
            if (fma) {
                a0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a0);
                a1 = v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a1);
                a2 = v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a2);
                a3 = v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a3);
                a4 = v4.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a4);
                a5 = v5.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a5);
                a6 = v6.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a6);
                a7 = v7.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a7);
                a0 = v0.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a0);
                a1 = v1.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a1);
                a2 = v2.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a2);
                a3 = v3.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a3);
                a4 = v4.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a4);
                a5 = v5.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a5);
                a6 = v6.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a6);
                a7 = v7.and(HIGH_HALF).reinterpretAsFloats().fma(x1, a7);
            } else {
                a0 = a0.add(v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(x0));
                a1 = a1.add(v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(x0));
                a2 = a2.add(v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(x0));
                a3 = a3.add(v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(x0));
                a4 = a4.add(v4.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(x0));
                a5 = a5.add(v5.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(x0));
                a6 = a6.add(v6.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(x0));
                a7 = a7.add(v7.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(x0));
                a0 = a0.add(v0.and(HIGH_HALF).reinterpretAsFloats().mul(x1));
                a1 = a1.add(v1.and(HIGH_HALF).reinterpretAsFloats().mul(x1));
                a2 = a2.add(v2.and(HIGH_HALF).reinterpretAsFloats().mul(x1));
                a3 = a3.add(v3.and(HIGH_HALF).reinterpretAsFloats().mul(x1));
                a4 = a4.add(v4.and(HIGH_HALF).reinterpretAsFloats().mul(x1));
                a5 = a5.add(v5.and(HIGH_HALF).reinterpretAsFloats().mul(x1));
                a6 = a6.add(v6.and(HIGH_HALF).reinterpretAsFloats().mul(x1));
                a7 = a7.add(v7.and(HIGH_HALF).reinterpretAsFloats().mul(x1));
            }
        }
        a0.intoArray(y, yo); a1.intoArray(y, yo + 8); a2.intoArray(y, yo + 16); a3.intoArray(y, yo + 24);
        a4.intoArray(y, yo + 32); a5.intoArray(y, yo + 40); a6.intoArray(y, yo + 48); a7.intoArray(y, yo + 56);
    }
    public static void main(String[] a) {
        int in = 768, np = 4;   // 4 panels x 768 rows: 98 KB x 4 in L2
        int[] w = new int[np * 64 * in / 2];
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < w.length; i++) w[i] = r.nextInt() & 0x3F7F3F7F;
        float[] x = new float[in]; for (int i = 0; i < in; i++) x[i] = r.nextFloat();
        float[] y = new float[64];
        for (int round = 0; round < 6; round++) for (int m = 0; m < 2; m++) {
            boolean fma = m == 1;
            long best = Long.MAX_VALUE;
            for (int rep = 0; rep < 50; rep++) {
                long t0 = System.nanoTime();
                for (int k = 0; k < 200; k++) for (int p = 0; p < np; p++) panel(y, 0, x, 0, w, p * 64 * in / 2, in, fma);
                best = Math.min(best, System.nanoTime() - t0);
            }
            if (round >= 3) System.out.printf("%s %.1f GMAC/s%n", fma ? "fma    " : "mul+add", 200.0 * np * 64 * in / best);
        }
    }
}
