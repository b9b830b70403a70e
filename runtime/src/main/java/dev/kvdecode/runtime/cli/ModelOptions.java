package dev.kvdecode.runtime.cli;

import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.model.gguf.GgufModels;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** {@code --model DIR} (or a .gguf file), defaulting to the embedded Shakespeare model next to the launcher. */
public final class ModelOptions {
    /** Where the default model lives, relative to the project (the launcher's folder). */
    static final String DEFAULT_MODEL = "models/shakespeare-char";

    @Option(names = "--model", paramLabel = "DIR|FILE.gguf",
            description = "model directory (config.json, model.safetensors, tokenizer files) or a GGUF file; default: the embedded " + DEFAULT_MODEL)
    Path modelDir;

    boolean isDefault() { return modelDir == null; }

    public Path resolve() {
        if (modelDir != null) return modelDir;
        String home = System.getProperty("kvdecode.home", System.getenv("KVDECODE_HOME"));
        Path base = home != null ? Path.of(home) : Path.of(".");
        Path dir = base.resolve(DEFAULT_MODEL);
        if (!Files.isDirectory(dir))
            throw new UsageException("--model: not given and the default model " + dir + " is missing (run from the project folder or set KVDECODE_HOME)");
        return dir;
    }

    /** Loads the model; problems with the directory itself are reported against the flag. */
    public Model load() {
        Path dir = resolve();
        if (!Files.exists(dir))
            throw new UsageException("--model " + dir + ": " + (GgufModels.isGguf(dir) ? "GGUF file" : "model directory") + " does not exist");
        if (GgufModels.isGguf(dir)) return ModelLoader.load(dir);
        if (!Files.isDirectory(dir)) throw new UsageException("--model " + dir + ": not a directory (nor a .gguf file)");
        return ModelLoader.load(dir);
    }
}
