package dev.kvdecode.runtime.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The embedded default model (models/shakespeare-char, issue 5): the Java runtime's held-out
 * loss agrees with the training script's, and stays below the bound recorded in models/README.md.
 */
class DefaultModelTest {
    static final Path MODEL = Path.of("..", "models", "shakespeare-char");
    /** scripts/train_char_gpt.py export: loss of heldout-sample.txt by the eval definition (JAX and numpy agree). */
    static final double RECORDED_SAMPLE_LOSS = 1.558723;
    /** The bound the model card records for this slice. */
    static final double SAMPLE_LOSS_BOUND = 1.57;

    @Test
    void heldOutSampleLossMatchesTrainingScriptAndStaysUnderBound() throws Exception {
        assertTrue(Files.isDirectory(MODEL), "default model missing at " + MODEL.toAbsolutePath());
        CliTest.Run r = CliTest.run("eval", "--model", MODEL.toString(), "--text-file",
                MODEL.resolve("heldout-sample.txt").toString(), "--backend", "cpu", "--json");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode o = new ObjectMapper().readTree(r.out());
        double loss = o.get("mean_cross_entropy_nats").asDouble();
        assertEquals(19_999, o.get("tokens_scored").asInt());
        assertEquals(RECORDED_SAMPLE_LOSS, loss, 0.001, "Java eval vs the training script's figure");
        assertTrue(loss <= SAMPLE_LOSS_BOUND, "held-out loss " + loss + " above its bound " + SAMPLE_LOSS_BOUND);
    }

    /** The default model has no chat template: --chat is a one-line usage error, exit 2. */
    @Test
    void chatNeedsATemplate() {
        CliTest.assertUsageError(CliTest.run("generate", "--model", MODEL.toString(), "--chat", "--prompt", "Hi"),
                "--chat: " + MODEL + " has no chat template");
    }

    @Test
    void greedyTokensIdenticalWithAndWithoutCache() throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        JsonNode[] tokens = new JsonNode[2];
        String[] modes = {"on", "off"};
        for (int i = 0; i < 2; i++) {
            CliTest.Run r = CliTest.run("generate", "--model", MODEL.toString(), "--max-new-tokens", "120", "--greedy",
                    "--kv-cache", modes[i], "--backend", "cpu", "--json");
            assertEquals(0, r.exitCode(), r.err());
            tokens[i] = mapper.readTree(r.out()).get("tokens");
        }
        assertEquals(120, tokens[0].size());
        assertEquals(tokens[0], tokens[1], "greedy tokens with --kv-cache on and off");
    }
}
