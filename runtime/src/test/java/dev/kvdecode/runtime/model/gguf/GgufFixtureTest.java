package dev.kvdecode.runtime.model.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.kernels.Q8Matrix;
import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.cpu.CpuSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.model.FixtureLogits;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelLoader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * GGUF files written by the {@code gguf} Python package (scripts/reference/make_gguf_fixtures.py,
 * fixtures/gguf-tiny): F32/F16 give the same logits, bit for bit, as the safetensors checkpoint of
 * the same weights; every quantized tensor dequantizes to exactly the package's values; and the
 * logits of each quantized file match the float64 numpy forward on its dequantized weights.
 */
class GgufFixtureTest {
    static final CpuThreads POOL = new CpuThreads(2);
    static final Path DIR = FixtureLogits.dir("gguf-tiny");
    static final double BOUND = 1e-5;

    @AfterAll
    static void closePool() { POOL.close(); }

    static JsonNode reference() throws Exception {
        return new ObjectMapper().readTree(DIR.resolve("reference.json").toFile());
    }

    /** Logits of every prompt position (T, V), each position cached and stepped. */
    static float[] logits(Gpt2Weights w, int[] prompt) {
        int V = w.config().vocabSize();
        float[] out = new float[prompt.length * V];
        try (var s = new CpuSession(w, new SessionOptions(1, prompt.length, OverflowPolicy.STOP, true), POOL)) {
            float[] got = s.prefill(new int[][] {{prompt[0]}});
            for (int t = 0; t < prompt.length; t++) {
                if (t > 0) got = s.step(new int[] {prompt[t]});
                System.arraycopy(got, 0, out, t * V, V);
            }
        }
        return out;
    }

    static double relErr(float[] got, float[] ref, int off, int n) {
        double num = 0, den = 0;
        for (int i = off; i < off + n; i++) {
            num = Math.max(num, Math.abs((double) got[i] - ref[i]));
            den = Math.max(den, Math.abs((double) ref[i]));
        }
        return num / den;
    }

    @ParameterizedTest
    @ValueSource(strings = {"model-f32.gguf", "model-f16.gguf"})
    void f32AndF16GiveBitIdenticalLogitsToSafetensors(String file) throws Exception {
        FixtureLogits fx = FixtureLogits.read(DIR);
        Gpt2Weights st = ModelLoader.loadWeights(DIR);
        Gpt2Weights gg = ModelLoader.loadWeights(DIR.resolve(file));
        assertEquals(st.config(), gg.config());
        float[] a = logits(st, fx.promptIds()), b = logits(gg, fx.promptIds());
        for (int i = 0; i < a.length; i++)
            assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]), file + ": logit " + i + " differs");
        // and both are the numpy reference's
        int V = fx.cols();
        for (int t = 0; t < fx.rows(); t++)
            assertTrue(relErr(b, fx.logits(), t * V, V) <= BOUND, file + " position " + t);
    }

    @ParameterizedTest
    @ValueSource(strings = {"model-f32.gguf", "model-f16.gguf", "model-q8_0.gguf", "model-q4_0.gguf", "model-q4_k.gguf", "model-q6_k.gguf"})
    void everyTensorReadsAsTheGgufPackageDequantizesIt(String file) throws Exception {
        JsonNode tensors = reference().path("gguf").path(file).path("tensors");
        assertTrue(tensors.size() > 10, "reference lists the tensors");
        try (GgufFile f = GgufFile.open(DIR.resolve(file))) {
            assertEquals(tensors.size(), f.tensors().size());
            for (Iterator<Map.Entry<String, JsonNode>> it = tensors.properties().iterator(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                GgufFile.Tensor t = f.tensor(e.getKey());
                assertEquals(e.getValue().path("type").asText(), t.type().name(), e.getKey());
                float[] v = f.readFloats(e.getKey());
                for (int i = 0; i < 3; i++)
                    assertEquals((float) e.getValue().path("first").get(i).asDouble(), v[i], file + " " + e.getKey() + "[" + i + "]");
                ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
                for (float x : v) b.putFloat(x);
                String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array()));
                assertEquals(e.getValue().path("sha256").asText(), sha, file + ": " + e.getKey() + " (" + t.type() + ") dequantizes differently");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"q8_0", "q4_0", "q4_k", "q6_k"})
    void quantizedLogitsMatchTheNumpyForwardOnDequantizedWeights(String type) throws Exception {
        FixtureLogits fx = FixtureLogits.read(DIR);
        float[][] ref = new float[1][];
        int[] shape = FixtureLogits.readNpyF32(DIR.resolve("logits-" + type + ".npy"), ref);
        Gpt2Weights w = ModelLoader.loadWeights(DIR.resolve("model-" + type + ".gguf"));
        float[] got = logits(w, fx.promptIds());
        int V = shape[1];
        double worst = 0;
        for (int t = 0; t < shape[0]; t++) {
            double e = relErr(got, ref[0], t * V, V);
            worst = Math.max(worst, e);
            assertTrue(e <= BOUND, type + " position " + t + ": rel err " + e);
        }
        // the quantization itself moved the logits far more than the bound: the test sees the format
        assertTrue(relErr(fx.logits(), ref[0], 0, ref[0].length) > 100 * BOUND, type + " logits equal the unquantized ones");
        System.out.printf("gguf %s vs numpy on dequantized weights: worst rel err %.3g%n", type, worst);
    }

    /**
     * Q8_0 is the int8 format's block (32 inputs of a column, one scale): the file's blocks map
     * onto {@link Q8Matrix} as they are, and re-quantizing the dequantized weights (what
     * {@code --dtype int8} does with a Q8_0 file's fp32 copy) gives the same int8 values and
     * scales, since each gguf-quantized block has a |q| of 127, so 127 d / 127 = d exactly.
     */
    @Test
    void q8_0BlocksAreTheInt8FormatsBlocks() {
        try (GgufFile f = GgufFile.open(DIR.resolve("model-q8_0.gguf"))) {
            int C = 64;
            int[][] shapes = {{C, 3 * C}, {C, C}, {C, 4 * C}, {4 * C, C}};
            String[] names = {"attn_qkv", "attn_output", "ffn_up", "ffn_down"};
            for (int k = 0; k < 4; k++) {
                String name = "blk.0." + names[k] + ".weight";
                int in = shapes[k][0], out = shapes[k][1];
                Q8Matrix fromFile = Q8Matrix.ofQ8_0(f.raw(name), in, out);
                float[] wt = f.readFloats(name), w = new float[wt.length];
                for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) w[i * out + o] = wt[o * in + i];
                Q8Matrix requantized = Q8Matrix.quantize(w, in, out);
                for (int i = 0; i < in; i++)
                    for (int c = 0; c < out; c++) {
                        assertEquals(w[i * out + c], fromFile.get(i, c), name + " W[" + i + ", " + c + "]");
                        assertEquals(fromFile.q(i, c), requantized.q(i, c), name + " q[" + i + ", " + c + "]");
                    }
                for (int b = 0; b < in / 32; b++)
                    for (int c = 0; c < out; c++)
                        assertEquals(fromFile.scale(b, c), requantized.scale(b, c), name + " scale[" + b + ", " + c + "]");
            }
        }
    }

    /**
     * BF16 (which gguf 0.19 writes but the committed fixtures leave out for size): the F32 file's
     * tensors rewritten by our writer with every matrix narrowed to bf16 read back as exactly the
     * widened bf16 values, and the model runs on them.
     */
    @Test
    void bf16TensorsWidenExactly(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("bf16.gguf");
        try (GgufFile f = GgufFile.open(DIR.resolve("model-f32.gguf"))) {
            GgufWriter w = new GgufWriter().string("general.architecture", "gpt2");
            for (String k : new String[] {"gpt2.block_count", "gpt2.context_length", "gpt2.embedding_length", "gpt2.attention.head_count"})
                w.u32(k, f.integer(k, 1, 1 << 20));
            w.f32("gpt2.attention.layer_norm_epsilon", (float) f.floating("gpt2.attention.layer_norm_epsilon"));
            for (GgufFile.Tensor t : f.tensors().values()) {
                float[] v = f.readFloats(t.name());
                if (t.dims().length == 1) {
                    w.floats(t.name(), GgmlType.F32, t.dims(), v);
                    continue;
                }
                w.tensor(t.name(), GgmlType.BF16, t.dims(), () -> {
                    ByteBuffer b = ByteBuffer.allocate(2 * v.length).order(ByteOrder.LITTLE_ENDIAN);
                    for (float x : v) b.putShort(dev.kvdecode.kernels.HalfFormat.BF16.narrow(x));
                    return b.flip();
                });
            }
            w.write(out);
            try (GgufFile g = GgufFile.open(out)) {
                assertEquals(GgmlType.BF16, g.tensor("blk.0.ffn_up.weight").type());
                for (GgufFile.Tensor t : f.tensors().values()) {
                    float[] v = f.readFloats(t.name()), got = g.readFloats(t.name());
                    for (int i = 0; i < v.length; i++) {
                        float want = t.dims().length == 1 ? v[i]
                                : dev.kvdecode.kernels.HalfFormat.BF16.widen(dev.kvdecode.kernels.HalfFormat.BF16.narrow(v[i]));
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got[i]), t.name() + "[" + i + "]");
                    }
                }
            }
        }
        Gpt2Weights w = ModelLoader.loadWeights(out);
        assertEquals("mixed", w.storedDtype());
        FixtureLogits fx = FixtureLogits.read(DIR);
        float[] got = logits(w, fx.promptIds());
        // bf16 keeps 8 bits: the logits move, but stay near the reference
        assertTrue(relErr(got, fx.logits(), 0, fx.cols()) < 0.05, "bf16 logits near the F16 ones");
    }

    @Test
    void embeddedTokenizerGivesHfTokenizersIds() throws Exception {
        Model m = ModelLoader.load(DIR.resolve("model-f16.gguf"));
        assertEquals("model-f16", m.name());
        assertEquals(287, m.tokenizer().eosToken());
        for (JsonNode c : reference().path("tokenizer_cases")) {
            int[] want = new int[c.path("ids").size()];
            for (int i = 0; i < want.length; i++) want[i] = c.path("ids").get(i).asInt();
            assertArrayEquals(want, m.tokenizer().encode(c.path("text").asText()), c.path("text").asText());
        }
    }
}
