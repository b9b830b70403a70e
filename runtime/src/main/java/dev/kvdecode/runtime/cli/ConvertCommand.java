package dev.kvdecode.runtime.cli;

import dev.kvdecode.runtime.model.gguf.GgmlType;
import dev.kvdecode.runtime.model.gguf.GgufExport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code kvdecode convert --to gguf}: writes a GPT-2 model directory as a GGUF file for llama.cpp. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Write a GPT-2 model directory as a GGUF file (llama.cpp's gpt2 layout, tokenizer embedded).")
final class ConvertCommand implements Callable<Integer> {
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--to", required = true, description = "output format: gguf")
    String to;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "the model directory (config.json, model.safetensors, tokenizer)")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "the GGUF file to write (replaced atomically if it exists)")
    Path out;

    @Option(names = "--type", defaultValue = "f32", description = "embedding and matrix type: f32 or f16 (norms and biases stay f32); default ${DEFAULT-VALUE}")
    String type;

    @Override
    public Integer call() throws Exception {
        if (!to.equals("gguf")) throw new UsageException("--to: expected gguf, got '" + to + "'");
        GgmlType t = switch (type) {
            case "f32" -> GgmlType.F32;
            case "f16" -> GgmlType.F16;
            default -> throw new UsageException("--type: expected f32 or f16, got '" + type + "'");
        };
        if (!Files.isDirectory(model)) throw new UsageException("--model " + model + ": not a model directory");
        Path dir = out.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) throw new UsageException("--out " + out + ": the folder does not exist");
        if (Files.isDirectory(out)) throw new UsageException("--out " + out + ": is a directory");
        // checked before the model is read (issue 21): an existing regular file is replaced
        // atomically at the end; anything else there, or a folder we cannot write, is refused now
        if (Files.exists(out) && !Files.isRegularFile(out)) throw new UsageException("--out " + out + ": exists and is not a regular file");
        if (!Files.isWritable(dir)) throw new UsageException("--out " + out + ": folder " + dir + " is not writable");
        try {
            GgufExport.gpt2(model, out, t);
        } catch (IOException e) {   // the temporary file or the rename (reading the model reports its own errors)
            throw new UsageException("--out " + out + ": cannot write: " + e.getMessage());
        }
        var o = spec.commandLine().getOut();
        o.println("wrote " + out + " (" + Files.size(out) + " bytes, " + t + ")");
        o.flush();
        return 0;
    }
}
