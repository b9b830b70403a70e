package dev.kvdecode.runtime.model.gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Writes a GGUF v3 file (layout in {@link GgufFile}): metadata, then tensor infos, then the data,
 * each tensor at a multiple of the alignment (32). Tensor bytes are produced one tensor at a time
 * ({@link #tensor(String, GgmlType, long[], Supplier)}), so a model is never held twice.
 * {@link #write(Path)} writes a temporary file beside the target and renames it into place, so a
 * failure leaves no partial output.
 */
public final class GgufWriter {
    static final long ALIGNMENT = 32;

    private record Kv(String key, int type, byte[] value) {}

    private record TensorEntry(String name, long[] dims, int typeId, long sizeBytes, Supplier<ByteBuffer> data) {}

    private final List<Kv> kvs = new ArrayList<>();
    private final List<TensorEntry> tensors = new ArrayList<>();

    private static ByteBuffer le(int bytes) { return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN); }

    private static byte[] str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return le(8 + b.length).putLong(b.length).put(b).array();
    }

    /** A metadata entry with its raw value bytes (type code as in the file). */
    GgufWriter raw(String key, int typeCode, byte[] value) {
        kvs.add(new Kv(key, typeCode, value));
        return this;
    }

    public GgufWriter string(String key, String value) { return raw(key, GgufFile.ValueType.STRING.ordinal(), str(value)); }

    public GgufWriter u32(String key, long value) {
        return raw(key, GgufFile.ValueType.UINT32.ordinal(), le(4).putInt((int) value).array());
    }

    public GgufWriter f32(String key, float value) {
        return raw(key, GgufFile.ValueType.FLOAT32.ordinal(), le(4).putFloat(value).array());
    }

    public GgufWriter strings(String key, List<String> values) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(le(12).putInt(GgufFile.ValueType.STRING.ordinal()).putLong(values.size()).array());
        for (String v : values) out.writeBytes(str(v));
        return raw(key, GgufFile.ValueType.ARRAY.ordinal(), out.toByteArray());
    }

    public GgufWriter i32s(String key, int[] values) {
        ByteBuffer b = le(12 + 4 * values.length).putInt(GgufFile.ValueType.INT32.ordinal()).putLong(values.length);
        for (int v : values) b.putInt(v);
        return raw(key, GgufFile.ValueType.ARRAY.ordinal(), b.array());
    }

    /** A tensor with its ggml dims (ne, innermost first); {@code data} is called once, when written. */
    public GgufWriter tensor(String name, GgmlType type, long[] dims, Supplier<ByteBuffer> data) {
        long n = 1;
        for (long d : dims) n = Math.multiplyExact(n, d);
        if (dims[0] % type.blockElements != 0) throw new IllegalArgumentException(name + ": ne[0] not a multiple of the block");
        tensors.add(new TensorEntry(name, dims.clone(), type.id, n / type.blockElements * type.blockBytes, data));
        return this;
    }

    /** fp32 values (storage order) as F32, or narrowed to F16 (round to nearest even). */
    public GgufWriter floats(String name, GgmlType type, long[] dims, float[] values) {
        if (type != GgmlType.F32 && type != GgmlType.F16) throw new IllegalArgumentException("F32 or F16, not " + type);
        return tensor(name, type, dims, () -> {
            ByteBuffer b = le(values.length * (type == GgmlType.F32 ? 4 : 2));
            for (float v : values) {
                if (type == GgmlType.F32) b.putFloat(v);
                else b.putShort(Float.floatToFloat16(v));
            }
            return b.flip();
        });
    }

    /** Writes the file atomically (temporary file + rename). */
    public void write(Path out) throws IOException {
        Path dir = out.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "." + out.getFileName() + ".", ".part");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                writeTo(Channels.newOutputStream(ch));
            }
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The whole file in memory (tests). */
    public byte[] toBytes() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            writeTo(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private void writeTo(OutputStream out) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        head.writeBytes(le(24).putInt(GgufFile.MAGIC).putInt(3).putLong(tensors.size()).putLong(kvs.size()).array());
        for (Kv kv : kvs) {
            head.writeBytes(str(kv.key()));
            head.writeBytes(le(4).putInt(kv.type()).array());
            head.writeBytes(kv.value());
        }
        long offset = 0;
        for (TensorEntry t : tensors) {
            head.writeBytes(str(t.name()));
            ByteBuffer b = le(4 + 8 * t.dims().length + 4 + 8).putInt(t.dims().length);
            for (long d : t.dims()) b.putLong(d);
            head.writeBytes(b.putInt(t.typeId()).putLong(offset).array());
            offset = align(offset + t.sizeBytes());
        }
        long pos = head.size();
        out.write(head.toByteArray());
        out.write(new byte[(int) (align(pos) - pos)]);
        for (TensorEntry t : tensors) {
            ByteBuffer data = t.data().get();
            if (data.remaining() != t.sizeBytes())
                throw new IllegalStateException(t.name() + ": " + data.remaining() + " bytes, expected " + t.sizeBytes());
            if (data.hasArray()) out.write(data.array(), data.arrayOffset() + data.position(), data.remaining());
            else {
                byte[] copy = new byte[data.remaining()];
                data.get(copy);
                out.write(copy);
            }
            out.write(new byte[(int) (align(t.sizeBytes()) - t.sizeBytes())]);
        }
        out.flush();
    }

    private static long align(long n) { return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT; }
}
