package dev.kvdecode.runtime.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.ServiceLoader;

/** Entry point of the kvdecode CLI. */
@Command(name = "kvdecode", mixinStandardHelpOptions = true, version = "kvdecode 0.1.0",
        description = "Generate text with transformer language models; KV cache resident on the GPU or the CPU.",
        subcommands = {GenerateCommand.class, TokenizeCommand.class, EvalCommand.class, ConvertCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (try: generate, tokenize, eval, convert, bench)");
    }

    /** The configured command line, with every subcommand and the error handlers. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        for (CliExtension ext : ServiceLoader.load(CliExtension.class)) ext.register(cl);
        return Cli.configure(cl);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
