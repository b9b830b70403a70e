package dev.kvdecode.runtime.cli;

import picocli.CommandLine;

/**
 * Lets modules above runtime (bench) add subcommands without runtime depending on them:
 * implementations are found with {@link java.util.ServiceLoader}.
 */
public interface CliExtension {
    void register(CommandLine root);
}
