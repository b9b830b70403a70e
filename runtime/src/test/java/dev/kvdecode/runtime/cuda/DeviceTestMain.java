package dev.kvdecode.runtime.cuda;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectPackage;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs JUnit tests without Maven, for the GPU machine (no Maven, no network there):
 * {@code java -cp ... dev.kvdecode.runtime.cuda.DeviceTestMain SELECTOR...} where a selector is a
 * package ({@code dev.kvdecode.kernels.cuda}), a class, or {@code Class#method}. Prints one line per
 * test and the summary; exit 0 only if something ran and nothing failed (a skip is not a pass:
 * skipped and aborted tests are listed, and {@code --no-skips} makes either fail the run).
 */
public final class DeviceTestMain {
    private DeviceTestMain() {}

    public static void main(String[] args) {
        boolean noSkips = false;
        List<DiscoverySelector> selectors = new ArrayList<>();
        for (String a : args) {
            if (a.equals("--no-skips")) { noSkips = true; continue; }
            if (a.contains("#")) selectors.add(selectMethod(a));
            else if (Character.isUpperCase(a.charAt(a.lastIndexOf('.') + 1))) selectors.add(selectClass(a));
            else selectors.add(selectPackage(a));
        }
        if (selectors.isEmpty()) {
            System.err.println("usage: DeviceTestMain [--no-skips] PACKAGE|CLASS|CLASS#METHOD...");
            System.exit(2);
        }
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(selectors).build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        TestExecutionListener lines = new TestExecutionListener() {
            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                if (id.isTest()) System.out.println("SKIPPED " + id.getDisplayName() + " (" + reason + ")");
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                if (!id.isTest()) return;
                String what = id.getUniqueId().replaceAll(".*\\[class:([^\\]]*)\\].*\\[method:([^\\]]*)\\].*", "$1#$2");
                System.out.println(result.getStatus() + " " + what
                        + result.getThrowable().map(t -> " -- " + t.toString().replace('\n', ' ')).orElse(""));
            }
        };
        launcher.execute(request, summary, lines);
        TestExecutionSummary s = summary.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        s.printTo(out);
        s.printFailuresTo(out, 20);
        // An aborted test (a failed assumption, e.g. "no GPU") is a skip too: it proved nothing.
        boolean ok = s.getTestsFoundCount() > 0 && s.getTotalFailureCount() == 0
                && (!noSkips || (s.getTestsSkippedCount() == 0 && s.getTestsAbortedCount() == 0));
        System.out.println("DeviceTestMain: " + (ok ? "PASS" : "FAIL") + " (" + s.getTestsSucceededCount() + " passed, "
                + s.getTotalFailureCount() + " failed, " + s.getTestsSkippedCount() + " skipped, "
                + s.getTestsAbortedCount() + " aborted)");
        System.exit(ok ? 0 : 1);
    }
}
