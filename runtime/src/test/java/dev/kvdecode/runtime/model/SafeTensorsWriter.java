package dev.kvdecode.runtime.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Test helper that writes safetensors files: well-formed ones (to rename or replace tensors of
 * the numpy-written fixtures) and raw ones with a hand-written header (to corrupt on purpose).
 * The reader is checked against files written by the Python {@code safetensors} package, so this
 * writer is not its only witness.
 */
public final class SafeTensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tensor to write: dtype name as in the format ("F32", "I64", ...), shape, raw LE bytes. */
    record Entry(String dtype, long[] shape, byte[] data) {}

    private final Map<String, Entry> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    SafeTensorsWriter put(String name, String dtype, long[] shape, byte[] data) {
        tensors.put(name, new Entry(dtype, shape, data));
        return this;
    }

    public SafeTensorsWriter putF32(String name, long[] shape, float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return put(name, "F32", shape, b.array());
    }

    public SafeTensorsWriter put16(String name, String dtype, long[] shape, int... bits) {
        ByteBuffer b = ByteBuffer.allocate(bits.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : bits) b.putShort((short) v);
        return put(name, dtype, shape, b.array());
    }

    SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Copies every tensor of an open file, renaming through {@code rename} (null drops the tensor). */
    SafeTensorsWriter copyFrom(SafeTensors st, java.util.function.UnaryOperator<String> rename) {
        for (SafeTensors.TensorInfo t : st.tensors().values()) {
            String n = rename.apply(t.name());
            if (n != null) put(n, t.dtype().name(), t.shape(), st.raw(t.name()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        }
        return this;
    }

    Entry remove(String name) { return tensors.remove(name); }

    /** Writes a well-formed file: offsets packed in insertion order, header padded to 8 bytes. */
    public void write(Path file) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (Map.Entry<String, Entry> e : tensors.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", e.getValue().dtype());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.getValue().shape()) shape.add(d);
            ArrayNode off = t.putArray("data_offsets");
            off.add(data.size());
            data.write(e.getValue().data());
            off.add(data.size());
        }
        writeRaw(file, JSON.writeValueAsString(header), data.toByteArray());
    }

    /** Writes the 8-byte length, the header text padded with spaces to a multiple of 8, and the data. */
    static void writeRaw(Path file, String headerJson, byte[] data) throws IOException {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded);
        b.put(h);
        for (int i = h.length; i < padded; i++) b.put((byte) ' ');
        b.put(data);
        Files.write(file, b.array());
    }

    /** Writes exactly the given header length field, header bytes and data (no padding, no checks). */
    static void writeRaw(Path file, long headerLength, String headerText, byte[] data) throws IOException {
        byte[] h = headerText.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength);
        b.put(h);
        b.put(data);
        Files.write(file, b.array());
    }
}
