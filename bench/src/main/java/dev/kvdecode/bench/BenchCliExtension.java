package dev.kvdecode.bench;

import dev.kvdecode.runtime.cli.CliExtension;
import picocli.CommandLine;

/** Adds {@code kvdecode bench} to the CLI. */
public final class BenchCliExtension implements CliExtension {
    @Override
    public void register(CommandLine root) {
        // The bench subcommand is added by the benchmark harness (issue 4).
    }
}
