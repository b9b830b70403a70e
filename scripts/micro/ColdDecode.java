// A cold JVM as `generate` runs it: the CPU backend's warm-up while a checkpoint loads, then a
// 16-token prefill and 128 steps timed in groups of 8 (ms per token). docs/PERF_NOTES_CPU.md section 13.
// Run: java --add-modules jdk.incubator.vector -cp bench/target/kvdecode-cli.jar scripts/micro/ColdDecode.java MODEL_DIR fp32|bf16|...
import dev.kvdecode.runtime.model.*;
import dev.kvdecode.runtime.cpu.*;
import dev.kvdecode.runtime.engine.*;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import java.nio.file.Path;
public class ColdDecode {
    public static void main(String[] a) throws Exception {
        CpuBackend be = new CpuBackend(2, CpuWeightFormat.ofFlag(a[1]), false);
        long t0 = System.nanoTime();
        Model m;
        try (Warmup w = be.warmUp()) { m = ModelLoader.load(Path.of(a[0])); be.prepare(m); }
        long t1 = System.nanoTime();
        var s = be.open(m, new SessionOptions(1, 1024, OverflowPolicy.STOP, true));
        int[] p = new int[16]; for (int i = 0; i < 16; i++) p[i] = 464 + i * 100;
        long t2 = System.nanoTime();
        s.prefill(new int[][]{p});
        long t3 = System.nanoTime();
        StringBuilder sb = new StringBuilder();
        long sum = 0;
        for (int i = 0; i < 128; i++) {
            long a0 = System.nanoTime();
            s.step(new int[]{(i * 37) % 50000});
            long d = System.nanoTime() - a0; sum += d;
            if (i % 8 == 7) { sb.append(String.format("%.1f ", sum / 8e6)); sum = 0; }
        }
        System.out.printf("load+warm %.0f ms, prefill %.0f ms, ms/token per 8: %s%n", (t1 - t0) / 1e6, (t3 - t2) / 1e6, sb);
        System.exit(0);
    }
}
