package dev.kvdecode.runtime.cli;

import dev.kvdecode.runtime.engine.ContextFullException;
import dev.kvdecode.runtime.engine.SizeLimitException;
import dev.kvdecode.runtime.model.HeapTooSmallException;
import dev.kvdecode.runtime.model.ModelFormatException;
import dev.kvdecode.runtime.tokenizer.TokenizerException;
import picocli.CommandLine;

import java.io.PrintWriter;

/** Error policy shared by all subcommands: user mistakes are one line + exit 2; bugs exit 1 with the trace. */
final class Cli {
    private Cli() {}

    static CommandLine configure(CommandLine cl) {
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("kvdecode: " + ex.getMessage());
            err.flush();
            return CommandLine.ExitCode.USAGE;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (isUserError(ex)) {
                PrintWriter err = commandLine.getErr();
                err.println("kvdecode: " + ex.getMessage());
                err.flush();
                return CommandLine.ExitCode.USAGE;
            }
            throw ex;
        });
        return cl;
    }

    static boolean isUserError(Throwable ex) {
        return ex instanceof UsageException || ex instanceof ModelFormatException || ex instanceof HeapTooSmallException
                || ex instanceof TokenizerException || ex instanceof ContextFullException || ex instanceof SizeLimitException;
    }
}
