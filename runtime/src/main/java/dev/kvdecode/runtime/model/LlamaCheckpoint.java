package dev.kvdecode.runtime.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvdecode.kernels.F32Matrix;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The weights of a Llama-family checkpoint (transformers' names: {@code model.embed_tokens},
 * {@code model.layers.N.self_attn.q_proj}, ... {@code lm_head}) from model.safetensors or from the
 * shards model.safetensors.index.json lists, F32, F16 or BF16. Every tensor the config calls for
 * must be present with the shape it implies (sizes in long, checked against the file before
 * anything is allocated); any other tensor is an error, except the rotary inv_freq buffers old
 * checkpoints carry and a tied head's redundant lm_head.weight.
 *
 * <p>nn.Linear stores W as [out, in]; the family's {@link LayerWeights} hold W [in, out], so each
 * projection is transposed as it is read, and q/k/v (and gate/up) are fused into one matrix
 * each, the layout the CPU forward runs one matmul over.
 */
final class LlamaCheckpoint implements AutoCloseable {
    private static final Pattern IGNORED = Pattern.compile("model\\.layers\\.\\d+\\.self_attn\\.rotary_emb\\.inv_freq");

    private final ModelConfig cfg;
    private final List<SafeTensors> files = new ArrayList<>();
    private final Map<String, SafeTensors> fileOf = new HashMap<>();   // tensor name -> its file

    private LlamaCheckpoint(ModelConfig cfg) { this.cfg = cfg; }

    static Gpt2Weights read(Path dir, ModelConfig cfg) {
        try (LlamaCheckpoint c = new LlamaCheckpoint(cfg)) {
            c.open(dir);
            c.validate();
            return c.readWeights();
        }
    }

    private void open(Path dir) {
        if (Files.isRegularFile(dir.resolve(ModelLoader.WEIGHTS_FILE))) {
            add(ModelLoader.requireFile(dir, ModelLoader.WEIGHTS_FILE), null);
            return;
        }
        if (!Files.isRegularFile(dir.resolve(ModelLoader.WEIGHTS_INDEX_FILE)))
            throw new ModelFormatException(ModelLoader.WEIGHTS_FILE + ": not found in " + dir + " (nor "
                    + ModelLoader.WEIGHTS_INDEX_FILE + ")" + (Files.exists(dir.resolve("pytorch_model.bin"))
                    ? " (pytorch_model.bin is not supported; convert it to safetensors)" : ""));
        String idx = ModelLoader.WEIGHTS_INDEX_FILE;
        JsonNode map = ModelLoader.readJson(dir.resolve(idx), idx).get("weight_map");
        if (map == null || !map.isObject() || map.isEmpty())
            throw new ModelFormatException(idx + ": missing or empty \"weight_map\"");
        Map<String, List<String>> byFile = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            JsonNode f = e.getValue();
            if (!f.isTextual() || !f.textValue().matches("[A-Za-z0-9._-]+\\.safetensors") || f.textValue().startsWith("."))
                throw new ModelFormatException(idx + ": weight_map entry " + e.getKey() + " names " + f
                        + ", not a .safetensors file name in the model directory");
            byFile.computeIfAbsent(f.textValue(), k -> new ArrayList<>()).add(e.getKey());
        }
        for (Map.Entry<String, List<String>> e : byFile.entrySet()) {
            Path shard = dir.resolve(e.getKey());
            if (!Files.isRegularFile(shard))
                throw new ModelFormatException(idx + ": shard " + e.getKey() + " not found in " + dir);
            SafeTensors st = add(shard, e.getValue());
            for (String name : e.getValue())
                if (!st.contains(name))
                    throw new ModelFormatException(e.getKey() + ": has no tensor " + name + " (" + idx + " says it does)");
        }
    }

    /** Maps one file; with {@code listed} (a shard), only the tensors the index assigns to it count. */
    private SafeTensors add(Path path, List<String> listed) {
        SafeTensors st = SafeTensors.open(path, n -> IGNORED.matcher(n).matches());
        files.add(st);
        for (String name : listed != null ? listed : List.copyOf(st.tensors().keySet())) {
            SafeTensors prev = fileOf.put(name, st);
            if (prev != null && prev != st)
                throw new ModelFormatException(st.fileName() + ": tensor " + name + " is also in " + prev.fileName());
        }
        return st;
    }

    /** Canonical (transformers) name -> expected shape, for every tensor the config calls for. */
    static Map<String, long[]> expectedShapes(ModelConfig cfg) {
        ModelConfig.Attention a = cfg.attention();
        long C = cfg.nEmbd(), V = cfg.vocabSize(), I = cfg.mlp().hidden(), HS = a.headSize();
        long q = (long) a.heads() * HS, kv = (long) a.kvHeads() * HS;
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new long[]{V, C});
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = "model.layers." + l + ".";
            m.put(p + "input_layernorm.weight", new long[]{C});
            m.put(p + "self_attn.q_proj.weight", new long[]{q, C});
            m.put(p + "self_attn.k_proj.weight", new long[]{kv, C});
            m.put(p + "self_attn.v_proj.weight", new long[]{kv, C});
            if (a.qkvBias()) {
                m.put(p + "self_attn.q_proj.bias", new long[]{q});
                m.put(p + "self_attn.k_proj.bias", new long[]{kv});
                m.put(p + "self_attn.v_proj.bias", new long[]{kv});
            }
            if (a.qkNorm()) {
                m.put(p + "self_attn.q_norm.weight", new long[]{HS});
                m.put(p + "self_attn.k_norm.weight", new long[]{HS});
            }
            m.put(p + "self_attn.o_proj.weight", new long[]{C, q});
            if (a.outBias()) m.put(p + "self_attn.o_proj.bias", new long[]{C});
            m.put(p + "post_attention_layernorm.weight", new long[]{C});
            m.put(p + "mlp.gate_proj.weight", new long[]{I, C});
            m.put(p + "mlp.up_proj.weight", new long[]{I, C});
            m.put(p + "mlp.down_proj.weight", new long[]{C, I});
            if (cfg.mlp().bias()) {
                m.put(p + "mlp.gate_proj.bias", new long[]{I});
                m.put(p + "mlp.up_proj.bias", new long[]{I});
                m.put(p + "mlp.down_proj.bias", new long[]{C});
            }
        }
        m.put("model.norm.weight", new long[]{C});
        if (!cfg.tiedHead()) m.put("lm_head.weight", new long[]{V, C});
        return m;
    }

    private void validate() {
        Map<String, long[]> want = expectedShapes(cfg);
        List<String> missing = new ArrayList<>();
        for (Map.Entry<String, long[]> e : want.entrySet()) {
            SafeTensors st = fileOf.get(e.getKey());
            if (st == null) {
                missing.add(e.getKey());
                continue;
            }
            SafeTensors.TensorInfo t = st.info(e.getKey());
            if (!java.util.Arrays.equals(t.shape(), e.getValue()))
                throw new ModelFormatException(st.fileName() + ": tensor " + t.name() + " has shape " + t.shapeString()
                        + ", expected " + SafeTensors.formatShape(e.getValue()) + " from " + ModelLoader.CONFIG_FILE);
            if (!t.dtype().readable)
                throw new ModelFormatException(st.fileName() + ": tensor " + t.name() + " has dtype " + t.dtype()
                        + "; kvdecode reads only F32, F16 and BF16");
        }
        if (!missing.isEmpty()) {
            String list = missing.size() <= 4 ? String.join(", ", missing)
                    : String.join(", ", missing.subList(0, 4)) + " and " + (missing.size() - 4) + " more";
            throw new ModelFormatException("missing tensor" + (missing.size() == 1 ? " " : "s ") + list
                    + " (required by " + ModelLoader.CONFIG_FILE + ", " + cfg.architecture() + ")");
        }
        for (Map.Entry<String, SafeTensors> e : fileOf.entrySet()) {
            String name = e.getKey();
            if (want.containsKey(name) || IGNORED.matcher(name).matches()) continue;
            if (cfg.tiedHead() && name.equals("lm_head.weight")) continue;
            throw new ModelFormatException(e.getValue().fileName() + ": unexpected tensor " + name + " (not part of the "
                    + cfg.architecture() + " that " + ModelLoader.CONFIG_FILE + " describes)");
        }
    }

    private Gpt2Weights readWeights() {
        long bytes = 0;
        long largest = 0;
        for (Map.Entry<String, long[]> e : expectedShapes(cfg).entrySet()) {
            long n = 1;
            for (long d : e.getValue()) n *= d;
            bytes += 4 * n;
            largest = Math.max(largest, n);
        }
        // transients: one fused matrix flat beside its parts (the largest is 2I x C or (NH+2NKV)HS x C)
        long transientBytes = 4L * Math.max((long) cfg.attention().qkvDim(), 2L * cfg.mlp().hidden()) * cfg.nEmbd() * 2 + 4 * largest;
        String what = cfg.architecture() + ": the fp32 weights";
        HeapTooSmallException.check(what, bytes + transientBytes);
        try {
            return readAll();
        } catch (OutOfMemoryError e) {
            throw HeapTooSmallException.of(what, bytes + transientBytes);
        }
    }

    private float[] read(String name) { return fileOf.get(name).readFloats(name); }

    private float[] readOrNull(String name, boolean present) { return present ? read(name) : null; }

    /** nn.Linear weights [out_i, in] stacked along out and transposed: W (in, sum out_i), packed. */
    private F32Matrix fused(int in, String... names) {
        float[][] parts = new float[names.length][];
        int out = 0;
        for (int i = 0; i < names.length; i++) {
            parts[i] = read(names[i]);
            out += parts[i].length / in;
        }
        float[] flat = new float[Math.multiplyExact(in, out)];
        int c0 = 0;
        for (float[] p : parts) {
            int o = p.length / in;
            for (int r = 0; r < o; r++)
                for (int i = 0; i < in; i++) flat[i * out + c0 + r] = p[r * in + i];
            c0 += o;
        }
        return F32Matrix.of(flat, in, out);
    }

    /** Biases of fused projections, concatenated; null when absent. */
    private float[] fusedBias(boolean present, String... names) {
        if (!present) return null;
        List<float[]> parts = new ArrayList<>();
        int n = 0;
        for (String name : names) {
            float[] p = read(name);
            parts.add(p);
            n += p.length;
        }
        float[] out = new float[n];
        int o = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }

    private Gpt2Weights readAll() {
        ModelConfig.Attention a = cfg.attention();
        int C = cfg.nEmbd(), I = cfg.mlp().hidden();
        boolean mb = cfg.mlp().bias();
        List<LayerWeights> layers = new ArrayList<>(cfg.nLayer());
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = "model.layers." + l + ".";
            String sa = p + "self_attn.", mlp = p + "mlp.";
            layers.add(new LayerWeights(
                    read(p + "input_layernorm.weight"), null,
                    fused(C, sa + "q_proj.weight", sa + "k_proj.weight", sa + "v_proj.weight"),
                    fusedBias(a.qkvBias(), sa + "q_proj.bias", sa + "k_proj.bias", sa + "v_proj.bias"),
                    fused(a.qDim(), sa + "o_proj.weight"), readOrNull(sa + "o_proj.bias", a.outBias()),
                    read(p + "post_attention_layernorm.weight"), null,
                    fused(C, mlp + "gate_proj.weight", mlp + "up_proj.weight"),
                    fusedBias(mb, mlp + "gate_proj.bias", mlp + "up_proj.bias"),
                    fused(I, mlp + "down_proj.weight"), readOrNull(mlp + "down_proj.bias", mb),
                    readOrNull(sa + "q_norm.weight", a.qkNorm()), readOrNull(sa + "k_norm.weight", a.qkNorm())));
        }
        float[] wte = read("model.embed_tokens.weight");
        float[] head = cfg.tiedHead() ? wte : read("lm_head.weight");
        return new Gpt2Weights(cfg, wte, null, List.copyOf(layers), read("model.norm.weight"), null, head, null, storedDtype());
    }

    private String storedDtype() {
        java.util.Set<SafeTensors.DType> seen = new java.util.HashSet<>();
        for (String name : expectedShapes(cfg).keySet()) seen.add(fileOf.get(name).info(name).dtype());
        return seen.size() == 1 ? seen.iterator().next().name() : "mixed";
    }

    @Override
    public void close() {
        for (SafeTensors f : files) f.close();
    }
}
