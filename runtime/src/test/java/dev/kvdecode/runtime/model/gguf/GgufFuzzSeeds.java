package dev.kvdecode.runtime.model.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Writes GgufFuzzTest's seed corpora (docs/FUZZING.md) with the project's {@link GgufWriter}: tiny
 * GPT-2 files (L 1, NH 2, maxT 8, V 8, C 8 or, for block-quantized layers, 32; 3-14 KB) and tiny
 * Llama/Qwen2/Qwen3 files ({@link #llamaModel}) for {@code file}, and one-tensor files of
 * every supported type for {@code header}. Deterministic. Run from the repository root after
 * {@code mvn -pl runtime -am test-compile}:
 * {@code java -cp runtime/target/test-classes:runtime/target/classes:kernels/target/classes:bindings/target/classes dev.kvdecode.runtime.model.gguf.GgufFuzzSeeds}
 * (the tokenizer classes need jackson on the class path too: add it from ~/.m2).
 */
public final class GgufFuzzSeeds {
    private static final Path ROOT = Path.of("runtime/src/test/resources/dev/kvdecode/runtime/fuzz/GgufFuzzTestInputs");
    private static final int P = 8;
    /** GPT-2's 256 byte tokens (a byte-level vocabulary needs them all), two merges and the end-of-text token. */
    private static final List<String> TOKENS = tokens();
    private static final int V = TOKENS.size();

    private GgufFuzzSeeds() {}

    public static void main(String[] args) throws IOException {
        // file: whole models through GgufModels.load
        write("file", "f32-every-value-type", withEveryValueType(model(GgmlType.F32, GgmlType.F32, true, 8)).toBytes());
        write("file", "f16-v2", version2(model(GgmlType.F16, GgmlType.F16, false, 8).toBytes()));
        write("file", "q8_0-q4_0", model(GgmlType.Q8_0, GgmlType.F16, true, 32).toBytes());
        write("file", "q4_0-bf16-norms", model(GgmlType.Q4_0, GgmlType.BF16, false, 32).toBytes());
        byte[] good = model(GgmlType.F32, GgmlType.F32, false, 8).toBytes();
        write("file", "malformed-truncated", Arrays.copyOf(good, good.length - 100));
        byte[] badCount = good.clone();
        badCount[8] = (byte) 0xFF;   // tensor_count's low byte
        write("file", "malformed-tensor-count", badCount);
        // the Llama family (issue 20): SentencePiece and byte-level tokenizers, GQA, biases, q/k norms
        write("file", "llama-spm-q8_0", llamaModel("llama", llamaMetadata("llama", true), GgmlType.Q8_0).toBytes());
        write("file", "qwen2-bytelevel-q8_0", llamaModel("qwen2", llamaMetadata("qwen2", false), GgmlType.Q8_0).toBytes());
        write("file", "qwen3-bytelevel-f16", llamaModel("qwen3", llamaMetadata("qwen3", false), GgmlType.F16).toBytes());
        // header: one tensor of each supported type (Q4_K and Q6_K need 256-element blocks)
        for (GgmlType t : List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
                GgmlType.Q4_K, GgmlType.Q6_K)) {
            long n = t.blockElements == 256 ? 256 : 32;
            GgufWriter w = new GgufWriter().string("general.architecture", "gpt2")
                    .tensor("t." + t.name().toLowerCase(), t, new long[] {n, 1}, () -> pattern(units(t, (int) n), t));
            write("header", t.name().toLowerCase(), t == GgmlType.Q4_K ? version2(w.toBytes()) : w.toBytes());
        }
        write("header", "every-value-type", withEveryValueType(new GgufWriter()).toBytes());
    }

    /** A tied GPT-2 with its embedded byte-level tokenizer; linear layers in {@code linear}, norms and biases in {@code small}. */
    static GgufWriter model(GgmlType linear, GgmlType small, boolean qkvBias, int C) {
        GgufWriter w = new GgufWriter().string("general.architecture", "gpt2")
                .u32("gpt2.block_count", 1).u32("gpt2.embedding_length", C).u32("gpt2.attention.head_count", 2)
                .u32("gpt2.context_length", P).u32("gpt2.feed_forward_length", 4 * C)
                .f32("gpt2.attention.layer_norm_epsilon", 1e-5f)
                .string("tokenizer.ggml.model", "gpt2")
                .strings("tokenizer.ggml.tokens", TOKENS)
                .strings("tokenizer.ggml.merges", List.of("\u0120 a", "a b"))
                .i32s("tokenizer.ggml.token_type", tokenTypes())
                .u32("tokenizer.ggml.eos_token_id", V - 1);
        GgmlType embd = linear == GgmlType.F32 ? GgmlType.F32 : linear == GgmlType.F16 ? GgmlType.F16 : GgmlType.Q4_0;
        w.tensor("token_embd.weight", embd, new long[] {C, V}, () -> pattern(units(embd, C * V), embd));
        w.tensor("position_embd.weight", embd, new long[] {C, P}, () -> pattern(units(embd, C * P), embd));
        vec(w, "blk.0.attn_norm.weight", small, C);
        vec(w, "blk.0.attn_norm.bias", small, C);
        mat(w, "blk.0.attn_qkv.weight", linear, C, 3 * C);
        if (qkvBias) vec(w, "blk.0.attn_qkv.bias", small, 3 * C);
        mat(w, "blk.0.attn_output.weight", linear == GgmlType.Q8_0 ? GgmlType.Q4_0 : linear, C, C);
        vec(w, "blk.0.attn_output.bias", small, C);
        vec(w, "blk.0.ffn_norm.weight", small, C);
        vec(w, "blk.0.ffn_norm.bias", small, C);
        mat(w, "blk.0.ffn_up.weight", linear == GgmlType.Q8_0 ? GgmlType.Q4_0 : linear, C, 4 * C);
        vec(w, "blk.0.ffn_up.bias", small, 4 * C);
        mat(w, "blk.0.ffn_down.weight", linear, 4 * C, C);
        vec(w, "blk.0.ffn_down.bias", small, C);
        vec(w, "output_norm.weight", small, C);
        vec(w, "output_norm.bias", small, C);
        return w;
    }

    /** Sizes of the tiny Llama-family model: C 32, NH 2, NKV 1, HS 16, I 32 (every row a whole Q8_0 block). */
    static final int LC = 32, LNH = 2, LNKV = 1, LHS = 16, LI = 32;

    /**
     * The metadata of a tiny Llama-family model (architecture llama, qwen2 or qwen3), key -> how it
     * is written, in file order; a test may remove or replace entries before {@link #llamaModel}.
     * {@code spm}: a SentencePiece vocabulary (259 tokens: unk, bos, eos and the 256 byte tokens,
     * then U+2581, a, b, U+2581a, ab with scores), else the byte-level one of the GPT-2 seeds with
     * pre-tokenizer qwen2.
     */
    static java.util.LinkedHashMap<String, java.util.function.Consumer<GgufWriter>> llamaMetadata(String arch, boolean spm) {
        var m = new java.util.LinkedHashMap<String, java.util.function.Consumer<GgufWriter>>();
        String p = arch + ".";
        m.put("general.architecture", w -> w.string("general.architecture", arch));
        m.put(p + "block_count", w -> w.u32(p + "block_count", 1));
        m.put(p + "context_length", w -> w.u32(p + "context_length", P));
        m.put(p + "embedding_length", w -> w.u32(p + "embedding_length", LC));
        m.put(p + "feed_forward_length", w -> w.u32(p + "feed_forward_length", LI));
        m.put(p + "attention.head_count", w -> w.u32(p + "attention.head_count", LNH));
        m.put(p + "attention.head_count_kv", w -> w.u32(p + "attention.head_count_kv", LNKV));
        m.put(p + "attention.key_length", w -> w.u32(p + "attention.key_length", LHS));
        m.put(p + "attention.value_length", w -> w.u32(p + "attention.value_length", LHS));
        m.put(p + "attention.layer_norm_rms_epsilon", w -> w.f32(p + "attention.layer_norm_rms_epsilon", 1e-6f));
        m.put(p + "rope.freq_base", w -> w.f32(p + "rope.freq_base", 10000f));
        if (spm) {
            List<String> tokens = new java.util.ArrayList<>(List.of("<unk>", "<s>", "</s>"));
            for (int b = 0; b < 256; b++) tokens.add(String.format("<0x%02X>", b));
            tokens.addAll(List.of("\u2581", "a", "b", "\u2581a", "ab"));
            int[] types = new int[tokens.size()];
            Arrays.fill(types, 1);
            types[0] = 2;
            types[1] = types[2] = 3;
            for (int i = 3; i < 259; i++) types[i] = 6;
            ByteBuffer scores = ByteBuffer.allocate(12 + 4 * tokens.size()).order(ByteOrder.LITTLE_ENDIAN).putInt(6).putLong(tokens.size());
            for (int i = 0; i < tokens.size(); i++) scores.putFloat(i < 259 ? 0f : -i);
            m.put("tokenizer.ggml.model", w -> w.string("tokenizer.ggml.model", "llama"));
            m.put("tokenizer.ggml.tokens", w -> w.strings("tokenizer.ggml.tokens", tokens));
            m.put("tokenizer.ggml.scores", w -> w.raw("tokenizer.ggml.scores", 9, scores.array()));
            m.put("tokenizer.ggml.token_type", w -> w.i32s("tokenizer.ggml.token_type", types));
            m.put("tokenizer.ggml.bos_token_id", w -> w.u32("tokenizer.ggml.bos_token_id", 1));
            m.put("tokenizer.ggml.eos_token_id", w -> w.u32("tokenizer.ggml.eos_token_id", 2));
            m.put("tokenizer.ggml.add_bos_token", w -> w.raw("tokenizer.ggml.add_bos_token", 7, new byte[] {1}));
        } else {
            m.put("tokenizer.ggml.model", w -> w.string("tokenizer.ggml.model", "gpt2"));
            m.put("tokenizer.ggml.pre", w -> w.string("tokenizer.ggml.pre", "qwen2"));
            m.put("tokenizer.ggml.tokens", w -> w.strings("tokenizer.ggml.tokens", TOKENS));
            m.put("tokenizer.ggml.merges", w -> w.strings("tokenizer.ggml.merges", List.of("\u0120 a", "a b")));
            m.put("tokenizer.ggml.token_type", w -> w.i32s("tokenizer.ggml.token_type", tokenTypes()));
            m.put("tokenizer.ggml.eos_token_id", w -> w.u32("tokenizer.ggml.eos_token_id", V - 1));
        }
        m.put("tokenizer.chat_template", w -> w.string("tokenizer.chat_template", "{% for m in messages %}{{ m['content'] }}{% endfor %}"));
        return m;
    }

    /**
     * A tiny Llama-family model with the given metadata (its sizes must stay {@link #LC} etc. for
     * the tensors to fit): qwen2 gets q/k/v biases, qwen3 q/k norms, llama an untied head.
     */
    static GgufWriter llamaModel(String arch, java.util.Map<String, java.util.function.Consumer<GgufWriter>> metadata, GgmlType linear) {
        GgufWriter w = new GgufWriter();
        metadata.values().forEach(kv -> kv.accept(w));
        boolean spm = arch.equals("llama");
        int vocab = spm ? 264 : V;
        int q = LNH * LHS, kv = LNKV * LHS;
        GgmlType small = linear == GgmlType.F16 ? GgmlType.F16 : GgmlType.F32;
        mat(w, "token_embd.weight", linear, LC, vocab);
        vec(w, "blk.0.attn_norm.weight", small, LC);
        mat(w, "blk.0.attn_q.weight", linear, LC, q);
        mat(w, "blk.0.attn_k.weight", linear, LC, kv);
        mat(w, "blk.0.attn_v.weight", linear, LC, kv);
        if (arch.equals("qwen2")) {
            vec(w, "blk.0.attn_q.bias", small, q);
            vec(w, "blk.0.attn_k.bias", small, kv);
            vec(w, "blk.0.attn_v.bias", small, kv);
        }
        if (arch.equals("qwen3")) {
            vec(w, "blk.0.attn_q_norm.weight", small, LHS);
            vec(w, "blk.0.attn_k_norm.weight", small, LHS);
        }
        mat(w, "blk.0.attn_output.weight", linear, q, LC);
        vec(w, "blk.0.ffn_norm.weight", small, LC);
        mat(w, "blk.0.ffn_gate.weight", linear, LC, LI);
        mat(w, "blk.0.ffn_up.weight", linear, LC, LI);
        mat(w, "blk.0.ffn_down.weight", linear, LI, LC);
        vec(w, "output_norm.weight", small, LC);
        if (spm) mat(w, "output.weight", linear, LC, vocab);
        return w;
    }

    private static List<String> tokens() {
        List<String> t = new java.util.ArrayList<>();
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            t.add(String.valueOf((char) (printable ? b : 256 + extra++)));
        }
        t.sort(null);   // any order: ids are the list positions
        t.addAll(List.of("\u0120a", "ab", "<|endoftext|>"));
        return t;
    }

    private static int[] tokenTypes() {
        int[] types = new int[TOKENS.size()];
        Arrays.fill(types, 1);
        types[types.length - 1] = 3;   // control
        return types;
    }

    private static void vec(GgufWriter w, String name, GgmlType t, int n) { w.tensor(name, t, new long[] {n}, () -> pattern(n, t)); }

    private static void mat(GgufWriter w, String name, GgmlType t, int in, int out) {
        w.tensor(name, t, new long[] {in, out}, () -> pattern(units(t, in * out), t));
    }

    /** pattern's n for {@code elements} elements: the element count, or the byte count of a block-quantized type. */
    private static int units(GgmlType t, int elements) {
        return t.blockElements == 1 ? elements : elements / t.blockElements * t.blockBytes;
    }

    /** {@code n} elements of type {@code t} (block-quantized types: {@code n} is the byte count): small finite values. */
    private static ByteBuffer pattern(int n, GgmlType t) {
        ByteBuffer b = ByteBuffer.allocate(t.blockElements == 1 ? n * t.blockBytes : n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; b.hasRemaining(); i++) {
            float v = ((i * 7) % 11 - 5) * 0.05f;
            switch (t) {
                case F32 -> b.putFloat(v);
                case F16 -> b.putShort(Float.floatToFloat16(v));
                case BF16 -> b.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
                default -> {
                    // quantized: every block's leading f16 scale(s) small and finite, the quants a ramp
                    if (i % t.blockBytes < 2) b.put((byte) (i % t.blockBytes == 0 ? 0x00 : 0x20));
                    else b.put((byte) (i * 37));
                }
            }
        }
        return b.flip();
    }

    /** One key of every GGUF value type, arrays of several element types included. */
    static GgufWriter withEveryValueType(GgufWriter w) {
        int code = 0;
        for (int size : new int[] {1, 1, 2, 2, 4, 4, 4, 1}) {   // UINT8 .. BOOL
            byte[] v = new byte[size];
            v[0] = 1;
            w.raw("fuzz.type" + code, code++, v);
        }
        w.string("fuzz.string", "caf\u00e9");
        w.i32s("fuzz.array.i32", new int[] {1, -2, 3});
        w.strings("fuzz.array.string", List.of("x", ""));
        w.raw("fuzz.array.f32", 9, ByteBuffer.allocate(12 + 8).order(ByteOrder.LITTLE_ENDIAN).putInt(6).putLong(2).putFloat(0.5f).putFloat(-1f).array());
        w.raw("fuzz.array.bool", 9, ByteBuffer.allocate(12 + 2).order(ByteOrder.LITTLE_ENDIAN).putInt(7).putLong(2).put((byte) 0).put((byte) 1).array());
        w.raw("fuzz.array.empty", 9, ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putInt(10).putLong(0).array());
        w.raw("fuzz.type10", 10, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(-1L >>> 1).array());
        w.raw("fuzz.type11", 11, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(-5).array());
        w.raw("fuzz.type12", 12, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putDouble(1e-300).array());
        return w;
    }

    /** The same file as GGUF v2 (the layout is v3's; only the version field differs). */
    private static byte[] version2(byte[] v3) {
        byte[] b = v3.clone();
        b[4] = 2;
        return b;
    }

    private static void write(String method, String name, byte[] bytes) throws IOException {
        Path d = ROOT.resolve(method);
        Files.createDirectories(d);
        Files.write(d.resolve(name), bytes);
        System.out.println(d.resolve(name) + ": " + bytes.length + " bytes");
    }
}
