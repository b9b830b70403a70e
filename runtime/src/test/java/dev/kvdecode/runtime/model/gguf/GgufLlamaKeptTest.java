package dev.kvdecode.runtime.model.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvdecode.kernels.CpuThreads;
import dev.kvdecode.runtime.cpu.CpuBackend;
import dev.kvdecode.runtime.cpu.CpuSession;
import dev.kvdecode.runtime.cpu.CpuWeightFormat;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.model.ModelLoader;
import dev.kvdecode.runtime.model.StoredWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Llama-family GGUF files with quantized matrices run on the CPU kept quantized (issue 20):
 * q|k|v and gate|up fused from their tensors' rows (the llama q/k permutation undone by reordering
 * whole rows of blocks), the head tied or not, memory about the file's bytes, and logits
 * <ul>
 *   <li>within 1e-5 relative per position of transformers (float64) on the gguf package's
 *       dequantization (the Q8_0 fixtures of scripts/reference/make_llama_gguf_fixtures.py);</li>
 *   <li>bit for bit those of the dequantized fp32 model ({@link GgufModels#loadWeights}, whose q/k
 *       unpermutation runs on floats: an independent path) when no matrix is Q8_0 (GgmlMatmul's
 *       kernels are that fp32 matmul exactly), else within 1e-5 relative, for files of mixed
 *       formats built here: fused groups of one format, of several (StoredMatrix.concat), F32 and
 *       F16 parts among them, and K-quants (C, I and the q width 256).</li>
 * </ul>
 */
class GgufLlamaKeptTest {
    static final CpuBackend CPU = new CpuBackend(2, CpuWeightFormat.FP32);

    @AfterAll
    static void close() { CPU.close(); }

    static float[] reference(Gpt2Weights deq, int[] prompt) {
        return GgufKeptQuantizedTest.logits(o -> new CpuSession(deq, o, CpuThreads.common(), GgufKeptQuantizedTest.headAsMatmul(deq)),
                prompt, deq.config().vocabSize());
    }

    static void assertKept(Model m, String file) {
        assertNotNull(m.stored(), file + " is kept quantized");
        for (LayerWeights l : m.weights().layers()) {
            assertNull(l.attnWeight(), "no fp32 q|k|v");
            assertNull(l.fcWeight(), "no fp32 gate|up");
            assertNull(l.attnProjWeight());
            assertNull(l.fcProjWeight());
        }
    }

    /** Kept bytes over the file's bytes of its 2-D tensors. */
    static double memoryRatio(Model m, Path file) {
        long fileBytes = 0;
        try (GgufFile f = GgufFile.open(file)) {
            for (GgufFile.Tensor t : f.tensors().values()) if (t.dims().length == 2) fileBytes += t.sizeBytes();
        }
        return (double) m.stored().bytes() / fileBytes;
    }

    @ParameterizedTest
    @CsvSource({"llama-gqa2-f32", "qwen2-bias", "llama3-mha-bf16"})
    void q8FixturesKeptQuantizedMatchTransformersAndTheDequantizedModel(String name) throws Exception {
        Path dir = GgufLlamaTest.fixture(name);
        Path file = dir.resolve("model-q8_0.gguf");
        JsonNode ref = GgufLlamaTest.reference(dir).get("files").get("model-q8_0.gguf");
        int[] prompt = GgufLlamaTest.ints(GgufLlamaTest.reference(dir).get("prompt_ids"));
        Model m = ModelLoader.load(file);
        assertKept(m, name);
        assertEquals(new TreeSet<>(List.of("Q8_0")), m.stored().formats());
        if (m.config().tiedHead()) assertSame(m.stored().head(), m.stored().tokenEmbedding(), "tied head: one matrix");
        double ratio = memoryRatio(m, file);
        assertTrue(ratio >= 1.0 && ratio < 1.2, name + ": kept/file bytes " + ratio);

        int V = m.config().vocabSize();
        float[] got = GgufKeptQuantizedTest.logits(o -> CPU.open(m, o), prompt, V);
        ByteBuffer bb = ByteBuffer.wrap(Files.readAllBytes(dir.resolve(ref.get("logits_file").asText()))).order(ByteOrder.LITTLE_ENDIAN);
        float[] want = new float[prompt.length * V];
        for (int i = 0; i < want.length; i++) want[i] = (float) bb.getDouble();
        for (int t = 0; t < prompt.length; t++) {
            double err = GgufFixtureTest.relErr(got, want, t * V, V);
            assertTrue(err < GgufLlamaTest.BOUND, name + " position " + t + ": rel err " + err + " vs transformers");
        }
        float[] deq = reference(GgufModels.loadWeights(file, s -> {}), prompt);
        for (int t = 0; t < prompt.length; t++) {
            double err = GgufFixtureTest.relErr(got, deq, t * V, V);
            assertTrue(err < GgufLlamaTest.BOUND, name + " position " + t + ": rel err " + err + " vs the dequantized model");
        }
    }

    /**
     * A llama file (q/k permuted, SentencePiece vocabulary of 264, untied or tied head) of random
     * weights: each matrix in the type the plan names (q k v o gate up down embd output; "-" for
     * output: tied), norms F32.
     */
    static Path llamaFile(Path dir, String plan, int C, int NH, int NKV, int HS, int I, long seed) throws Exception {
        String[] t = plan.split(" ");
        var meta = GgufFuzzSeeds.llamaMetadata("llama", true);
        meta.put("llama.embedding_length", w -> w.u32("llama.embedding_length", C));
        meta.put("llama.feed_forward_length", w -> w.u32("llama.feed_forward_length", I));
        meta.put("llama.attention.head_count", w -> w.u32("llama.attention.head_count", NH));
        meta.put("llama.attention.head_count_kv", w -> w.u32("llama.attention.head_count_kv", NKV));
        meta.put("llama.attention.key_length", w -> w.u32("llama.attention.key_length", HS));
        meta.put("llama.attention.value_length", w -> w.u32("llama.attention.value_length", HS));
        GgufWriter w = new GgufWriter();
        meta.values().forEach(kv -> kv.accept(w));
        SplittableRandom r = new SplittableRandom(seed);
        int V = 264, q = NH * HS, kv = NKV * HS;
        mat(w, "token_embd.weight", t[7], C, V, r);
        ones(w, "blk.0.attn_norm.weight", C);
        mat(w, "blk.0.attn_q.weight", t[0], C, q, r);
        mat(w, "blk.0.attn_k.weight", t[1], C, kv, r);
        mat(w, "blk.0.attn_v.weight", t[2], C, kv, r);
        mat(w, "blk.0.attn_output.weight", t[3], q, C, r);
        ones(w, "blk.0.ffn_norm.weight", C);
        mat(w, "blk.0.ffn_gate.weight", t[4], C, I, r);
        mat(w, "blk.0.ffn_up.weight", t[5], C, I, r);
        mat(w, "blk.0.ffn_down.weight", t[6], I, C, r);
        ones(w, "output_norm.weight", C);
        if (!t[8].equals("-")) mat(w, "output.weight", t[8], C, V, r);
        Path file = dir.resolve(plan.replace(' ', '_').replace("-", "tied") + ".gguf");
        w.write(file);
        return file;
    }

    private static void ones(GgufWriter w, String name, int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, 1f);
        w.floats(name, GgmlType.F32, new long[] {n}, v);
    }

    /** Random weights of about +-0.1: F32 / F16 values, or random blocks with small fp16 scales. */
    private static void mat(GgufWriter w, String name, String type, int in, int out, SplittableRandom r) {
        GgmlType t = GgmlType.valueOf(type);
        long[] dims = {in, out};
        if (t == GgmlType.F32 || t == GgmlType.F16) {
            float[] v = new float[in * out];
            for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextDouble() * 0.2 - 0.1);
            w.floats(name, t, dims, v);
            return;
        }
        int blocks = in * out / t.blockElements;
        ByteBuffer b = ByteBuffer.allocate(blocks * t.blockBytes).order(ByteOrder.LITTLE_ENDIAN);
        byte[] block = new byte[t.blockBytes];
        for (int k = 0; k < blocks; k++) {
            r.nextBytes(block);
            ByteBuffer bl = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
            float d = (float) (0.005 + 0.01 * r.nextDouble());
            switch (t) {
                case Q8_0, Q4_0 -> bl.putShort(0, Float.floatToFloat16(t == GgmlType.Q8_0 ? d / 8 : d * 2));
                case Q4_K -> {   // d * 6-bit scale * 4-bit q - dmin * 6-bit min
                    bl.putShort(0, Float.floatToFloat16(d / 40));
                    bl.putShort(2, Float.floatToFloat16(d / 20));
                }
                case Q6_K -> bl.putShort(208, Float.floatToFloat16(d / 200));   // d * int8 scale * 6-bit q
                default -> throw new IllegalArgumentException(type);
            }
            b.put(block);
        }
        w.tensor(name, t, dims, () -> b.flip());
    }

    @ParameterizedTest
    @CsvSource({
            // fused groups of one quantized format, of several (q|k|v as parts, an F32 and an F16 among them)
            "'Q4_0 F32 Q4_0 Q4_0 Q4_0 Q4_0 F16 Q4_0 Q4_0', 32, 2, 1, 16, 32, true",
            "'Q4_0 Q4_0 Q4_0 Q4_0 F16 Q4_0 Q4_0 Q4_0 -', 64, 4, 2, 16, 96, true",
            "'Q8_0 Q4_0 Q8_0 Q8_0 Q8_0 F32 Q4_0 Q8_0 -', 64, 4, 2, 16, 64, false",
            "'Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0', 32, 2, 2, 16, 64, false",
            // K-quants (a llama.cpp Q4_K_M-like mix: v, o, down Q6_K)
            "'Q4_K Q4_K Q6_K Q6_K Q4_K Q4_K Q6_K Q6_K Q4_K', 256, 2, 1, 128, 256, true",
            "'Q4_K Q6_K Q4_K Q4_K Q6_K Q4_K Q4_K Q4_K -', 256, 2, 2, 128, 256, true"})
    void mixedFormatFilesGiveTheDequantizedModelsLogits(String plan, int C, int NH, int NKV, int HS, int I, boolean bitExact,
                                                        @TempDir Path dir) throws Exception {
        // the experimental factored Q4_K kernel (-Dkvdecode.ggml.factored=true) are within an fp32 bound, not exact
        bitExact &= !(dev.kvdecode.kernels.Matmul.ggmlFactored() && plan.contains("Q4_K"));
        Path file = llamaFile(dir, plan, C, NH, NKV, HS, I, plan.hashCode());
        Model m = ModelLoader.load(file);
        assertKept(m, plan);
        StoredWeights st = m.stored();
        TreeSet<String> want = new TreeSet<>();
        for (String s : plan.split(" ")) if (!s.equals("-")) want.add(s.equals("F16") ? "F32" : s);
        assertEquals(want, st.formats(), plan);
        if (plan.endsWith("-")) assertSame(st.head(), st.tokenEmbedding(), "tied head: one matrix");
        String[] t = plan.split(" ");
        boolean qkvOne = t[0].equals(t[1]) && t[1].equals(t[2]);
        assertEquals(qkvOne, st.attn()[0].parts() == null, plan + ": q|k|v as " + st.attn()[0].format());
        assertEquals(C, st.attn()[0].in());
        assertEquals(NH * HS + 2 * NKV * HS, st.attn()[0].out());
        assertEquals(2 * I, st.fc()[0].out());
        double ratio = memoryRatio(m, file);
        assertTrue(ratio >= 1.0 && ratio < 1.2 || plan.contains("F16"), plan + ": kept/file bytes " + ratio);

        int[] prompt = {1, 259, 260, 5, 100, 263, 42, 2};
        int V = m.config().vocabSize();
        float[] got = GgufKeptQuantizedTest.logits(o -> CPU.open(m, o), prompt, V);
        List<String> notices = new ArrayList<>();
        float[] ref = reference(GgufModels.loadWeights(file, notices::add), prompt);
        double worst = 0;
        for (int i = 0; i < ref.length; i++) {
            assertTrue(Float.isFinite(got[i]), plan + ": logit " + i);
            if (bitExact) assertEquals(Float.floatToRawIntBits(ref[i]), Float.floatToRawIntBits(got[i]), plan + ": logit " + i);
            worst = Math.max(worst, Math.abs((double) got[i] - ref[i]));
        }
        for (int p = 0; p < prompt.length; p++) {
            double err = GgufFixtureTest.relErr(got, ref, p * V, V);
            assertTrue(err < GgufLlamaTest.BOUND, plan + " position " + p + ": rel err " + err);
        }
        System.out.printf("llama gguf %s kept quantized: max |logit - dequantized fp32 model's| = %.3g%n", plan, worst);
        // Model.fp32Weights (CUDA, --dtype) gives the loader's fp32 reference bit for bit
        Gpt2Weights back = m.fp32Weights();
        Gpt2Weights deq = GgufModels.loadWeights(file, s -> {});
        for (int l = 0; l < deq.layers().size(); l++) {
            LayerWeights a = deq.layers().get(l), b = back.layers().get(l);
            GgufLlamaTest.assertSameBits(a.attnWeight(), b.attnWeight(), "q|k|v");
            GgufLlamaTest.assertSameBits(a.fcWeight(), b.fcWeight(), "gate|up");
            GgufLlamaTest.assertSameBits(a.attnProjWeight(), b.attnProjWeight(), "o");
            GgufLlamaTest.assertSameBits(a.fcProjWeight(), b.fcProjWeight(), "down");
        }
        GgufLlamaTest.assertSameBits(deq.wte(), back.wte(), "wte");
        GgufLlamaTest.assertSameBits(deq.lmHead(), back.lmHead(), "head");
    }
}
