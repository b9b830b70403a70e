package dev.kvdecode.runtime.model.gguf;

import dev.kvdecode.runtime.model.FixtureLogits;
import dev.kvdecode.runtime.model.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Malformed GGUF files, each written by this test: every one is refused with a one-line
 * {@link ModelFormatException} naming the file and the field, before any out-of-bounds read. The
 * builder writes a valid two-tensor file by default; each case changes one thing.
 */
class GgufMalformedTest {

    /** A hand-rolled GGUF builder with every field overridable (the main writer only writes valid files). */
    static final class Raw {
        int magic = GgufFile.MAGIC;
        long version = 3;
        Long tensorCount, kvCount;          // null: the real counts
        final List<byte[]> kvs = new ArrayList<>();
        final List<byte[]> infos = new ArrayList<>();
        byte[] data = new byte[0];
        int truncate = -1;                   // cut the file to this many bytes

        static ByteBuffer le(int n) { return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN); }

        static byte[] str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return le(8 + b.length).putLong(b.length).put(b).array();
        }

        static byte[] cat(byte[]... parts) {
            ByteArrayOutputStream o = new ByteArrayOutputStream();
            for (byte[] p : parts) o.writeBytes(p);
            return o.toByteArray();
        }

        static byte[] u32(long v) { return le(4).putInt((int) v).array(); }

        static byte[] u64(long v) { return le(8).putLong(v).array(); }

        Raw kv(String key, int type, byte[] value) {
            kvs.add(cat(str(key), u32(type), value));
            return this;
        }

        Raw tensor(String name, long[] dims, long type, long offset) {
            byte[] d = new byte[0];
            for (long x : dims) d = cat(d, u64(x));
            infos.add(cat(str(name), u32(dims.length), d, u32(type), u64(offset)));
            return this;
        }

        /** The valid default: an architecture string, two F32 tensors [8] and [4, 2] at 0 and 32. */
        static Raw valid() {
            Raw r = new Raw();
            r.kv("general.architecture", 8, str("gpt2"));
            r.tensor("a", new long[] {8}, 0, 0);
            r.tensor("b", new long[] {4, 2}, 0, 32);
            r.data = new byte[64];
            return r;
        }

        byte[] bytes() {
            byte[] head = cat(u32(magic), u32(version), u64(tensorCount != null ? tensorCount : infos.size()),
                    u64(kvCount != null ? kvCount : kvs.size()));
            for (byte[] k : kvs) head = cat(head, k);
            for (byte[] t : infos) head = cat(head, t);
            int pad = (int) ((32 - head.length % 32) % 32);
            byte[] all = cat(head, new byte[pad], data);
            return truncate >= 0 ? Arrays.copyOf(all, truncate) : all;
        }
    }

    record Case(String name, Consumer<Raw> change, String expected) {
        @Override public String toString() { return name; }
    }

    static List<Case> cases() {
        return List.of(
                new Case("bad magic", r -> r.magic = 0x58554747, "not a GGUF file (magic bytes 47 47 55 58"),
                new Case("version 1", r -> r.version = 1, "GGUF version 1 is not supported"),
                new Case("big-endian version", r -> r.version = 0x03000000, "big-endian"),
                new Case("version 4", r -> r.version = 4, "GGUF version 4 is not supported"),
                new Case("huge tensor count", r -> r.tensorCount = 1L << 62, "tensor_count 4611686018427387904 is more than"),
                new Case("tensor count as a negative u64", r -> r.tensorCount = -1L, "tensor_count 18446744073709551615 is more than"),
                new Case("huge kv count", r -> r.kvCount = 1_000_000L, "kv_count 1000000 is more than"),
                new Case("key length past the end", r -> r.kvs.set(0, Raw.cat(Raw.u64(1 << 20), "x".getBytes())),
                        "metadata key 0: string length 1048576 runs past the end"),
                new Case("key length huge", r -> r.kvs.set(0, Raw.u64(-5)), "metadata key 0: string length 18446744073709551611 runs past"),
                new Case("empty key", r -> r.kv("", 4, Raw.u32(1)), "metadata key 1 is empty"),
                new Case("unknown value type", r -> r.kv("x.y", 99, Raw.u32(1)), "metadata x.y has unknown value type 99"),
                new Case("array of arrays", r -> r.kv("x.arr", 9, Raw.cat(Raw.u32(9), Raw.u64(1))), "metadata x.arr is an array of arrays"),
                new Case("array length huge", r -> r.kv("x.arr", 9, Raw.cat(Raw.u32(5), Raw.u64(1L << 40))),
                        "metadata x.arr: array length 1099511627776 of INT32 runs past the end"),
                new Case("string array element past the end", r -> r.kv("tokenizer.ggml.tokens", 9,
                        Raw.cat(Raw.u32(8), Raw.u64(2), Raw.str("a"), Raw.u64(1 << 30))), "metadata tokenizer.ggml.tokens[1]: string length 1073741824 runs past the end"),
                new Case("string value past the end", r -> r.kv("general.name", 8, Raw.u64(1L << 33)), "metadata general.name: string length 8589934592 runs past"),
                new Case("bool not 0 or 1", r -> r.kv("x.flag", 7, new byte[] {7}), "metadata x.flag: BOOL byte 7 is neither 0 nor 1"),
                new Case("u64 above Long.MAX_VALUE", r -> r.kv("x.big", 10, Raw.u64(-1)), "metadata x.big: UINT64 18446744073709551615 is too large"),
                new Case("duplicate key", r -> r.kv("general.architecture", 8, Raw.str("llama")), "metadata key general.architecture appears twice"),
                new Case("alignment not a power of two", r -> r.kv("general.alignment", 4, Raw.u32(48)), "general.alignment 48 is not a power of two"),
                new Case("alignment zero", r -> r.kv("general.alignment", 4, Raw.u32(0)), "general.alignment 0 is not a power of two"),
                new Case("alignment of the wrong type", r -> r.kv("general.alignment", 8, Raw.str("32")), "general.alignment is STRING, expected UINT32"),
                new Case("n_dims 5", r -> r.infos.set(0, Raw.cat(Raw.str("a"), Raw.u32(5), Raw.u64(1), Raw.u64(1), Raw.u64(1), Raw.u64(1), Raw.u64(8), Raw.u32(0), Raw.u64(0))),
                        "tensor a: n_dims 5 is not in 1..4"),
                new Case("n_dims 0", r -> r.infos.set(0, Raw.cat(Raw.str("a"), Raw.u32(0), Raw.u32(0), Raw.u64(0))), "tensor a: n_dims 0 is not in 1..4"),
                new Case("dims overflow", r -> r.tensor("c", new long[] {1L << 40, 1L << 40}, 0, 64), "tensor c: dimensions [1099511627776, 1099511627776] have too many elements"),
                new Case("dim as a negative u64", r -> r.tensor("c", new long[] {-8}, 0, 64), "tensor c: ne[0] 18446744073709551608 is too large"),
                new Case("unknown ggml type", r -> r.tensor("c", new long[] {8}, 99, 64), "tensor c has unknown ggml type id 99"),
                new Case("unsupported ggml type", r -> r.tensor("c", new long[] {256}, 13, 64), "tensor c has type Q5_K; kvdecode reads F32, F16, BF16"),
                new Case("row not a whole number of blocks", r -> r.tensor("c", new long[] {33}, 8, 64), "tensor c: ne[0] 33 is not a multiple of Q8_0's block of 32"),
                new Case("misaligned offset", r -> r.tensor("c", new long[] {8}, 0, 68), "tensor c: offset 68 is not a multiple of the alignment 32"),
                new Case("offset past the end", r -> r.tensor("c", new long[] {8}, 0, 1L << 20), "tensor c: 32 bytes at data offset 1048576 run past the end of the file"),
                new Case("offset as a negative u64", r -> r.tensor("c", new long[] {8}, 0, -32), "tensor c: offset 18446744073709551584 is past the end"),
                new Case("data truncated", r -> r.truncate = 200, "run past the end of the file"),
                new Case("overlapping tensors", r -> r.tensor("c", new long[] {16}, 0, 0), "overlap"),
                new Case("duplicate tensor name", r -> r.tensor("a", new long[] {8}, 0, 64), "tensor a appears twice"),
                new Case("tensor name too long", r -> r.tensor("x".repeat(64), new long[] {8}, 0, 64), "string length 64 exceeds 63 bytes"),
                new Case("truncated inside the counts", r -> r.truncate = 12, "file ends inside tensor_count"),
                new Case("empty file", r -> r.truncate = 0, "file ends inside the magic"),
                new Case("truncated inside a tensor info", r -> r.truncate = 100, "file ends inside tensor"));
    }

    static String fail(byte[] bytes) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufFile.parse(bytes));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), "one line: " + m);
        assertTrue(m.startsWith("<bytes>: "), "names the file: " + m);
        return m;
    }

    @Test
    void theValidDefaultParses() {
        GgufFile f = GgufFile.parse(Raw.valid().bytes());
        assertEquals(3, f.version());
        assertEquals("gpt2", f.string("general.architecture"));
        assertArrayEquals(new long[] {4, 2}, f.tensor("b").dims());
        assertEquals(8, f.readFloats("b").length);
    }

    @ParameterizedTest
    @MethodSource("cases")
    void isRefusedWithOneLine(Case c) {
        Raw r = Raw.valid();
        c.change().accept(r);
        String m = fail(r.bytes());
        assertTrue(m.contains(c.expected()), () -> c.name() + ": expected '" + c.expected() + "' in: " + m);
    }

    /** A Llama-family file whose metadata is changed by {@code change} (GgufFuzzSeeds.llamaMetadata's entries). */
    record LlamaCase(String name, String arch, Consumer<java.util.Map<String, Consumer<GgufWriter>>> change, String expected) {
        @Override public String toString() { return name; }
    }

    static List<LlamaCase> llamaCases() {
        return List.of(
                new LlamaCase("missing rms eps", "llama", m -> m.remove("llama.attention.layer_norm_rms_epsilon"),
                        "missing metadata key llama.attention.layer_norm_rms_epsilon"),
                new LlamaCase("missing block count", "qwen3", m -> m.remove("qwen3.block_count"), "missing metadata key qwen3.block_count"),
                new LlamaCase("block count as a string", "llama", m -> m.put("llama.block_count", w -> w.string("llama.block_count", "1")),
                        "metadata llama.block_count is STRING, expected an integer"),
                new LlamaCase("eps as an integer", "qwen2", m -> m.put("qwen2.attention.layer_norm_rms_epsilon",
                        w -> w.u32("qwen2.attention.layer_norm_rms_epsilon", 1)), "qwen2.attention.layer_norm_rms_epsilon is UINT32, expected FLOAT32"),
                new LlamaCase("heads not a multiple of kv heads", "llama", m -> m.put("llama.attention.head_count_kv",
                        w -> w.u32("llama.attention.head_count_kv", 3)), "llama.attention.head_count 2 is not a multiple of llama.attention.head_count_kv 3"),
                new LlamaCase("no key_length and C not divisible", "llama", m -> {
                    m.remove("llama.attention.key_length");
                    m.put("llama.attention.head_count", w -> w.u32("llama.attention.head_count", 3));
                    m.put("llama.attention.head_count_kv", w -> w.u32("llama.attention.head_count_kv", 1));
                }, "llama.embedding_length 32 is not a multiple of llama.attention.head_count 3"),
                new LlamaCase("value length differs", "qwen3", m -> m.put("qwen3.attention.value_length",
                        w -> w.u32("qwen3.attention.value_length", 8)), "qwen3.attention.value_length 8 differs from the key length 16"),
                new LlamaCase("partial rotary", "llama", m -> m.put("llama.rope.dimension_count", w -> w.u32("llama.rope.dimension_count", 8)),
                        "llama.rope.dimension_count 8 is not the head size 16"),
                new LlamaCase("yarn rope scaling", "llama", m -> m.put("llama.rope.scaling.type", w -> w.string("llama.rope.scaling.type", "yarn")),
                        "llama.rope.scaling.type \"yarn\" is not supported"),
                new LlamaCase("linear scaling without a factor", "llama", m -> m.put("llama.rope.scaling.type",
                        w -> w.string("llama.rope.scaling.type", "linear")), "missing metadata key llama.rope.scaling.factor"),
                new LlamaCase("sliding window", "qwen2", m -> m.put("qwen2.attention.sliding_window", w -> w.u32("qwen2.attention.sliding_window", 4)),
                        "qwen2.attention.sliding_window is set"),
                new LlamaCase("rope_freqs that are not llama3's", "llama", m -> m.put("rope_freqs", w -> w.floats("rope_freqs.weight",
                        GgmlType.F32, new long[] {8}, new float[] {4, 3, 2, 1, 1, 1, 1, 1})), "tensor rope_freqs.weight does not hold llama3 rope scaling factors"),
                new LlamaCase("embedding length not the tensors'", "llama", m -> m.put("llama.embedding_length",
                        w -> w.u32("llama.embedding_length", 64)), "tensor token_embd.weight has dims [32, 264], expected [64, vocab]"),
                new LlamaCase("vocab_size not token_embd's", "qwen3", m -> m.put("qwen3.vocab_size", w -> w.u32("qwen3.vocab_size", 100)),
                        "qwen3.vocab_size 100 differs from token_embd.weight's 259 rows"),
                new LlamaCase("feed forward length not the tensors'", "qwen2", m -> m.put("qwen2.feed_forward_length",
                        w -> w.u32("qwen2.feed_forward_length", 64)), "tensor blk.0.ffn_gate.weight has dims [32, 32], expected [32, 64]"),
                new LlamaCase("an extra tensor", "qwen3", m -> m.put("extra", w -> w.floats("blk.0.attn_qkv.weight", GgmlType.F32,
                        new long[] {32}, new float[32])), "unexpected tensor blk.0.attn_qkv.weight"),
                new LlamaCase("unknown pre-tokenizer", "qwen2", m -> m.put("tokenizer.ggml.pre", w -> w.string("tokenizer.ggml.pre", "tekken")),
                        "tokenizer.ggml.pre \"tekken\" is not supported (supported: llama-bpe"),
                new LlamaCase("unknown tokenizer model", "qwen3", m -> m.put("tokenizer.ggml.model", w -> w.string("tokenizer.ggml.model", "bert")),
                        "tokenizer.ggml.model \"bert\" is not supported"),
                new LlamaCase("sentencepiece without scores", "llama", m -> m.remove("tokenizer.ggml.scores"), "missing metadata key tokenizer.ggml.scores"),
                new LlamaCase("token types of another length", "llama", m -> m.put("tokenizer.ggml.token_type",
                        w -> w.i32s("tokenizer.ggml.token_type", new int[] {1, 1})), "tokenizer.ggml.token_type has 2 entries for 264 tokens"),
                new LlamaCase("a token twice", "llama", m -> m.put("tokenizer.ggml.tokens", w -> w.strings("tokenizer.ggml.tokens",
                        java.util.Collections.nCopies(264, "a"))), "tokenizer.ggml.tokens has 'a' twice (ids 0 and 1)"),
                new LlamaCase("a merge without a space", "qwen2", m -> m.put("tokenizer.ggml.merges", w -> w.strings("tokenizer.ggml.merges",
                        List.of("ab"))), "tokenizer.ggml.merges[0] is not \"a b\": 'ab'"),
                new LlamaCase("add_bos_token without a bos id", "llama", m -> m.remove("tokenizer.ggml.bos_token_id"),
                        "tokenizer.ggml.add_bos_token is true but there is no tokenizer.ggml.bos_token_id"),
                new LlamaCase("bos id past the vocabulary", "llama", m -> m.put("tokenizer.ggml.bos_token_id",
                        w -> w.u32("tokenizer.ggml.bos_token_id", 5000)), "tokenizer.ggml.bos_token_id 5000 is not in 0..263"),
                new LlamaCase("unknown architecture", "llama", m -> m.put("general.architecture", w -> w.string("general.architecture", "gemma")),
                        "general.architecture \"gemma\" is not supported (supported: gpt2, llama, qwen2, qwen3)"));
    }

    @ParameterizedTest
    @MethodSource("llamaCases")
    void llamaMetadataIsRefusedWithOneLine(LlamaCase c, @org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        var metadata = GgufFuzzSeeds.llamaMetadata(c.arch(), c.arch().equals("llama"));
        c.change().accept(metadata);
        Path file = tmp.resolve("bad.gguf");
        GgufFuzzSeeds.llamaModel(c.arch(), metadata, GgmlType.F32).write(file);
        RuntimeException e = assertThrows(RuntimeException.class, () -> GgufModels.load(file, n -> { }));
        assertTrue(e instanceof ModelFormatException || e instanceof dev.kvdecode.runtime.tokenizer.TokenizerException, c.name() + ": " + e);
        String m = e.getMessage();
        assertFalse(m.contains("\n"), "one line: " + m);
        assertTrue(m.contains("bad.gguf"), c.name() + ": names the file: " + m);
        assertTrue(m.contains(c.expected()), () -> c.name() + ": expected '" + c.expected() + "' in: " + m);
    }

    /** The unchanged tiny models load, run through the Llama path and tokenize. */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"llama", "qwen2", "qwen3"})
    void theValidLlamaDefaultsLoad(String arch, @org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path file = tmp.resolve(arch + ".gguf");
        GgufFuzzSeeds.llamaModel(arch, GgufFuzzSeeds.llamaMetadata(arch, arch.equals("llama")), GgmlType.F32).write(file);
        var model = GgufModels.load(file, n -> { });
        assertEquals(arch.equals("llama") ? 264 : 259, model.config().vocabSize());
        assertEquals(arch.equals("qwen3"), model.config().attention().qkNorm());
        int[] ids = model.tokenizer().encode("ab a");
        assertEquals("ab a", model.tokenizer().decode(arch.equals("llama") ? Arrays.copyOfRange(ids, 1, ids.length) : ids));
        if (arch.equals("llama")) assertArrayEquals(new int[] {1, 262, 261, 262}, ids);   // <s> ▁a b ▁a: ▁a (score -262) merges before ab (-263)
    }

    @Test
    void aTruncatedRealFileNamesItself(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        byte[] real = Files.readAllBytes(FixtureLogits.dir("gguf-tiny").resolve("model-q4_k.gguf"));
        Path cut = tmp.resolve("cut.gguf");
        Files.write(cut, Arrays.copyOf(real, real.length / 2));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufFile.open(cut));
        assertTrue(e.getMessage().startsWith("cut.gguf: tensor "), e.getMessage());
        assertTrue(e.getMessage().contains("run past the end of the file"), e.getMessage());
    }

    /**
     * A cheap fuzz on every commit (the Jazzer target runs the same entry longer): random byte
     * changes and cuts of a real quantized file either parse, and then read every tensor, or are
     * refused with a one-line ModelFormatException; never another exception.
     */
    @Test
    void randomCorruptionsNeverEscapeAsOtherExceptions() throws Exception {
        byte[] real = Files.readAllBytes(FixtureLogits.dir("gguf-tiny").resolve("model-q4_k.gguf"));
        int headerBytes = 8000;   // the metadata and tensor infos lie in the first few KB
        SplittableRandom rnd = new SplittableRandom(20261207);
        int refused = 0;
        for (int i = 0; i < 600; i++) {
            byte[] b = real.clone();
            int flips = 1 + rnd.nextInt(4);
            for (int k = 0; k < flips; k++) {
                int at = rnd.nextInt(Math.min(headerBytes, b.length));
                b[at] = (byte) (rnd.nextBoolean() ? rnd.nextInt(256) : b[at] ^ (1 << rnd.nextInt(8)));
            }
            if (rnd.nextInt(8) == 0) b = Arrays.copyOf(b, rnd.nextInt(b.length));
            try {
                GgufFile f = GgufFile.parse(b);
                for (String t : f.tensors().keySet()) f.readFloats(t);
            } catch (ModelFormatException e) {
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
                refused++;
            }
        }
        assertTrue(refused > 100, "most corruptions are refused: " + refused);
    }
}
