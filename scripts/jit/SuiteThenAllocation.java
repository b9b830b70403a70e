// Runs the runtime module's CPU-side tests (no cuda, fuzz, GGUF, CLI or memory-loop classes), then
// AllocationTest, in ONE JVM: the order that made AllocationTest fail in full runs (issue 16; see
// docs/PERF_NOTES_CPU.md section 16). Build first (mvn -o -pl runtime -am test-compile, plus
// dependency:build-classpath -Dmdep.outputFile=/tmp/kvdecode-cp.txt -Dmdep.includeScope=test, which
// writes the runtime module's list there last), then from runtime/:
//
//   javac -cp "$CP" -d /tmp/jit ../scripts/jit/SuiteThenAllocation.java
//   java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xss4m \
//       [-XX:+UnlockDiagnosticVMOptions -XX:CompileCommand=PrintInlining,dev.kvdecode.kernels.VectorOps::softmax] \
//       -cp "/tmp/jit:$CP" SuiteThenAllocation odd dev.kvdecode.runtime.cpu.AllocationTest
//
// with CP="target/test-classes:target/classes:../kernels/target/classes:../bindings/target/classes:$(cat /tmp/kvdecode-cp.txt)".
// Each argument is a phase: "odd" (the suite) or a test class name.
import org.junit.platform.launcher.*;
import org.junit.platform.launcher.core.*;
import org.junit.platform.launcher.listeners.*;
import static org.junit.platform.engine.discovery.DiscoverySelectors.*;
import org.junit.platform.engine.discovery.*;
public class SuiteThenAllocation {
  public static void main(String[] a) {
    Launcher l = LauncherFactory.create();
    for (String phase : a) {
      LauncherDiscoveryRequestBuilder b = LauncherDiscoveryRequestBuilder.request();
      if (phase.equals("odd")) {
        b.selectors(selectPackage("dev.kvdecode.runtime"))
         .filters(TagFilter.excludeTags("jazzer", "isolated-jvm"),
                  ClassNameFilter.excludeClassNamePatterns("dev\\.kvdecode\\.runtime\\.cuda\\..*", "dev\\.kvdecode\\.runtime\\.fuzz\\..*", ".*MemoryLoopTest", ".*Gguf.*", ".*cli\\..*"));
      } else {
        b.selectors(selectClass(phase));
      }
      SummaryGeneratingListener s = new SummaryGeneratingListener();
      long t0 = System.nanoTime();
      l.execute(b.build(), s);
      System.out.printf("PHASE %s: %d tests, %d failed, %d s%n", phase, s.getSummary().getTestsFoundCount(), s.getSummary().getTotalFailureCount(), (System.nanoTime()-t0)/1000000000);
      s.getSummary().getFailures().forEach(f -> System.out.println("FAIL " + f.getTestIdentifier().getDisplayName() + ": " + String.valueOf(f.getException().getMessage()).lines().findFirst().orElse("")));
    }
  }
}
