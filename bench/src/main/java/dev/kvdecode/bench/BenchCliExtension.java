package dev.kvdecode.bench;

import dev.kvdecode.runtime.cli.CliExtension;
import picocli.CommandLine;

/** Adds {@code kvdecode bench} to the CLI. */
public final class BenchCliExtension implements CliExtension {
    @Override
    public void register(CommandLine root) {
        root.addSubcommand("bench", new BenchCommand());
    }
}
