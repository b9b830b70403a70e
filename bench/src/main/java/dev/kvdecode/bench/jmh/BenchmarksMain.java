package dev.kvdecode.bench.jmh;

import dev.kvdecode.bindings.NativeLibraries;
import dev.kvdecode.runtime.cli.OutputFiles;
import dev.kvdecode.runtime.cli.UsageException;
import dev.kvdecode.runtime.engine.SizeLimitException;
import dev.kvdecode.runtime.engine.Sizes;
import org.openjdk.jmh.runner.NoBenchmarksException;
import org.openjdk.jmh.runner.ProfilersFailedException;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Entry point of benchmarks.jar ({@code ./kvdecode jmh}): JMH's own command line, plus the
 * backend parameter of the decode-step benchmark. With a CUDA driver present the CUDA variants run
 * beside the CPU ones; without one they are skipped with a one-line notice (never reported as
 * results).
 *
 * <p>User mistakes end like every other kvdecode command: one line on stderr, exit 2 (JMH's own
 * main exits 1 with a stack trace): an option JMH does not parse, {@code -t} above the machine's
 * processors, an {@code -o}/{@code -rff} file that cannot be written (checked before any
 * benchmark runs), a pattern that matches no benchmark. {@code -o} and {@code -rff} are written
 * under a temporary name and renamed at the end, so a failed run leaves no partial file.
 */
public final class BenchmarksMain {
    private BenchmarksMain() {}

    public static void main(String[] args) throws Exception {
        System.exit(run(args, System.err));
    }

    /** Runs JMH; returns the exit code: 0, 2 for a user mistake, 1 for a failed benchmark. */
    public static int run(String[] args, PrintStream err) throws Exception {
        List<String> argv = new ArrayList<>(Arrays.asList(args));
        CommandLineOptions cmd;
        try {
            cmd = new CommandLineOptions(argv.toArray(String[]::new));
        } catch (CommandLineOptionException e) {
            err.println("kvdecode jmh: " + String.valueOf(e.getMessage()).strip().replaceAll("\\s*\\R\\s*", " "));
            return 2;
        }
        if (cmd.shouldHelp() || cmd.shouldList() || cmd.shouldListWithParams() || cmd.shouldListProfilers()
                || cmd.shouldListResultFormats()) {
            org.openjdk.jmh.Main.main(argv.toArray(String[]::new));   // prints and returns
            return 0;
        }
        OutputFiles output = null, result = null;
        try {
            if (cmd.getThreads().hasValue() && cmd.getThreads().get() > 0) {
                try {
                    Sizes.cpuThreads(cmd.getThreads().get());
                } catch (SizeLimitException e) {
                    throw new UsageException(e.getMessage().replaceFirst("^--threads", "-t"));
                }
            }
            if (cmd.getOutput().hasValue()) output = OutputFiles.checkFile("-o", Path.of(cmd.getOutput().get()));
            if (cmd.getResult().hasValue()) result = OutputFiles.checkFile("-rff", Path.of(cmd.getResult().get()));
        } catch (UsageException e) {
            err.println("kvdecode jmh: " + e.getMessage());
            return 2;
        }
        try {
            boolean userChoseBackend = !cmd.getParameter("backend").orElse(List.of()).isEmpty();
            ChainedOptionsBuilder options = new OptionsBuilder().parent(cmd);
            if (!userChoseBackend) {
                String backends = "cpu";
                try {
                    NativeLibraries.loadCuda();
                    backends = "cpu,cuda";
                } catch (RuntimeException | LinkageError e) {
                    err.println("benchmarks: CUDA benchmarks skipped: " + e.getMessage());
                }
                options.param("backend", backends.split(","));
            }
            if (output != null) options.output(output.stage(Path.of(cmd.getOutput().get()).getFileName().toString()).toString());
            if (result != null) options.result(result.stage(Path.of(cmd.getResult().get()).getFileName().toString()).toString());
            try {
                new Runner(options.build()).run();
            } catch (NoBenchmarksException e) {
                err.println("kvdecode jmh: no benchmark matches " + cmd.getIncludes() + " (list them with -l)");
                return 2;
            } catch (ProfilersFailedException e) {
                err.println("kvdecode jmh: " + e.getMessage());
                return 1;
            } catch (RunnerException e) {
                err.print("ERROR: ");
                e.printStackTrace(err);
                return 1;
            }
            if (output != null) output.publish();
            if (result != null) result.publish();
            return 0;
        } catch (UsageException e) {
            err.println("kvdecode jmh: " + e.getMessage());
            return 2;
        } finally {
            if (output != null) output.close();
            if (result != null) result.close();
        }
    }
}
