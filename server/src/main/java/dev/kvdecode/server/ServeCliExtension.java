package dev.kvdecode.server;

import dev.kvdecode.runtime.cli.CliExtension;
import picocli.CommandLine;

/** Adds {@code kvdecode serve} to the CLI (found with ServiceLoader in the server jar). */
public final class ServeCliExtension implements CliExtension {
    @Override
    public void register(CommandLine root) {
        root.addSubcommand("serve", new ServeCommand());
    }
}
