package dev.kvdecode.runtime.cli;

import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.CpuSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.FixtureLogits;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.model.gguf.GgufFile;
import dev.kvdecode.runtime.tokenizer.Tokenizer;
import dev.kvdecode.runtime.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static dev.kvdecode.runtime.cli.CliTest.assertUsageError;
import static dev.kvdecode.runtime.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code kvdecode convert --to gguf} and {@code --model FILE.gguf} end to end on the GPT-2 fixture
 * with the real GPT-2 tokenizer: the exported file, read back by our reader, gives the safetensors
 * load's logits bit for bit and the same token ids; bad GGUF input is one line, exit 2.
 * (scripts/reference/make_gguf_fixtures.py --check FILE reads an exported file with the gguf
 * package, the independent check of the writer.)
 */
class GgufCliTest {
    static final CpuThreads POOL = new CpuThreads(2);
    @TempDir static Path tmp;
    static Path modelDir;

    @BeforeAll
    static void gpt2WithTokenizer() throws Exception {
        modelDir = tmp.resolve("gpt2-tiny-bpe");
        Files.createDirectories(modelDir);
        Path fx = FixtureLogits.dir("gpt2-tiny"), tok = fx.getParent().getParent().resolve("gpt2-tokenizer");
        for (String f : new String[] {"config.json", "model.safetensors"}) Files.copy(fx.resolve(f), modelDir.resolve(f));
        for (String f : new String[] {"vocab.json", "merges.txt"}) Files.copy(tok.resolve(f), modelDir.resolve(f));
    }

    @AfterAll
    static void closePool() { POOL.close(); }

    static float[] lastLogits(Gpt2Weights w, int[] prompt) {
        try (var s = new CpuSession(w, new SessionOptions(1, prompt.length, OverflowPolicy.STOP, true), POOL)) {
            return s.prefill(new int[][] {prompt}).clone();
        }
    }

    @Test
    void exportedF32AndF16ReadBackBitIdentical() throws Exception {
        Model st = ModelLoader.load(modelDir);
        String text = "Hello, world! The quick brown fox <|endoftext|> 12345 \u65e5\u672c";
        int[] ids = st.tokenizer().encode(text);
        float[] want = lastLogits(st.weights(), ids);
        for (String type : new String[] {"f32", "f16"}) {   // the fixture is stored F16, so F16 loses nothing
            Path out = tmp.resolve("gpt2-tiny-" + type + ".gguf");
            CliTest.Run r = run("convert", "--to", "gguf", "--model", modelDir.toString(), "--out", out.toString(), "--type", type);
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.out().contains("wrote " + out), r.out());
            try (GgufFile f = GgufFile.open(out)) {
                assertEquals("gpt2", f.string("general.architecture"));
                assertEquals(50257, f.strings("tokenizer.ggml.tokens").length);
                assertEquals(50000, f.strings("tokenizer.ggml.merges").length);
                assertEquals(type.toUpperCase(), f.tensor("blk.1.ffn_down.weight").type().name());
                assertEquals("F32", f.tensor("blk.1.ffn_down.bias").type().name());
                assertArrayEquals(new long[] {192, 48}, f.tensor("blk.1.ffn_down.weight").dims());
            }
            Gpt2Weights gw;
            if (type.equals("f32")) {   // the embedded tokenizer once (50k tokens and merges take a while to build)
                Model gg = ModelLoader.load(out);
                assertArrayEquals(ids, gg.tokenizer().encode(text), type + " tokenizer");
                assertEquals(st.tokenizer().eosToken(), gg.tokenizer().eosToken());
                gw = gg.weights();
            } else {
                gw = ModelLoader.loadWeights(out);
            }
            float[] got = lastLogits(gw, ids);
            for (int i = 0; i < want.length; i++)
                assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), type + ": logit " + i);
        }
    }

    @Test
    void generateTakesAGgufFileAndAgreesWithTheDirectory() throws Exception {
        Path out = tmp.resolve("gen.gguf");
        assertEquals(0, run("convert", "--to", "gguf", "--model", modelDir.toString(), "--out", out.toString()).exitCode());
        String[] common = {"--prompt", "Hello there", "--max-new-tokens", "12", "--greedy", "--backend", "cpu", "--json"};
        CliTest.Run a = run(concat(new String[] {"generate", "--model", modelDir.toString()}, common));
        CliTest.Run b = run(concat(new String[] {"generate", "--model", out.toString()}, common));
        assertEquals(0, a.exitCode(), a.err());
        assertEquals(0, b.exitCode(), b.err());
        String tokensA = a.out().replaceAll("(?s).*\"tokens\"\\s*:\\s*(\\[[^\\]]*\\]).*", "$1");
        String tokensB = b.out().replaceAll("(?s).*\"tokens\"\\s*:\\s*(\\[[^\\]]*\\]).*", "$1");
        assertEquals(tokensA, tokensB, a.out() + "\n" + b.out());
        assertTrue(a.out().contains("\"text\""), a.out());
    }

    static String[] concat(String[] a, String[] b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void badGgufInputIsOneLineExitTwo() throws Exception {
        Path bad = tmp.resolve("trunc.gguf");
        byte[] real = Files.readAllBytes(FixtureLogits.dir("gguf-tiny").resolve("model-q8_0.gguf"));
        Files.write(bad, Arrays.copyOf(real, 3000));
        assertUsageError(run("generate", "--model", bad.toString(), "--prompt", "x", "--max-new-tokens", "1"), "trunc.gguf: ");
        Path text = tmp.resolve("notgguf.gguf");
        Files.writeString(text, "hello, not a model");
        assertUsageError(run("tokenize", "--model", text.toString(), "--text", "x"), "notgguf.gguf: not a GGUF file (magic bytes 68 65 6C 6C");
        assertUsageError(run("generate", "--model", tmp.resolve("absent.gguf").toString(), "--prompt", "x"), "GGUF file does not exist");
        Path badVocab = tmp.resolve("bad-vocab");
        Files.createDirectories(badVocab);
        for (String f : new String[] {"config.json", "model.safetensors", "merges.txt"}) Files.copy(modelDir.resolve(f), badVocab.resolve(f));
        Files.writeString(badVocab.resolve("vocab.json"), "{\"a\": 0,");
        assertUsageError(run("convert", "--to", "gguf", "--model", badVocab.toString(), "--out", tmp.resolve("v.gguf").toString()),
                "cannot read the tokenizer");
        assertUsageError(run("convert", "--to", "onnx", "--model", modelDir.toString(), "--out", tmp.resolve("x").toString()), "--to: expected gguf");
        assertUsageError(run("convert", "--to", "gguf", "--model", modelDir.toString(), "--out", tmp.resolve("x.gguf").toString(), "--type", "q4"),
                "--type: expected f32 or f16");
        assertUsageError(run("convert", "--to", "gguf", "--model", modelDir.toString(), "--out", tmp.resolve("no/such/dir/x.gguf").toString()),
                "the folder does not exist");
        Path charOut = tmp.resolve("char.gguf");
        assertUsageError(run("convert", "--to", "gguf", "--model", CliTest.CHAR.toString(), "--out", charOut.toString()),
                "only GPT-2 BPE models can be written as GGUF");
        assertFalse(Files.exists(charOut), "no partial output");
        try (var files = Files.list(tmp)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".part")), "no temporary files left");
        }
    }

    /** A Llama-family GGUF file (issue 20) through generate: its SentencePiece BOS, and --chat with the file's template. */
    @Test
    void generateRunsLlamaFamilyGgufFilesWithTheirTokenizerAndTemplate() throws Exception {
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        Path llama = FixtureLogits.dir("gguf-tiny").getParent().getParent().resolve("llama-fixtures/llama-gqa2-f32/model-f32.gguf");
        CliTest.Run r = run("generate", "--model", llama.toString(), "--prompt", "the theory", "--max-new-tokens", "4",
                "--greedy", "--ignore-eos", "--backend", "cpu", "--json");
        assertEquals(0, r.exitCode(), r.err());
        var o = mapper.readTree(r.out().strip());
        assertEquals(1, o.get("prompt_tokens").get(0).asInt(), "add_bos_token: <s> first");
        assertEquals(4, o.get("tokens").size());

        Path qwen = llama.getParent().getParent().resolve("qwen3-headdim/model-bf16.gguf");
        r = run("generate", "--model", qwen.toString(), "--chat", "--prompt", "hi", "--max-new-tokens", "2",
                "--greedy", "--ignore-eos", "--backend", "cpu", "--json");
        assertEquals(0, r.exitCode(), r.err());
        o = mapper.readTree(r.out().strip());
        int[] want = ModelLoader.load(qwen).tokenizer().encode("<|user|>hi<|assistant|>", false);
        int[] got = new int[o.get("prompt_tokens").size()];
        for (int i = 0; i < got.length; i++) got[i] = o.get("prompt_tokens").get(i).asInt();
        assertArrayEquals(want, got, "the file's chat_template, rendered and encoded");
    }
}
