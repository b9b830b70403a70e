package dev.kvdecode.server;

import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.CpuBackend;
import dev.kvdecode.runtime.engine.GenerationOptions;
import dev.kvdecode.runtime.engine.Generator;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.sample.SamplingParams;

import java.nio.file.Path;

/** The embedded default model (models/shakespeare-char), loaded once per test JVM, and solo references. */
final class TestModel {
    static final Model MODEL = ModelLoader.load(Path.of("..", "models", "shakespeare-char"));
    static final CpuBackend BACKEND = new CpuBackend(2);

    private TestModel() {}

    /**
     * The reference: greedy tokens of one prompt decoded alone (batch of one) by the host loop of
     * the runtime ({@link Generator}), which knows nothing of slots or the scheduler.
     */
    static int[] aloneGreedy(int[] prompt, int maxTokens, int window) {
        try (InferenceSession s = BACKEND.open(MODEL, new SessionOptions(1, window, OverflowPolicy.STOP, true))) {
            return Generator.generate(s, new int[][] {prompt},
                    new GenerationOptions(maxTokens, SamplingParams.greedyDecoding(), MODEL.tokenizer().eosToken(), false),
                    null).tokens()[0];
        }
    }

    static String aloneGreedyText(String prompt, int maxTokens) {
        return MODEL.tokenizer().decode(aloneGreedy(MODEL.tokenizer().encode(prompt), maxTokens, MODEL.config().nPositions()));
    }
}
