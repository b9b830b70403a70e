// Streams GPT-2's 48 layer matrices (340 MB fp32, random) with 2 threads, four ways: the flat
// (in, out) order and 64-column panels, each from a float[] and from a mapped file read with
// FloatVector.fromMemorySegment at an unaligned offset; prints GB/s, best of 15, rounds 3-6.
// docs/PERF_NOTES_CPU.md section 13. Run: java --add-modules jdk.incubator.vector scripts/micro/FlatVsPanelsF32.java [offset]
import jdk.incubator.vector.*;
import java.lang.foreign.*;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.*;
import java.util.concurrent.*;

public class FlatVsPanelsF32 {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    static final int L = F.length();
    static final int[][] SHAPES = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};

    static void axpy4(float[] a, float s0, float[] w, int o0, int o1, int o2, int o3, float s1, float s2, float s3, int n) {
        FloatVector v0 = FloatVector.broadcast(F, s0), v1 = FloatVector.broadcast(F, s1), v2 = FloatVector.broadcast(F, s2), v3 = FloatVector.broadcast(F, s3);
        for (int c = 0; c < n; c += L) {
            FloatVector acc = FloatVector.fromArray(F, a, c);
            acc = acc.add(FloatVector.fromArray(F, w, o0 + c).mul(v0));
            acc = acc.add(FloatVector.fromArray(F, w, o1 + c).mul(v1));
            acc = acc.add(FloatVector.fromArray(F, w, o2 + c).mul(v2));
            acc = acc.add(FloatVector.fromArray(F, w, o3 + c).mul(v3));
            acc.intoArray(a, c);
        }
    }
    static void axpy4s(float[] a, float s0, MemorySegment w, long o0, long o1, long o2, long o3, float s1, float s2, float s3, int n) {
        FloatVector v0 = FloatVector.broadcast(F, s0), v1 = FloatVector.broadcast(F, s1), v2 = FloatVector.broadcast(F, s2), v3 = FloatVector.broadcast(F, s3);
        for (int c = 0; c < n; c += L) {
            long b = 4L * c;
            FloatVector acc = FloatVector.fromArray(F, a, c);
            acc = acc.add(FloatVector.fromMemorySegment(F, w, o0 + b, ByteOrder.LITTLE_ENDIAN).mul(v0));
            acc = acc.add(FloatVector.fromMemorySegment(F, w, o1 + b, ByteOrder.LITTLE_ENDIAN).mul(v1));
            acc = acc.add(FloatVector.fromMemorySegment(F, w, o2 + b, ByteOrder.LITTLE_ENDIAN).mul(v2));
            acc = acc.add(FloatVector.fromMemorySegment(F, w, o3 + b, ByteOrder.LITTLE_ENDIAN).mul(v3));
            acc.intoArray(a, c);
        }
    }
    // panel: in rows x 64 floats contiguous; 8 accumulators
    static void panel(float[] y, int yo, float[] x, float[] w, int base, int in) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int i = 0, o = base; i < in; i++, o += 64) {
            FloatVector xv = FloatVector.broadcast(F, x[i]);
            a0 = a0.add(FloatVector.fromArray(F, w, o).mul(xv));
            a1 = a1.add(FloatVector.fromArray(F, w, o + 8).mul(xv));
            a2 = a2.add(FloatVector.fromArray(F, w, o + 16).mul(xv));
            a3 = a3.add(FloatVector.fromArray(F, w, o + 24).mul(xv));
            a4 = a4.add(FloatVector.fromArray(F, w, o + 32).mul(xv));
            a5 = a5.add(FloatVector.fromArray(F, w, o + 40).mul(xv));
            a6 = a6.add(FloatVector.fromArray(F, w, o + 48).mul(xv));
            a7 = a7.add(FloatVector.fromArray(F, w, o + 56).mul(xv));
        }
        a0.intoArray(y, yo); a1.intoArray(y, yo + 8); a2.intoArray(y, yo + 16); a3.intoArray(y, yo + 24);
        a4.intoArray(y, yo + 32); a5.intoArray(y, yo + 40); a6.intoArray(y, yo + 48); a7.intoArray(y, yo + 56);
    }
    static void panelS(float[] y, int yo, float[] x, MemorySegment w, long base, int in) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        long o = base;
        for (int i = 0; i < in; i++, o += 256) {
            FloatVector xv = FloatVector.broadcast(F, x[i]);
            a0 = a0.add(FloatVector.fromMemorySegment(F, w, o, ByteOrder.LITTLE_ENDIAN).mul(xv));
            a1 = a1.add(FloatVector.fromMemorySegment(F, w, o + 32, ByteOrder.LITTLE_ENDIAN).mul(xv));
            a2 = a2.add(FloatVector.fromMemorySegment(F, w, o + 64, ByteOrder.LITTLE_ENDIAN).mul(xv));
            a3 = a3.add(FloatVector.fromMemorySegment(F, w, o + 96, ByteOrder.LITTLE_ENDIAN).mul(xv));
            a4 = a4.add(FloatVector.fromMemorySegment(F, w, o + 128, ByteOrder.LITTLE_ENDIAN).mul(xv));
            a5 = a5.add(FloatVector.fromMemorySegment(F, w, o + 160, ByteOrder.LITTLE_ENDIAN).mul(xv));
            a6 = a6.add(FloatVector.fromMemorySegment(F, w, o + 192, ByteOrder.LITTLE_ENDIAN).mul(xv));
            a7 = a7.add(FloatVector.fromMemorySegment(F, w, o + 224, ByteOrder.LITTLE_ENDIAN).mul(xv));
        }
        a0.intoArray(y, yo); a1.intoArray(y, yo + 8); a2.intoArray(y, yo + 16); a3.intoArray(y, yo + 24);
        a4.intoArray(y, yo + 32); a5.intoArray(y, yo + 40); a6.intoArray(y, yo + 48); a7.intoArray(y, yo + 56);
    }

    // one "model pass": 12 layers x 4 matrices; thread t of 2 handles its column half (flat) or its panels
    static float[][] mats = new float[48][];
    static MemorySegment[] segs = new MemorySegment[48];
    static float[] x = new float[3072];
    static float[][] acc = new float[2][4096];
    static float[][] yy = new float[2][4096];

    static void flatPart(int mode, int t) {
        for (int m = 0; m < 48; m++) {
            int in = SHAPES[m % 4][0], out = SHAPES[m % 4][1];
            int half = out / 2, c0 = t * half;
            float[] a = acc[t];
            java.util.Arrays.fill(a, 0, half, 0f);
            for (int i = 0; i < in; i += 4) {
                if (mode == 0) axpy4(a, x[i], mats[m], i * out + c0, (i + 1) * out + c0, (i + 2) * out + c0, (i + 3) * out + c0, x[i + 1], x[i + 2], x[i + 3], half);
                else axpy4s(a, x[i], segs[m], 4L * (i * out + c0), 4L * ((i + 1) * out + c0), 4L * ((i + 2) * out + c0), 4L * ((i + 3) * out + c0), x[i + 1], x[i + 2], x[i + 3], half);
            }
        }
    }
    static void panelPart(int mode, int t) {
        for (int m = 0; m < 48; m++) {
            int in = SHAPES[m % 4][0], out = SHAPES[m % 4][1];
            int np = out / 64, p0 = np * t / 2, p1 = np * (t + 1) / 2;
            for (int p = p0; p < p1; p++) {
                if (mode == 2) panel(yy[t], 0, x, mats[m], p * in * 64, in);
                else panelS(yy[t], 0, x, segs[m], 4L * p * in * 64, in);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
        Path f = Path.of(System.getProperty("java.io.tmpdir"), "kvdecode-flat-vs-panels.bin");
        long total = 0;
        for (int m = 0; m < 48; m++) total += 4L * SHAPES[m % 4][0] * SHAPES[m % 4][1];
        if (!Files.exists(f) || Files.size(f) != total + 64) {
            try (var ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                var bb = java.nio.ByteBuffer.allocate(1 << 20);
                long left = total + 64;
                while (left > 0) { bb.clear(); int n = (int) Math.min(left, bb.capacity()); for (int i = 0; i < n; i++) bb.put((byte) r.nextInt(64)); bb.flip(); ch.write(bb); left -= n; }
            }
        }
        Arena arena = Arena.ofShared();
        MemorySegment file;
        try (var ch = FileChannel.open(f)) { file = ch.map(FileChannel.MapMode.READ_ONLY, 0, total + 64, arena); }
        long off = Integer.parseInt(args.length > 0 ? args[0] : "8");   // safetensors offsets are not aligned
        for (int m = 0; m < 48; m++) {
            long n = 4L * SHAPES[m % 4][0] * SHAPES[m % 4][1];
            segs[m] = file.asSlice(off, n);
            mats[m] = segs[m].toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
            off += n;
        }
        ExecutorService ex = Executors.newFixedThreadPool(2);
        String[] names = {"flat float[]", "flat segment", "panel float[]", "panel segment"};
        for (int round = 0; round < 6; round++) {
            for (int mode = 0; mode < 4; mode++) {
                final int md = mode;
                long best = Long.MAX_VALUE;
                for (int rep = 0; rep < 15; rep++) {
                    long t0 = System.nanoTime();
                    Future<?> a = ex.submit(() -> { if (md < 2) flatPart(md, 0); else panelPart(md, 0); });
                    if (md < 2) flatPart(md, 1); else panelPart(md, 1);
                    a.get();
                    best = Math.min(best, System.nanoTime() - t0);
                }
                if (round >= 2) System.out.printf("%-14s %6.2f ms  %5.1f GB/s%n", names[mode], best / 1e6, total / (double) best);
            }
        }
        ex.shutdown();
    }
}
